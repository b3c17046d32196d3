// How a client connection failed: it could not be made, it timed out, or it broke. Callers map the kind to their
// own error codes; the message already names the address and what to check.

/// A client connection that could not be made, timed out, or broke.
public struct ConnectionError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as a stable, machine-readable class.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        /// The class's name, e.g. `"connect_failed"`.
        public let rawValue: String

        /// Creates a kind; the module's own kinds are the static members.
        public init(_ rawValue: String) {
            self.rawValue = rawValue
        }

        /// The host could not be resolved, or no resolved address accepted the connection in time.
        public static let connectFailed = Kind("connect_failed")
        /// An established connection did not take or deliver bytes within its I/O timeout.
        public static let timedOut = Kind("timed_out")
        /// An established connection broke (reset by the peer, or a write or read failed).
        public static let connectionLost = Kind("connection_lost")

        public var description: String { rawValue }
    }

    /// The error class.
    public let kind: Kind
    /// The address the connection goes to.
    public let address: ListenAddress
    /// What happened, naming the address, and what to check.
    public let message: String

    /// Creates an error of class `kind` for the connection to `address`, described by `message`.
    public init(_ kind: Kind, address: ListenAddress, _ message: String) {
        self.kind = kind
        self.address = address
        self.message = message
    }

    public var description: String { "\(kind.rawValue): \(message)" }
}
