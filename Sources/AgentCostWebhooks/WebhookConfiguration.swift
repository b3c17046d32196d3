// The webhook settings: targets, timeouts and the retry policy, read from a small JSON file (docs/webhooks.md).

import AgentCostJSON
import AgentCostSystem

#if canImport(Glibc)
    import Glibc
#endif

/// Everything the dispatcher needs: the targets and how hard to try delivering to them.
public struct WebhookConfiguration: Sendable, Equatable {
    public var targets: [WebhookTarget]
    /// How long connecting to a receiver may take.
    public var connectTimeoutSeconds = 2.0
    /// How long one request, response included, may take.
    public var requestTimeoutSeconds = 10.0
    /// The wait before the first retry; it doubles with each further failure, up to `maxBackoffSeconds`.
    public var initialBackoffSeconds = 1.0
    public var maxBackoffSeconds = 300.0
    /// Attempts (the first included) after which a delivery is abandoned.
    public var maxAttempts = 100
    /// Age after which an undelivered event is abandoned, however few attempts it had.
    public var maxAgeSeconds = 86_400.0
    /// Undelivered events kept per target; beyond, new events for it are abandoned (counted and logged).
    public var maxQueueLength = 10_000
    /// The outbox is rewritten without its finished entries once it is larger than this and mostly finished.
    public var compactionBytes = 1 << 20

    public init(targets: [WebhookTarget]) {
        self.targets = targets
    }

    /// Checks names and URLs.
    ///
    /// - Throws: `WebhookError` with code `invalidConfiguration` naming the target and the fix.
    public func validate() throws(WebhookError) {
        var names: Set<String> = []
        for target in targets {
            let allowed = target.name.utf8.allSatisfy { byte in
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
                    || byte == 0x5f || byte == 0x2d
            }
            guard !target.name.isEmpty, target.name.utf8.count <= 64, allowed else {
                throw invalid("target name \"\(target.name)\" must be 1 to 64 letters, digits, _ or -")
            }
            guard names.insert(target.name).inserted else {
                throw invalid("target name \"\(target.name)\" is used twice; give each target its own name")
            }
            guard target.url.hasPrefix("http://") || target.url.hasPrefix("https://") else {
                throw invalid("target \(target.name): url \"\(target.url)\" must start with http:// or https://")
            }
            let unsupported = target.events.subtracting(target.kind.allowedEvents)
            guard unsupported.isEmpty else {
                throw invalid(
                    "target \(target.name): \(target.kind.rawValue) targets cannot carry "
                        + "\(unsupported.sorted().map(\.rawValue).joined(separator: ", ")); it takes "
                        + target.kind.allowedEvents.sorted().map(\.rawValue).joined(separator: ", "))
            }
            if target.kind == .generic, target.secret == nil {
                throw invalid("target \(target.name): a generic target needs secret_file (the HMAC-SHA256 key)")
            }
        }
        guard connectTimeoutSeconds > 0, requestTimeoutSeconds > 0, initialBackoffSeconds > 0,
            maxBackoffSeconds >= initialBackoffSeconds, maxAgeSeconds > 0
        else {
            throw invalid("timeouts and backoffs must be positive, and max_backoff at least initial_backoff")
        }
        guard maxAttempts >= 1, maxQueueLength >= 1 else {
            throw invalid("max_attempts and max_queue must be at least 1")
        }
    }

    /// Reads a JSON configuration file.
    ///
    /// - Parameters:
    ///   - path: the file, from `--webhook.config-file`.
    ///   - environment: looks up environment variables (`authorization_env`); the process environment by default.
    /// - Throws: `WebhookError` naming the file and the field when it cannot be read, parsed or used.
    public static func load(
        file path: String,
        environment: (String) -> String? = processEnvironment
    ) throws(WebhookError) -> WebhookConfiguration {
        let text: String
        do {
            text = try readTextFile(path)
        } catch {
            throw WebhookError(.invalidConfiguration, "--webhook.config-file=\(path) cannot be read: \(error)")
        }
        do {
            return try parse(text, environment: environment)
        } catch {
            throw WebhookError(error.code, "--webhook.config-file=\(path): \(error.message)")
        }
    }

