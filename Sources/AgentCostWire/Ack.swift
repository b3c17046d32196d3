// The server's answer to a frame (agentcost.v1.Ack).

/// The server's answer to one batch (or hello) frame.
public struct Ack: Hashable, Sendable {
    /// The outcome of a batch as a whole.
    ///
    /// A struct rather than an enum because protobuf enums are open: an older client must survive a status added
    /// later and can treat it like `rejected`.
    public struct Status: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The protobuf enum number.
        public let rawValue: Int32

        /// Creates a status from its protobuf number, known or not.
        public init(rawValue: Int32) {
            self.rawValue = rawValue
        }

        /// The batch was taken (its valid events are applied), or it was a duplicate of an applied one.
        public static let ok = Status(rawValue: 0)
        /// The batch can never be accepted as sent; do not resend it unchanged.
        public static let rejected = Status(rawValue: 1)
        /// The server could not take the batch now; resend it later with the same sequence.
        public static let retryLater = Status(rawValue: 2)

        public var description: String {
            switch self {
            case .ok: "ok"
            case .rejected: "rejected"
            case .retryLater: "retry_later"
            default: "status \(rawValue)"
            }
        }
    }

    /// One rejected event of a batch.
    public struct Rejection: Hashable, Sendable {
        /// The event's position in the batch, from 0.
        public var index: UInt32
        /// A short machine-readable reason, e.g. "negative_cost".
        public var reason: String

        /// Creates a rejection.
        public init(index: UInt32, reason: String) {
            self.index = index
            self.reason = reason
        }
    }

    /// The batch sequence this ack answers; 0 for the ack of a hello and when the batch could not be read at all.
    public var sequence: UInt64
    /// The outcome.
    public var status: Status
    /// How many events were applied now (0 for a duplicate).
    public var applied: UInt32
    /// How many events were rejected.
    public var rejected: UInt32
    /// The rejected events, in index order.
    public var rejections: [Rejection]
    /// The agents named in the batch that are paused after it was applied.
    public var pausedAgents: [String]
    /// An explanation for `rejected` and `retryLater`, or a note; may be empty.
    public var message: String

    /// Creates an ack.
    public init(
        sequence: UInt64, status: Status, applied: UInt32 = 0, rejected: UInt32 = 0, rejections: [Rejection] = [],
        pausedAgents: [String] = [], message: String = ""
    ) {
        self.sequence = sequence
        self.status = status
        self.applied = applied
        self.rejected = rejected
        self.rejections = rejections
        self.pausedAgents = pausedAgents
        self.message = message
    }

    /// Encodes the ack as a frame of type `ack`.
    ///
    /// - Parameter compressionLevel: the zlib level, or `nil` (the default: acks are small) to send it plain.
    /// - Throws: `WireError` with code `encodingFailed` for a string containing a NUL byte or a bad level.
    public func makeFrame(compressionLevel: Int? = nil) throws(WireError) -> Frame {
        try makeMessageFrame(type: .ack, payload: ProtobufC.pack(self), compressionLevel: compressionLevel)
    }

    /// Decodes an ack frame.
    ///
    /// - Throws: `WireError` with code `unexpectedFrameType`, `corruptZlib`, `inflatedTooLarge` or
    ///   `invalidProtobuf`.
    public init(decoding frame: Frame, limits: WireLimits = .default) throws(WireError) {
        let bytes = try messageBytes(of: frame, expecting: .ack, inflater: Inflater(), limits: limits)
        self = try ProtobufC.unpackAck(bytes, limits: limits)
    }
}
