/// An error of the wire layer: bytes that do not form a valid frame, payload or message, or a limit exceeded.
///
/// `code` is stable and short, so that a server can count errors by it (a metric's `reason` label); `message` names
/// the bad value, the limit it broke and what to do about it.
public struct WireError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A stable, machine-readable error class, usable as a metric label value.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The label value, e.g. `"bad_crc"`.
        public let rawValue: String

        /// Creates a code. The wire layer's own codes are the static members; a layer above may add its own.
        public init(_ rawValue: String) {
            self.rawValue = rawValue
        }

        /// The frame does not start with the magic bytes "ACST": the peer does not speak this protocol.
        public static let badMagic = Code("bad_magic")
        /// The frame header carries a protocol version this build does not support.
        public static let badVersion = Code("bad_version")
        /// The frame header carries a frame type this build does not know.
        public static let unknownFrameType = Code("unknown_frame_type")
        /// The frame header sets flag bits that are reserved.
        public static let badFlags = Code("bad_flags")
        /// The payload length in the header exceeds the maximum frame size.
        public static let frameTooLarge = Code("frame_too_large")
        /// The CRC32 of the payload does not match the header.
        public static let badCRC = Code("bad_crc")
        /// The stream ended in the middle of a frame.
        public static let truncated = Code("truncated")
        /// The payload is flagged as compressed but is not a valid, complete zlib stream.
        public static let corruptZlib = Code("corrupt_zlib")
        /// The payload inflates to more than the maximum inflated size (e.g. a zip bomb).
        public static let inflatedTooLarge = Code("inflated_too_large")
        /// The payload is not a valid protobuf encoding of the expected message.
        public static let invalidProtobuf = Code("invalid_protobuf")
        /// The unpacked message would take more memory than the maximum decoded size.
        public static let decodedTooLarge = Code("decoded_too_large")
        /// A frame of one type was handed to a function that expects another.
        public static let unexpectedFrameType = Code("unexpected_frame_type")
        /// A message could not be encoded (e.g. it is larger than a frame may be).
        public static let encodingFailed = Code("encoding_failed")
        /// A library call failed for a reason unrelated to the input, e.g. out of memory.
        public static let internalFailure = Code("internal")

        public var description: String { rawValue }
    }

    /// The error class.
    public let code: Code
    /// What was wrong, with the bad value, the limit and the fix.
    public let message: String

    /// Creates an error of class `code` described by `message`.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
