import AgentCostCore
import AgentCostHTTP
import AgentCostLog
import AgentCostStore
import AgentCostSystem
import AgentCostWebhooks
import AgentCostWire

/// The exporter's effective settings, from Prometheus-style flags (`--ingest.listen-address=…`), each of which can
/// also be set by an environment variable (`AGENTCOST_INGEST_LISTEN_ADDRESS`). A flag beats its variable; both beat
/// the embedded default. The defaults listen on loopback only and keep data under `./data`.
public struct ExporterConfiguration: Sendable, Equatable {
    public var webListenAddress = ListenAddress(host: "127.0.0.1", port: 9470)
    public var ingestListenAddress = ListenAddress(host: "127.0.0.1", port: 9471)
    public var dataDirectory = "data"
    public var logLevel = "info"
    public var tracker = TrackerConfiguration()
    public var maximumGoals = 10_000
    public var walSync = WriteAheadLog.SyncPolicy.group
    public var snapshotIntervalSeconds = 300.0
    public var snapshotRecords = 1_000_000
    public var webServer = HTTPServerConfiguration()
    /// A file holding the bearer token that mutating operator API calls must present.
    public var webAPITokenFile: String?
    /// One ingest loop per online processor unless set.
    public var ingestLoops = min(256, ProcessLimits.onlineProcessorCount())
    public var ingestMaxConnections = 10_000
    public var ingestIdleTimeoutSeconds = 300.0
    public var ingestFrameTimeoutSeconds = 30.0
    public var ingestLimits = WireLimits.default
    /// A file whose contents (trimmed) every ingest connection must present in its hello frame.
    public var ingestTokenFile: String?
    /// A JSON file listing webhook targets (docs/webhooks.md).
    public var webhookConfigFile: String?
    /// The base URL of an orchestrator to call when an agent pauses (one more target, named `orchestrator`).
    public var webhookOrchestratorURL: String?
    /// A file holding the whole `Authorization` header value for the orchestrator, e.g. `Bearer <key>`.
    public var webhookOrchestratorAuthorizationFile: String?

    public init() {}

    /// The webhook targets from `--webhook.config-file` and `--webhook.orchestrator-url`; nil when neither is set.
    ///
    /// - Throws: `ConfigurationError` naming the file or flag whose value cannot be used.
    public func makeWebhookConfiguration() throws(ConfigurationError) -> WebhookConfiguration? {
        guard webhookConfigFile != nil || webhookOrchestratorURL != nil else {
            if webhookOrchestratorAuthorizationFile != nil {
                throw ConfigurationError(
                    "--webhook.orchestrator-authorization-file needs --webhook.orchestrator-url; set the URL too")
            }
            return nil
        }
        do throws(WebhookError) {
            var configuration = WebhookConfiguration(targets: [])
            if let webhookConfigFile {
                configuration = try WebhookConfiguration.load(file: webhookConfigFile)
            }
            if let webhookOrchestratorURL {
                var target = WebhookTarget(name: "orchestrator", kind: .orchestrator, url: webhookOrchestratorURL)
                if let webhookOrchestratorAuthorizationFile {
                    target.authorization = try WebhookConfiguration.readSecret(
                        file: webhookOrchestratorAuthorizationFile, "--webhook.orchestrator-authorization-file")
                }
                configuration.targets.append(target)
            }
            try configuration.validate()
            return configuration
        } catch {
            throw ConfigurationError(error.message)
        }
    }

    /// The operator API's bearer token, from `--web.api-token-file`; nil when none is set.
    ///
    /// - Throws: `ConfigurationError` naming the file when it cannot be read or is empty.
    public func readAPIToken() throws(ConfigurationError) -> String? {
        guard let webAPITokenFile else { return nil }
        return try Self.readToken(webAPITokenFile, flag: "web.api-token-file")
    }

