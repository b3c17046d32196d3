// The server's hot path: batch frame in, events to walk out.

/// Decodes batch frames, reusing its inflate state and buffer from one frame to the next.
///
/// Keep one per connection or per worker thread; it is not thread-safe. The `DecodedBatch` it returns is
/// independent of it and may be handed to another thread.
public final class BatchDecoder {
    /// The limits payloads are checked against.
    public let limits: WireLimits

    private let inflater = Inflater()

    /// The size of the latest decoded batch's protobuf bytes (after inflating), for the inflated-bytes counter.
    public private(set) var lastMessageSize = 0

    /// Creates a decoder.
    public init(limits: WireLimits = .default) {
        self.limits = limits
    }

    /// Decodes a frame of type `batch`: inflates it when flagged compressed, then unpacks the protobuf message.
    ///
    /// - Parameter frame: a frame returned by `FrameDecoder` (its CRC is already checked).
    /// - Returns: the batch, whose events are read in place.
    /// - Throws: `WireError` with code `unexpectedFrameType`, `corruptZlib`, `inflatedTooLarge`,
    ///   `invalidProtobuf` or `decodedTooLarge`.
    public func decode(_ frame: Frame) throws(WireError) -> DecodedBatch {
        try decode(frame) { _ in }
    }

    /// Decodes a batch frame like `decode(_:)`, first handing `record` the batch's protobuf bytes (inflated), for
    /// a write-ahead log. The bytes are only valid during the call.
    public func decode(_ frame: Frame, record: (ArraySlice<UInt8>) -> Void) throws(WireError) -> DecodedBatch {
        let bytes = try messageBytes(of: frame, expecting: .batch, inflater: inflater, limits: limits)
        lastMessageSize = bytes.count
        let batch = try ProtobufC.unpackBatch(bytes, limits: limits)
        record(bytes)
        return batch
    }

    /// Decodes a batch from its protobuf bytes alone (no frame), as a write-ahead log stores it.
    public func decodeMessage(_ bytes: ArraySlice<UInt8>) throws(WireError) -> DecodedBatch {
        try ProtobufC.unpackBatch(bytes, limits: limits)
    }
}