    /// Parses the JSON configuration (see docs/webhooks.md).
    ///
    /// - Throws: `WebhookError` naming the field and what is expected.
    public static func parse(
        _ text: String,
        environment: (String) -> String? = processEnvironment
    ) throws(WebhookError) -> WebhookConfiguration {
        let root: JSONValue
        do {
            root = try JSONValue(parsing: text)
        } catch {
            throw invalid("not JSON: column \(error.column): \(error.message)")
        }
        let fields = try object(root, "the top level")
        try rejectUnknown(
            fields,
            allowed: [
                "targets", "connect_timeout", "timeout", "initial_backoff", "max_backoff", "max_attempts", "max_age",
                "max_queue",
            ],
            in: "the top level")

        var configuration = WebhookConfiguration(targets: [])
        guard case .array(let targets) = fields["targets"] ?? .null else {
            throw invalid("\"targets\" must be an array of target objects")
        }
        for (index, value) in targets.enumerated() {
            configuration.targets.append(try parseTarget(value, index: index, environment: environment))
        }
        if let value = fields["connect_timeout"] {
            configuration.connectTimeoutSeconds = try duration(value, "connect_timeout")
        }
        if let value = fields["timeout"] { configuration.requestTimeoutSeconds = try duration(value, "timeout") }
        if let value = fields["initial_backoff"] {
            configuration.initialBackoffSeconds = try duration(value, "initial_backoff")
        }
        if let value = fields["max_backoff"] { configuration.maxBackoffSeconds = try duration(value, "max_backoff") }
        if let value = fields["max_age"] { configuration.maxAgeSeconds = try duration(value, "max_age") }
        if let value = fields["max_attempts"] { configuration.maxAttempts = try integer(value, "max_attempts") }
        if let value = fields["max_queue"] { configuration.maxQueueLength = try integer(value, "max_queue") }
        try configuration.validate()
        return configuration
    }

    private static func parseTarget(
        _ value: JSONValue, index: Int, environment: (String) -> String?
    ) throws(WebhookError) -> WebhookTarget {
        let place = "targets[\(index)]"
        let fields = try object(value, place)
        try rejectUnknown(
            fields,
            allowed: [
                "name", "kind", "url", "events", "pause_path", "resume_path", "authorization_header",
                "authorization_file", "authorization_env", "secret_file", "receiver", "external_url",
            ],
            in: place)
        let kindName = try string(fields["kind"], "\(place).kind")
        guard let kind = WebhookTarget.Kind(rawValue: kindName) else {
            throw invalid("\(place).kind \"\(kindName)\" is not one of orchestrator, generic, alertmanager")
        }
        let name = try fields["name"].map { value throws(WebhookError) in try string(value, "\(place).name") }
        var target = WebhookTarget(
            name: name ?? kind.rawValue, kind: kind, url: try string(fields["url"], "\(place).url"))

        if case .array(let names)? = fields["events"] {
            var events: Set<WebhookEventType> = []
            for value in names {
                let eventName = try string(value, "\(place).events")
                guard let type = WebhookEventType(rawValue: eventName) else {
                    throw invalid(
                        "\(place).events: \"\(eventName)\" is not one of "
                            + WebhookEventType.allCases.map(\.rawValue).joined(separator: ", "))
                }
                events.insert(type)
            }
            target.events = events
        } else if fields["events"] != nil {
            throw invalid("\(place).events must be an array of event type names")
        }

        if let value = fields["pause_path"] { target.pausePath = try path(value, "\(place).pause_path") }
        if let value = fields["resume_path"] { target.resumePath = try path(value, "\(place).resume_path") }
        if let value = fields["authorization_header"] {
            target.authorizationHeader = try string(value, "\(place).authorization_header")
        }
        if let value = fields["authorization_file"] {
            target.authorization = try readSecret(file: try string(value, "\(place).authorization_file"), place)
        }
        if let value = fields["authorization_env"] {
            let variable = try string(value, "\(place).authorization_env")
            guard let secret = environment(variable).map(trimmed), !secret.isEmpty else {
                throw WebhookError(
                    .unreadableSecret,
                    "\(place).authorization_env: the environment variable \(variable) is unset or empty; "
                        + "set it to the header's value, e.g. \"Bearer <token>\"")
            }
            target.authorization = secret
        }
        if let value = fields["secret_file"] {
            target.secret = Array(try readSecret(file: try string(value, "\(place).secret_file"), place).utf8)
        }
        if let value = fields["receiver"] { target.receiver = try string(value, "\(place).receiver") }
        if let value = fields["external_url"] { target.externalURL = try string(value, "\(place).external_url") }
        return target
    }

