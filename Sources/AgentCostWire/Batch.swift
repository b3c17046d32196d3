// A batch of events as a Swift value (agentcost.v1.Batch): what a client builds and sends.

/// A group of events sent in one frame and acknowledged by one `Ack`.
///
/// This is the sending side's representation. A server decodes batch frames into a `DecodedBatch` instead, which
/// reads the events in place without copying them into Swift values.
public struct Batch: Hashable, Sendable {
    /// The sender's stable identity for exactly-once delivery.
    public var producerID: String
    /// Strictly increasing per producer, starting at 1.
    public var sequence: UInt64
    /// The events, applied in this order.
    public var events: [Event]

    /// Creates a batch.
    public init(producerID: String, sequence: UInt64, events: [Event]) {
        self.producerID = producerID
        self.sequence = sequence
        self.events = events
    }

    /// Encodes the batch as a frame of type `batch`.
    ///
    /// - Parameter compressionLevel: the zlib level (0...9; 6 is a good default), or `nil` to send it uncompressed.
    /// - Returns: the frame; call `serialized()` on it for the bytes to send.
    /// - Throws: `WireError` with code `encodingFailed` for a string containing a NUL byte or a bad level.
    /// The batch as protobuf bytes, without a frame: what the write-ahead log stores.
    public func protobufBytes() throws(WireError) -> [UInt8] {
        try ProtobufC.pack(self)
    }

    public func makeFrame(compressionLevel: Int? = 6) throws(WireError) -> Frame {
        try makeMessageFrame(type: .batch, payload: ProtobufC.pack(self), compressionLevel: compressionLevel)
    }

    /// Decodes a batch frame into Swift values; convenient for tools and tests, slower than `BatchDecoder`.
    ///
    /// - Throws: `WireError`, see `BatchDecoder.decode(_:)`.
    public init(decoding frame: Frame, limits: WireLimits = .default) throws(WireError) {
        let decoded = try BatchDecoder(limits: limits).decode(frame)
        var events: [Event] = []
        events.reserveCapacity(decoded.count)
        for (index, view) in decoded.enumerated() {
            guard let event = view.event else {
                throw WireError(
                    .invalidProtobuf,
                    "event \(index) of batch \(decoded.sequence) has no kind set; set one of the event kinds")
            }
            events.append(event)
        }
        self.init(producerID: decoded.producerID, sequence: decoded.sequence, events: events)
    }
}

/// Builds a frame around an encoded message, compressing it when asked.
func makeMessageFrame(type: FrameType, payload: [UInt8], compressionLevel: Int?) throws(WireError) -> Frame {
    guard let compressionLevel else {
        return Frame(type: type, payload: payload)
    }
    return Frame(type: type, flags: .compressed, payload: try Zlib.deflate(payload, level: compressionLevel))
}

/// Checks a frame's type and returns its message bytes, inflated when the frame is flagged compressed.
func messageBytes(
    of frame: Frame, expecting type: FrameType, inflater: Inflater, limits: WireLimits
) throws(WireError) -> ArraySlice<UInt8> {
    guard frame.type == type else {
        throw WireError(
            .unexpectedFrameType,
            "expected a \(type) frame but got a \(frame.type) frame; check the order of frames on the connection")
    }
    guard frame.flags.contains(.compressed) else {
        guard frame.payload.count <= limits.maxInflatedSize else {
            throw WireError(
                .inflatedTooLarge,
                "uncompressed payload of \(frame.payload.count) bytes exceeds the maximum inflated size of "
                    + "\(limits.maxInflatedSize) bytes; send smaller batches")
        }
        return frame.payload[...]
    }
    return try inflater.inflate(frame.payload, limit: limits.maxInflatedSize)
}