    /// Reads a token file: its contents without surrounding whitespace, which must not be empty.
    static func readToken(_ path: String, flag: String) throws(ConfigurationError) -> String {
        let text: String
        do {
            text = try readTextFile(path)
        } catch {
            throw ConfigurationError("--\(flag)=\(path) cannot be read: \(error)")
        }
        let trimmed = String(text.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
        guard !trimmed.isEmpty else {
            throw ConfigurationError("--\(flag)=\(path) is empty; put the shared token in it")
        }
        return trimmed
    }

    /// The ingest listener's settings; reads the token file when one is set.
    ///
    /// - Throws: `ConfigurationError` naming the token file when it cannot be read or is empty.
    public func makeIngestConfiguration() throws(ConfigurationError) -> IngestConfiguration {
        var ingest = IngestConfiguration(listenAddress: ingestListenAddress, loopCount: ingestLoops)
        ingest.maxConnections = ingestMaxConnections
        ingest.idleTimeoutSeconds = ingestIdleTimeoutSeconds
        ingest.frameTimeoutSeconds = ingestFrameTimeoutSeconds
        ingest.limits = ingestLimits
        if let ingestTokenFile {
            ingest.token = try Self.readToken(ingestTokenFile, flag: "ingest.token-file")
        }
        return ingest
    }

    /// Every flag, in the order `--help` lists them.
    static let flags: [Flag] = [
        Flag("web.listen-address", "Address on which to expose metrics and the operator API.") {
            $0.webListenAddress = try parseAddress($1, flag: "web.listen-address")
        } current: {
            "\($0.webListenAddress)"
        },
        Flag("web.max-connections", "HTTP connections served at once; more wait in the listen backlog.") {
            $0.webServer.maxConnections = try parseInteger($1, flag: "web.max-connections", in: 2...100_000)
        } current: {
            "\($0.webServer.maxConnections)"
        },
        Flag("web.timeout", "Close an HTTP connection idle for this long (slow clients included).") {
            $0.webServer.connectionTimeoutSeconds = Int(try parseDuration($1, flag: "web.timeout").rounded(.up))
        } current: {
            formatDuration(Double($0.webServer.connectionTimeoutSeconds))
        },
        Flag("web.max-request-size", "Largest HTTP request body accepted (bytes, or with KiB/MiB).") {
            $0.webServer.maxBodyBytes = try parseSize($1, flag: "web.max-request-size")
        } current: {
            formatSize($0.webServer.maxBodyBytes)
        },
        Flag("web.api-token-file", "File holding the bearer token that mutating operator API calls must send.") {
            $0.webAPITokenFile = $1.isEmpty ? nil : $1
        } current: {
            $0.webAPITokenFile ?? ""
        },
        Flag("ingest.listen-address", "TCP address on which to accept spend batches from agent fleets.") {
            $0.ingestListenAddress = try parseAddress($1, flag: "ingest.listen-address")
        } current: {
            "\($0.ingestListenAddress)"
        },
        Flag(
            "ingest.loops",
            "Event loop threads of the ingest listener (each decodes and applies in parallel); "
                + "the default is the number of online processors."
        ) {
            $0.ingestLoops = try parseInteger($1, flag: "ingest.loops", in: 1...256)
        } current: {
            "\($0.ingestLoops)"
        },
        Flag("ingest.max-connections", "Ingest connections beyond this are closed at once and counted.") {
            $0.ingestMaxConnections = try parseInteger($1, flag: "ingest.max-connections", in: 1...1_000_000)
        } current: {
            "\($0.ingestMaxConnections)"
        },
        Flag("ingest.idle-timeout", "Close an ingest connection that sends nothing for this long.") {
            $0.ingestIdleTimeoutSeconds = try parseDuration($1, flag: "ingest.idle-timeout")
        } current: {
            formatDuration($0.ingestIdleTimeoutSeconds)
        },
        Flag("ingest.frame-timeout", "Close an ingest connection that takes longer than this to send one frame.") {
            $0.ingestFrameTimeoutSeconds = try parseDuration($1, flag: "ingest.frame-timeout")
        } current: {
            formatDuration($0.ingestFrameTimeoutSeconds)
        },
        Flag("ingest.max-frame-size", "Largest frame payload accepted, as sent (bytes, or with KiB/MiB/GiB).") {
            $0.ingestLimits.maxFrameSize = try parseSize($1, flag: "ingest.max-frame-size")
        } current: {
            formatSize($0.ingestLimits.maxFrameSize)
        },
        Flag("ingest.max-inflated-size", "Largest size a compressed payload may inflate to (stops zip bombs).") {
            $0.ingestLimits.maxInflatedSize = try parseSize($1, flag: "ingest.max-inflated-size")
        } current: {
            formatSize($0.ingestLimits.maxInflatedSize)
        },
        Flag(
            "ingest.max-decoded-size",
            "Most memory one batch may take once unpacked (bounds degenerate batches of many empty events)."
        ) {
            $0.ingestLimits.maxDecodedSize = try parseSize($1, flag: "ingest.max-decoded-size")
        } current: {
            formatSize($0.ingestLimits.maxDecodedSize)
        },
        Flag("ingest.token-file", "File holding a token every ingest connection must send in its hello frame.") {
            $0.ingestTokenFile = $1.isEmpty ? nil : $1
        } current: {
            $0.ingestTokenFile ?? ""
        },
        Flag("webhook.config-file", "JSON file listing webhook targets: orchestrator, generic, alertmanager.") {
            $0.webhookConfigFile = $1.isEmpty ? nil : $1
        } current: {
            $0.webhookConfigFile ?? ""
        },
        Flag("webhook.orchestrator-url", "Orchestrator base URL to call on pause: POST {url}/api/agents/{id}/pause.") {
            guard $1.isEmpty || $1.hasPrefix("http://") || $1.hasPrefix("https://") else {
                throw ConfigurationError(
                    "--webhook.orchestrator-url=\($1) must start with http:// or https://, e.g. http://127.0.0.1:3100")
            }
            $0.webhookOrchestratorURL = $1.isEmpty ? nil : $1
        } current: {
            $0.webhookOrchestratorURL ?? ""
        },
        Flag(
            "webhook.orchestrator-authorization-file",
            "File holding the orchestrator's whole Authorization header value, e.g. \"Bearer <key>\"."
        ) {
            $0.webhookOrchestratorAuthorizationFile = $1.isEmpty ? nil : $1
        } current: {
            $0.webhookOrchestratorAuthorizationFile ?? ""
        },
        Flag("data.dir", "Directory for the write-ahead log, snapshots and the webhook outbox.") {
            guard !$1.isEmpty else { throw ConfigurationError("--data.dir is empty; give a directory path") }
            $0.dataDirectory = $1
        } current: {
            $0.dataDirectory
        },
        Flag("storage.wal-sync", "When an ingest ack waits for the disk: group (fdatasync per group) or off.") {
            guard let policy = WriteAheadLog.SyncPolicy(rawValue: $1) else {
                throw ConfigurationError("--storage.wal-sync=\($1) is not one of group, off")
            }
            $0.walSync = policy
        } current: {
            $0.walSync.rawValue
        },
        Flag("storage.snapshot-interval", "Write a snapshot (and trim the write-ahead log) this often.") {
            $0.snapshotIntervalSeconds = try parseDuration($1, flag: "storage.snapshot-interval")
        } current: {
            formatDuration($0.snapshotIntervalSeconds)
        },
        Flag("storage.snapshot-records", "Also write a snapshot after this many logged batches.") {
            $0.snapshotRecords = try parseInteger($1, flag: "storage.snapshot-records", in: 1...1_000_000_000)
        } current: {
            "\($0.snapshotRecords)"
        },
        Flag("log.level", "Only log messages with the given severity or above: debug, info, warn, error.") {
            guard ["debug", "info", "warn", "error"].contains($1) else {
                throw ConfigurationError("--log.level=\($1) is not one of debug, info, warn, error")
            }
            $0.logLevel = $1
        } current: {
            $0.logLevel
        },
        Flag("tracker.anomaly-multiplier", "A cycle costing more than this times the rolling average is an anomaly.") {
            $0.tracker.anomalyMultiplier = try parseNumber($1, flag: "tracker.anomaly-multiplier")
        } current: {
            "\($0.tracker.anomalyMultiplier)"
        },
        Flag("tracker.rolling-window", "Number of recent normal cycles whose mean is the rolling average.") {
            $0.tracker.rollingWindow = try parseInteger($1, flag: "tracker.rolling-window")
        } current: {
            "\($0.tracker.rollingWindow)"
        },
        Flag("tracker.min-history", "Normal cycles needed before a cycle can be judged an anomaly.") {
            $0.tracker.minimumHistory = try parseInteger($1, flag: "tracker.min-history")
        } current: {
            "\($0.tracker.minimumHistory)"
        },
        Flag("tracker.retained-cycles", "Completed cycles kept per agent for the cycle history.") {
            $0.tracker.retainedCycles = try parseInteger($1, flag: "tracker.retained-cycles")
        } current: {
            "\($0.tracker.retainedCycles)"
        },
        Flag("tracker.max-agents", "Cardinality guard: events that would track more agents than this are rejected.") {
            $0.tracker.maximumAgents = try parseInteger($1, flag: "tracker.max-agents", in: 1...100_000_000)
        } current: {
            "\($0.tracker.maximumAgents)"
        },
        Flag("tracker.max-goals", "Cardinality guard: events that would track more goals than this are rejected.") {
            $0.maximumGoals = try parseInteger($1, flag: "tracker.max-goals", in: 1...10_000_000)
        } current: {
            "\($0.maximumGoals)"
        },
        Flag("tracker.warning-ratio", "Default share of a budget at which a budget warning fires.") {
            $0.tracker.defaultWarningRatio = try parseNumber($1, flag: "tracker.warning-ratio")
        } current: {
            "\($0.tracker.defaultWarningRatio)"
        },
    ]

    /// What `parse` found: settings to run with, or a request for help or the version.
    public enum Command: Equatable, Sendable {
        case run(ExporterConfiguration)
        case help
        case version
    }

    /// Reads flags and environment variables.
    ///
    /// - Parameters:
    ///   - arguments: the command line without the program name.
    ///   - environment: the process environment.
    /// - Throws: `ConfigurationError` naming the unknown flag or the bad value and what is expected.
    public static func parse(arguments: [String], environment: [String: String]) throws(ConfigurationError) -> Command {
        var configuration = ExporterConfiguration()

        // Environment first, so that flags override it.
        for flag in flags {
            if let value = environment[flag.environmentVariable] {
                try flag.apply(&configuration, value, source: flag.environmentVariable)
            }
        }

        var remaining = arguments[...]
        while let argument = remaining.popFirst() {
            if argument == "-h" || argument == "--help" { return .help }
            if argument == "--version" { return .version }
            guard argument.hasPrefix("--") else {
                throw ConfigurationError(
                    "unexpected argument \"\(argument)\"; flags look like --name=value, see --help")
            }

            let body = argument.dropFirst(2)
            let name: Substring
            let value: String
            if let equals = body.firstIndex(of: "=") {
                name = body[..<equals]
                value = String(body[body.index(after: equals)...])
            } else {
                name = body
                guard let next = remaining.popFirst() else {
                    throw ConfigurationError("flag --\(name) needs a value, e.g. --\(name)=VALUE")
                }
                value = next
            }

            guard let flag = flags.first(where: { $0.name == name }) else {
                throw ConfigurationError("unknown flag --\(name); run with --help to list the flags")
            }
            try flag.apply(&configuration, value)
        }

        do {
            try configuration.tracker.validate()
        } catch {
            throw ConfigurationError(error.message)
        }
        return .run(configuration)
    }

    /// The settings as `name=value` pairs, for the start-up log line.
    public var effectiveSettings: [(String, String)] {
        Self.flags.map { ($0.name, $0.current(self)) }
    }

    /// The `--help` text.
    public static func usage(program: String) -> String {
        var text = "usage: \(program) [flags]\n\nFlags (each also settable by the environment variable shown):\n"
        let defaults = ExporterConfiguration()
        for flag in flags {
            text +=
                "  --\(flag.name)=\(flag.current(defaults))\n      \(flag.help)\n"
                + "      env: \(flag.environmentVariable)\n"
        }
        text += "  -h, --help\n      Show this help.\n  --version\n      Show the version.\n"
        return text
    }

    private static func parseNumber(_ text: String, flag: String) throws(ConfigurationError) -> Double {
        guard let value = Double(text), value.isFinite else {
            throw ConfigurationError("--\(flag)=\(text) is not a number")
        }
        return value
    }

    private static func parseInteger(_ text: String, flag: String, in range: ClosedRange<Int>? = nil)
        throws(ConfigurationError) -> Int
    {
        guard let value = Int(text) else {
            throw ConfigurationError("--\(flag)=\(text) is not a whole number")
        }
        if let range, !range.contains(value) {
            throw ConfigurationError("--\(flag)=\(text) is outside \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    private static func parseAddress(_ text: String, flag: String) throws(ConfigurationError) -> ListenAddress {
        guard let address = ListenAddress(parsing: text) else {
            throw ConfigurationError(
                "--\(flag)=\(text) is not host:port with a port from 0 to 65535, e.g. 127.0.0.1:9470 or [::1]:9470"
            )
        }
        return address
    }

    /// `500ms`, `30s`, `5m`, `1h`, as Prometheus writes durations.
    static func parseDuration(_ text: String, flag: String) throws(ConfigurationError) -> Double {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            if let value = Double(text.dropLast(suffix.count)), value.isFinite, value > 0 {
                return value * scale
            }
        }
        throw ConfigurationError("--\(flag)=\(text) is not a positive duration such as 500ms, 30s, 5m or 1h")
    }

    static func formatDuration(_ seconds: Double) -> String {
        if seconds >= 3600, seconds.truncatingRemainder(dividingBy: 3600) == 0 { return "\(Int(seconds / 3600))h" }
        if seconds >= 60, seconds.truncatingRemainder(dividingBy: 60) == 0 { return "\(Int(seconds / 60))m" }
        if seconds >= 1, seconds.truncatingRemainder(dividingBy: 1) == 0 { return "\(Int(seconds))s" }
        return "\(Int((seconds * 1000).rounded()))ms"
    }

    /// A byte count, optionally with a KiB, MiB or GiB suffix.
    static func parseSize(_ text: String, flag: String) throws(ConfigurationError) -> Int {
        let units: [(String, Int)] = [("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("", 1)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            if let value = Int(text.dropLast(suffix.count)), value > 0, value <= Int(UInt32.max) / scale {
                return value * scale
            }
        }
        throw ConfigurationError("--\(flag)=\(text) is not a size such as 65536, 512KiB or 4MiB (at most 4GiB)")
    }

    static func formatSize(_ bytes: Int) -> String {
        for (suffix, scale) in [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] where bytes % scale == 0 {
            return "\(bytes / scale)\(suffix)"
        }
        return "\(bytes)"
    }
}

/// One command-line flag: how it is named, documented, applied and shown.
struct Flag: Sendable {
    let name: String
    let help: String
    private let applyValue: @Sendable (inout ExporterConfiguration, String) throws -> Void
    let current: @Sendable (ExporterConfiguration) -> String

    init(
        _ name: String,
        _ help: String,
        apply: @escaping @Sendable (inout ExporterConfiguration, String) throws -> Void,
        current: @escaping @Sendable (ExporterConfiguration) -> String
    ) {
        self.name = name
        self.help = help
        self.applyValue = apply
        self.current = current
    }

    /// Sets the flag's value in `configuration`.
    ///
    /// - Parameter source: where the value came from, when not the command line, for the error message.
    func apply(_ configuration: inout ExporterConfiguration, _ value: String, source: String? = nil)
        throws(ConfigurationError)
    {
        do {
            try applyValue(&configuration, value)
        } catch {
            let message = (error as? ConfigurationError)?.message ?? "--\(name)=\(value): \(error)"
            throw ConfigurationError(source.map { "\($0): \(message)" } ?? message)
        }
    }

    /// `web.listen-address` → `AGENTCOST_WEB_LISTEN_ADDRESS`
    var environmentVariable: String {
        "AGENTCOST_" + String(name.uppercased().map { $0 == "." || $0 == "-" ? "_" : $0 })
    }
}

/// A bad flag or environment variable, with a message that names it and says what is expected.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
