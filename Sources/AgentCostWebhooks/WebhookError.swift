/// A problem with the webhook configuration or the outbox: a stable `code` and a message that names the input (the
/// file, the target, the field) and says what to do.
public struct WebhookError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable, machine-readable error class.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String

        public init(_ rawValue: String) {
            self.rawValue = rawValue
        }

        /// The configuration file or a field of it is missing, malformed or out of range.
        public static let invalidConfiguration = Code("invalid_configuration")
        /// A secret or authorization file cannot be read or is empty.
        public static let unreadableSecret = Code("unreadable_secret")
        /// The outbox file or its directory cannot be created, read, written or synced.
        public static let outboxIO = Code("outbox_io")
        /// A delivery thread cannot be started.
        public static let threadFailed = Code("thread_failed")

        public var description: String { rawValue }
    }

    public let code: Code
    /// What was wrong, with the bad value and the fix.
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
