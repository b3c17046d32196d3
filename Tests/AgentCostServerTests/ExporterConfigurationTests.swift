import AgentCostLog
import AgentCostSystem
import AgentCostWire
import Synchronization
import Testing

@testable import AgentCostServer

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Exporter configuration")
struct ExporterConfigurationTests {
    @Test("the embedded defaults listen on loopback and keep data under ./data")
    func defaults() throws {
        let configuration = try runConfiguration([], [:])
        #expect(configuration.webListenAddress.description == "127.0.0.1:9470")
        #expect(configuration.ingestListenAddress.description == "127.0.0.1:9471")
        #expect(configuration.dataDirectory == "data")
        #expect(configuration.tracker.anomalyMultiplier == 2.0)
        #expect(configuration.tracker.retainedCycles == 20)
    }

    @Test("the ingest listener runs one loop per online processor unless --ingest.loops says otherwise")
    func ingestLoopsDefault() throws {
        let online = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        #expect(online >= 1)
        #expect(try runConfiguration([], [:]).ingestLoops == online)
        #expect(try runConfiguration([], [:]).makeIngestConfiguration().loopCount == online)
        #expect(try runConfiguration(["--ingest.loops=3"], [:]).ingestLoops == 3)
        #expect(ExporterConfiguration.usage(program: "x").contains("the default is the number of online processors"))
    }

    @Test("the three wire limits are flags, and environment variables")
    func wireLimitFlags() throws {
        let configuration = try runConfiguration(
            ["--ingest.max-frame-size=1MiB", "--ingest.max-inflated-size=16MiB"],
            ["AGENTCOST_INGEST_MAX_DECODED_SIZE": "96MiB"])
        let limits = try configuration.makeIngestConfiguration().limits
        #expect(limits == WireLimits(maxFrameSize: 1 << 20, maxInflatedSize: 16 << 20, maxDecodedSize: 96 << 20))
        #expect(ExporterConfiguration.usage(program: "x").contains("--ingest.max-decoded-size=256MiB"))
    }

    @Test("flags take both --name=value and --name value forms")
    func flagForms() throws {
        let configuration = try runConfiguration(
            ["--data.dir=/var/lib/agentcost", "--ingest.listen-address", "[::1]:7000", "--tracker.rolling-window=5"],
            [:]
        )
        #expect(configuration.dataDirectory == "/var/lib/agentcost")
        #expect(configuration.ingestListenAddress == ListenAddress(host: "::1", port: 7000))
        #expect(configuration.ingestListenAddress.description == "[::1]:7000")
        #expect(configuration.tracker.rollingWindow == 5)
    }

    @Test("environment variables set flags, and flags beat them")
    func environment() throws {
        let environment = ["AGENTCOST_DATA_DIR": "/from-env", "AGENTCOST_TRACKER_ANOMALY_MULTIPLIER": "3.5"]
        let fromEnvironment = try runConfiguration([], environment)
        #expect(fromEnvironment.dataDirectory == "/from-env")
        #expect(fromEnvironment.tracker.anomalyMultiplier == 3.5)

        let overridden = try runConfiguration(["--data.dir=/from-flag"], environment)
        #expect(overridden.dataDirectory == "/from-flag")
    }

    @Test(
        "bad flags are refused with a message naming them",
        arguments: [
            (["--nope=1"], "unknown flag --nope"),
            (["--web.listen-address=localhost"], "--web.listen-address=localhost is not host:port"),
            (["--web.listen-address=127.0.0.1:99999"], "is not host:port with a port from 0 to 65535"),
            (["--tracker.rolling-window=ten"], "--tracker.rolling-window=ten is not a whole number"),
            (["--tracker.anomaly-multiplier=0.5"], "anomaly multiplier 0.5"),
            (["--log.level=loud"], "--log.level=loud"),
            (["--data.dir"], "needs a value"),
            (["stray"], "unexpected argument \"stray\""),
        ]
    )
    func badFlags(arguments: [String], expectedMessage: String) {
        let error = #expect(throws: ConfigurationError.self) {
            try ExporterConfiguration.parse(arguments: arguments, environment: [:])
        }
        #expect(error?.message.contains(expectedMessage) == true, "got: \(error?.message ?? "nothing")")
    }

    @Test("a bad environment variable is named")
    func badEnvironment() {
        let error = #expect(throws: ConfigurationError.self) {
            try ExporterConfiguration.parse(arguments: [], environment: ["AGENTCOST_TRACKER_MIN_HISTORY": "x"])
        }
        #expect(error?.message.hasPrefix("AGENTCOST_TRACKER_MIN_HISTORY:") == true)
    }

    @Test("--help lists every flag with its environment variable")
    func help() throws {
        #expect(try ExporterConfiguration.parse(arguments: ["--help"], environment: [:]) == .help)
        let usage = ExporterConfiguration.usage(program: "agentcost-exporter")
        for (name, _) in ExporterConfiguration().effectiveSettings {
            #expect(usage.contains("--\(name)="))
        }
        #expect(usage.contains("AGENTCOST_WEB_LISTEN_ADDRESS"))
    }

    private func runConfiguration(_ arguments: [String], _ environment: [String: String]) throws
        -> ExporterConfiguration
    {
        guard
            case .run(let configuration) = try ExporterConfiguration.parse(
                arguments: arguments, environment: environment)
        else {
            Issue.record("expected settings to run with")
            return ExporterConfiguration()
        }
        return configuration
    }
}

@Suite("Logger")
struct LoggerTests {
    @Test("lines are logfmt, with values quoted and escaped where needed")
    func logfmt() {
        let lines = LineCollector()
        let logger = Logger(component: "ingest", level: .info, sink: lines.sink)
        logger.debug("hidden")
        logger.info("frame rejected", ["peer": "127.0.0.1:5000", "reason": "bad \"crc\"\nnext", "count": 3])

        let line = try? #require(lines.lines.first)
        #expect(lines.lines.count == 1)
        #expect(line?.hasPrefix("ts=") == true)
        #expect(
            line?.hasSuffix(
                #"level=info component=ingest msg="frame rejected" peer=127.0.0.1:5000 "#
                    + #"reason="bad \"crc\"\nnext" count=3"#
            ) == true
        )
    }
}

final class LineCollector: Sendable {
    private let storage = Mutex<[String]>([])
    var lines: [String] { storage.withLock { $0 } }
    var sink: Logger.Sink { { line in self.storage.withLock { $0.append(line) } } }
}