    /// The process environment, through getenv.
    public static let processEnvironment: @Sendable (String) -> String? = { name in
        getenv(name).map { String(cString: $0) }
    }

    /// A secret file's contents without surrounding whitespace, which must not be empty.
    ///
    /// - Parameter place: the setting that names the file, for the error message.
    /// - Throws: `WebhookError` with code `unreadableSecret` naming the file.
    public static func readSecret(file path: String, _ place: String) throws(WebhookError) -> String {
        let text: String
        do {
            text = try readTextFile(path)
        } catch {
            throw WebhookError(.unreadableSecret, "\(place): \(path) cannot be read: \(error)")
        }
        let secret = trimmed(text)
        guard !secret.isEmpty else {
            throw WebhookError(.unreadableSecret, "\(place): \(path) is empty; put the secret in it")
        }
        return secret
    }

    private static func trimmed(_ text: String) -> String {
        String(text.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }

    private static func invalid(_ message: String) -> WebhookError {
        WebhookError(.invalidConfiguration, message)
    }

    private func invalid(_ message: String) -> WebhookError {
        WebhookError(.invalidConfiguration, message)
    }

    private static func object(_ value: JSONValue, _ place: String) throws(WebhookError) -> [String: JSONValue] {
        guard case .object(let fields) = value else {
            throw invalid("\(place) must be an object, not \(value.typeName)")
        }
        return fields
    }

    private static func rejectUnknown(
        _ fields: [String: JSONValue], allowed: Set<String>, in place: String
    ) throws(WebhookError) {
        if let unknown = fields.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw invalid(
                "\(place) has an unknown field \"\(unknown)\"; known: \(allowed.sorted().joined(separator: ", "))")
        }
    }

    private static func string(_ value: JSONValue?, _ place: String) throws(WebhookError) -> String {
        guard case .string(let text)? = value, !text.isEmpty else {
            throw invalid("\(place) must be a non-empty string")
        }
        return text
    }

    private static func path(_ value: JSONValue, _ place: String) throws(WebhookError) -> String {
        let text = try string(value, place)
        guard text.hasPrefix("/") else { throw invalid("\(place) \"\(text)\" must start with /") }
        return text
    }

    private static func integer(_ value: JSONValue, _ place: String) throws(WebhookError) -> Int {
        guard case .number(let text) = value, let number = Int(text) else {
            throw invalid("\(place) must be a whole number")
        }
        return number
    }

    /// A number of seconds, or a string such as `500ms`, `30s`, `5m`, `1h`.
    private static func duration(_ value: JSONValue, _ place: String) throws(WebhookError) -> Double {
        switch value {
        case .number(let text):
            if let seconds = Double(text), seconds.isFinite, seconds > 0 { return seconds }
        case .string(let text):
            let units = [("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0)]
            for (suffix, scale) in units where text.hasSuffix(suffix) {
                if let number = Double(text.dropLast(suffix.count)), number.isFinite, number > 0 {
                    return number * scale
                }
            }
        default:
            break
        }
        throw invalid("\(place) must be a positive duration such as \"500ms\", \"30s\", \"5m\", \"1h\" or seconds")
    }
}
