// agentcost-exporter: tracks the cost of AI agents' heartbeat cycles and exposes it to Prometheus.

import AgentCostLog
import AgentCostServer
import AgentCostSystem

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
    raiseOpenFileLimit(for: configuration, logger: logger)

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

/// Every ingest connection holds a file descriptor: raise the soft limit to the hard one and log what is in effect.
func raiseOpenFileLimit(for configuration: ExporterConfiguration, logger: Logger) {
    let limits: ProcessLimits.OpenFiles
    do {
        limits = try ProcessLimits.raiseOpenFileLimit()
    } catch {
        logger.warn("cannot raise the open file limit", ["err": error])
        return
    }
    logger.info("open file limit", ["soft": limits.soft, "hard": limits.hard])
    // Besides connections: the write-ahead log, snapshots, epoll and eventfd descriptors, HTTP connections.
    let needed = UInt64(configuration.ingestMaxConnections) + UInt64(configuration.webServer.maxConnections) + 64
    if limits.soft < needed {
        logger.warn(
            "the open file limit is below what --ingest.max-connections and --web.max-connections need; accepting "
                + "pauses when it is reached; raise the hard limit (LimitNOFILE=, ulimit -Hn)",
            ["limit": limits.soft, "needed": needed])
    }
}
