// agentcost-exporter: tracks the cost of AI agents' heartbeat cycles and exposes it to Prometheus.

import AgentCostLog
import AgentCostServer

#if canImport(Glibc)
    import Glibc
#endif

ShutdownSignal.block()

let command: ExporterConfiguration.Command
do {
    command = try ExporterConfiguration.parse(
        arguments: Array(CommandLine.arguments.dropFirst()),
        environment: processEnvironment()
    )
} catch {
    Logger(component: "exporter").error("invalid configuration", ["err": error.message])
    exit(2)
}

switch command {
case .help:
    print(ExporterConfiguration.usage(program: "agentcost-exporter"), terminator: "")
    exit(0)
case .version:
    print("agentcost-exporter \(BuildInfo.version)")
    exit(0)
case .run(let configuration):
    let logger = Logger(component: "exporter", level: Logger.Level(name: configuration.logLevel) ?? .info)
    logger.info("starting agentcost-exporter", ["version": BuildInfo.version])
    for (name, value) in configuration.effectiveSettings {
        logger.info("effective setting", ["flag": name, "value": value])
    }

    let exporter: Exporter
    do {
        exporter = try Exporter(configuration: configuration, logger: logger)
    } catch {
        logger.error("invalid configuration", ["err": error.message])
        exit(2)
    }
    logger.info("tracker ready", ["agents": exporter.tracker.agentCount])

    do {
        try exporter.start()
    } catch {
        logger.error("cannot start", ["err": error.message])
        exit(1)
    }

    let signal = ShutdownSignal.wait()
    logger.info("shutting down", ["signal": signal])
    exporter.stop()
    logger.info("stopped")
    exit(0)
}

func processEnvironment() -> [String: String] {
    var result: [String: String] = [:]
    var entry = environ
    while let pointer = entry.pointee {
        let pair = String(cString: pointer)
        if let equals = pair.firstIndex(of: "=") {
            result[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
        }
        entry += 1
    }
    return result
}
