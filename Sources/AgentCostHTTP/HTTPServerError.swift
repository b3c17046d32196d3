/// An error starting the HTTP server: a bad setting, or an address that cannot be listened on.
///
/// `code` is stable and short; `message` names the bad value and what to do about it.
public struct HTTPServerError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A stable, machine-readable error class.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's text, e.g. `"invalid_configuration"`.
        public let rawValue: String

        /// Creates a code; the server's own codes are the static members.
        public init(_ rawValue: String) {
            self.rawValue = rawValue
        }

        /// A limit or setting is outside what the server accepts.
        public static let invalidConfiguration = Code("invalid_configuration")
        /// libmicrohttpd could not start on the address (in use, not local, not numeric, no permission).
        public static let startFailed = Code("start_failed")

        public var description: String { rawValue }
    }

    /// The error class.
    public let code: Code
    /// What was wrong, with the bad value and the fix.
    public let message: String

    /// Creates an error of class `code` described by `message`.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
