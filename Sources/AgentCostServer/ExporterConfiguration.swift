import AgentCostCore

/// The exporter's effective settings, from Prometheus-style flags (`--ingest.listen-address=…`), each of which can
/// also be set by an environment variable (`AGENTCOST_INGEST_LISTEN_ADDRESS`). A flag beats its variable; both beat
/// the embedded default. The defaults listen on loopback only and keep data under `./data`.
public struct ExporterConfiguration: Sendable, Equatable {
    public var webListenAddress = ListenAddress(host: "127.0.0.1", port: 9470)
    public var ingestListenAddress = ListenAddress(host: "127.0.0.1", port: 9471)
    public var dataDirectory = "data"
    public var logLevel = "info"
    public var tracker = TrackerConfiguration()

    public init() {}

    /// Every flag, in the order `--help` lists them.
    static let flags: [Flag] = [
        Flag("web.listen-address", "Address on which to expose metrics and the operator API.") {
            $0.webListenAddress = try ListenAddress(parsing: $1, flag: "web.listen-address")
        } current: {
            "\($0.webListenAddress)"
        },
        Flag("ingest.listen-address", "TCP address on which to accept spend batches from agent fleets.") {
            $0.ingestListenAddress = try ListenAddress(parsing: $1, flag: "ingest.listen-address")
        } current: {
            "\($0.ingestListenAddress)"
        },
        Flag("data.dir", "Directory for the write-ahead log and snapshots.") {
            guard !$1.isEmpty else { throw ConfigurationError("--data.dir is empty; give a directory path") }
            $0.dataDirectory = $1
        } current: {
            $0.dataDirectory
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

    private static func parseInteger(_ text: String, flag: String) throws(ConfigurationError) -> Int {
        guard let value = Int(text) else {
            throw ConfigurationError("--\(flag)=\(text) is not a whole number")
        }
        return value
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

/// A `host:port` to listen on. IPv6 hosts are written in brackets: `[::1]:9470`.
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    init(parsing text: String, flag: String) throws(ConfigurationError) {
        guard let colon = text.lastIndex(of: ":") else {
            throw ConfigurationError("--\(flag)=\(text) has no port; write host:port, e.g. 127.0.0.1:9470")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") {
            host = String(host.dropFirst().dropLast())
        }
        guard let port = UInt16(text[text.index(after: colon)...]) else {
            throw ConfigurationError("--\(flag)=\(text) has an invalid port; use a number from 0 to 65535")
        }
        self.host = host.isEmpty ? "0.0.0.0" : host
        self.port = port
    }

    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
