// The errors the client reports: configuration mistakes, network failures, and what the server refused.

/// An error of the spend client.
///
/// `code` is stable and short; `message` names the bad input or the peer, what happened, and what to do about it.
public struct SpendClientError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A stable, machine-readable error class.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The class's name, e.g. `"connection_failed"`.
        public let rawValue: String

        /// Creates a code; the client's own codes are the static members.
        public init(_ rawValue: String) {
            self.rawValue = rawValue
        }

        /// A configuration value is out of range (batch size, window, sequence, producer id, level).
        public static let invalidConfiguration = Code("invalid_configuration")
        /// An address is not of the form `host:port`.
        public static let invalidAddress = Code("invalid_address")
        /// An event cannot be sent as it is (e.g. a string holds a NUL byte).
        public static let invalidEvent = Code("invalid_event")
        /// The server could not be reached.
        public static let connectionFailed = Code("connection_failed")
        /// An established connection broke (reset, closed by the server, or a write failed).
        public static let connectionLost = Code("connection_lost")
        /// The server did not answer within the acknowledgement timeout.
        public static let timedOut = Code("timed_out")
        /// The server answered a batch with `RETRY_LATER`.
        public static let retryLater = Code("retry_later")
        /// The server sent something the protocol does not allow here (a bad frame, an ack out of order).
        public static let protocolViolation = Code("protocol_violation")
        /// The server refused the hello, e.g. because the token is wrong.
        public static let helloRejected = Code("hello_rejected")
        /// Retrying did not succeed before the retry deadline; the unacknowledged batches are kept.
        public static let deadlineExceeded = Code("deadline_exceeded")
        /// A batch could not be encoded.
        public static let encodingFailed = Code("encoding_failed")
        /// The client was closed; create a new one.
        public static let closed = Code("closed")

        public var description: String { rawValue }
    }

    /// The error class.
    public let code: Code
    /// What was wrong, naming the input or the peer, and the fix.
    public let message: String

    /// Creates an error of class `code` described by `message`.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// Whether reconnecting and resending the unacknowledged batches may succeed.
    public var isRetryable: Bool {
        switch code {
        case .connectionFailed, .connectionLost, .timedOut, .retryLater, .protocolViolation: true
        default: false
        }
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
