// The frame: a 16-byte header followed by a payload. See docs/protocol.md for the byte layout.

/// What a frame's payload holds.
public struct FrameType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The header byte.
    public let rawValue: UInt8

    /// Creates a frame type from its header byte; `FrameDecoder` accepts only the known ones.
    public init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    /// Client to server, first frame of a connection: a `Hello` message.
    public static let hello = FrameType(rawValue: 1)
    /// Client to server: a `Batch` of events.
    public static let batch = FrameType(rawValue: 2)
    /// Server to client: an `Ack` answering a hello or a batch.
    public static let ack = FrameType(rawValue: 3)

    /// The frame types this build understands.
    public static let known: [FrameType] = [.hello, .batch, .ack]

    public var description: String {
        switch self {
        case .hello: "hello"
        case .batch: "batch"
        case .ack: "ack"
        default: "type \(rawValue)"
        }
    }
}

/// The flag bits of a frame header.
public struct FrameFlags: OptionSet, Hashable, Sendable {
    /// The header's 16-bit flags field.
    public let rawValue: UInt16

    /// Creates flags from the header field.
    public init(rawValue: UInt16) {
        self.rawValue = rawValue
    }

    /// Bit 0: the payload is one zlib stream; inflate it before decoding the message.
    public static let compressed = FrameFlags(rawValue: 1 << 0)

    /// Every bit this build understands; a frame with any other bit set is refused.
    public static let known: FrameFlags = [.compressed]
}

/// One frame: its type, its flags, and its payload as sent (compressed when flagged).
public struct Frame: Hashable, Sendable {
    /// The four bytes every frame starts with: "ACST".
    public static let magic: [UInt8] = [0x41, 0x43, 0x53, 0x54]
    /// The protocol version this build speaks.
    public static let version: UInt8 = 1
    /// The size of the fixed header in bytes.
    public static let headerSize = 16

    /// What the payload holds.
    public var type: FrameType
    /// How the payload is encoded.
    public var flags: FrameFlags
    /// The payload as sent; its CRC32 goes into the header.
    public var payload: [UInt8]

    /// Creates a frame.
    public init(type: FrameType, flags: FrameFlags = [], payload: [UInt8]) {
        self.type = type
        self.flags = flags
        self.payload = payload
    }

    /// The frame as bytes to send: header, then payload.
    ///
    /// - Throws: `WireError` with code `frameTooLarge` when the payload is longer than a header can express.
    public func serialized() throws(WireError) -> [UInt8] {
        var bytes: [UInt8] = []
        try serialize(into: &bytes)
        return bytes
    }

    /// Appends the frame to `bytes`, e.g. a connection's output buffer.
    ///
    /// - Throws: `WireError` with code `frameTooLarge` when the payload is longer than a header can express.
    public func serialize(into bytes: inout [UInt8]) throws(WireError) {
        guard let length = UInt32(exactly: payload.count) else {
            throw WireError(
                .frameTooLarge,
                "payload of \(payload.count) bytes exceeds the format's limit of \(UInt32.max) bytes; split the batch")
        }
        bytes.reserveCapacity(bytes.count + Frame.headerSize + payload.count)
        bytes.append(contentsOf: Frame.magic)
        bytes.append(Frame.version)
        bytes.append(type.rawValue)
        appendBigEndian(flags.rawValue, to: &bytes)
        appendBigEndian(length, to: &bytes)
        appendBigEndian(Zlib.crc32(payload), to: &bytes)
        bytes.append(contentsOf: payload)
    }
}

private func appendBigEndian<Value: FixedWidthInteger>(_ value: Value, to bytes: inout [UInt8]) {
    var shift = Value.bitWidth - 8
    while shift >= 0 {
        bytes.append(UInt8(truncatingIfNeeded: value >> shift))
        shift -= 8
    }
}
