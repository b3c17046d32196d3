// Turns a byte stream, arriving in pieces of any size, into frames.

/// Splits a connection's byte stream into frames, validating each header as soon as its bytes arrive.
///
/// Feed it whatever the socket returned with `append(_:)`, then call `nextFrame()` until it returns `nil`. The
/// header is checked field by field as it arrives, so a peer that does not speak the protocol, or announces a frame
/// over the limit, is refused before its payload is buffered. After an error the stream cannot be resynchronized:
/// every later call throws the same error, and the connection should be closed.
public struct FrameDecoder: Sendable {
    /// The limits frames are checked against.
    public let limits: WireLimits

    private var buffer: [UInt8] = []
    private var start = 0
    private var failure: WireError?

    /// Creates a decoder for one connection.
    public init(limits: WireLimits = .default) {
        self.limits = limits
    }

    /// The number of bytes received but not yet returned as part of a frame.
    public var bufferedByteCount: Int { buffer.count - start }

    /// Adds bytes received from the peer.
    public mutating func append<Bytes: Sequence<UInt8>>(_ bytes: Bytes) {
        buffer.append(contentsOf: bytes)
    }

    /// The next complete frame, or `nil` when more bytes are needed.
    ///
    /// - Throws: `WireError` with code `badMagic`, `badVersion`, `unknownFrameType`, `badFlags`, `frameTooLarge`
    ///   (from the header, before the payload arrives) or `badCRC`. The same error again on every later call.
    public mutating func nextFrame() throws(WireError) -> Frame? {
        if let failure {
            throw failure
        }
        do {
            return try decodeFrame()
        } catch {
            failure = error
            throw error
        }
    }

    /// Checks that the stream ended between frames; call it when the peer closes the connection.
    ///
    /// - Throws: `WireError` with code `truncated` when a partial frame is buffered, or the decoder's earlier error.
    public func finish() throws(WireError) {
        if let failure {
            throw failure
        }
        let available = bufferedByteCount
        guard available > 0 else { return }
        if available < Frame.headerSize {
            throw WireError(
                .truncated,
                "stream ended after \(available) of the \(Frame.headerSize) bytes of a frame header; "
                    + "the sender must write whole frames before closing")
        }
        let total = Frame.headerSize + Int(readBigEndian(UInt32.self, at: start + 8))
        throw WireError(
            .truncated,
            "stream ended after \(available) of the \(total) bytes of a frame; "
                + "the sender must write whole frames before closing")
    }

    private mutating func decodeFrame() throws(WireError) -> Frame? {
        let available = bufferedByteCount

        // The header, checked field by field as far as it has arrived.
        for index in 0..<min(available, Frame.magic.count) where buffer[start + index] != Frame.magic[index] {
            let seen = buffer[start..<start + min(available, Frame.magic.count)]
            let hex = seen.map { hexByte($0) }.joined(separator: " ")
            throw WireError(
                .badMagic,
                "frame starts with bytes \(hex), not the magic \"ACST\" (41 43 53 54); "
                    + "the peer does not speak the agentcost wire protocol")
        }
        if available > 4, buffer[start + 4] != Frame.version {
            throw WireError(
                .badVersion,
                "frame has protocol version \(buffer[start + 4]), but this server supports only version "
                    + "\(Frame.version); use a client that speaks version \(Frame.version)")
        }
        if available > 5, !FrameType.known.contains(FrameType(rawValue: buffer[start + 5])) {
            throw WireError(
                .unknownFrameType,
                "frame has type \(buffer[start + 5]); the known types are 1 (hello), 2 (batch) and 3 (ack)")
        }
        if available >= 8 {
            let flags = FrameFlags(rawValue: readBigEndian(UInt16.self, at: start + 6))
            guard flags.isSubset(of: .known) else {
                throw WireError(
                    .badFlags,
                    "frame sets flags 0x\(String(flags.rawValue, radix: 16)), but only bit 0 (compressed) is "
                        + "defined; clear the reserved bits")
            }
        }
        guard available >= 12 else { return nil }
        let length = Int(readBigEndian(UInt32.self, at: start + 8))
        guard length <= limits.maxFrameSize else {
            throw WireError(
                .frameTooLarge,
                "frame payload of \(length) bytes exceeds the maximum frame size of \(limits.maxFrameSize) bytes; "
                    + "send smaller batches or raise the server's maximum frame size")
        }

        // The payload, once all of it is here.
        guard available >= Frame.headerSize + length else {
            // Grow toward the announced size as bytes arrive, not at once: a slow client that announces 4 MiB and
            // sends a byte a second must not hold 4 MiB (times thousands of connections).
            buffer.reserveCapacity(min(start + Frame.headerSize + length, buffer.count + 64 * 1024))
            return nil
        }
        let payloadStart = start + Frame.headerSize
        let payload = Array(buffer[payloadStart..<payloadStart + length])
        let expectedCRC = readBigEndian(UInt32.self, at: start + 12)
        let actualCRC = Zlib.crc32(payload)
        guard actualCRC == expectedCRC else {
            throw WireError(
                .badCRC,
                "frame payload of \(length) bytes has CRC32 \(hexWord(actualCRC)), but the header says "
                    + "\(hexWord(expectedCRC)); the data was corrupted in transit or the sender computed the CRC "
                    + "over other bytes than it sent")
        }
        let frame = Frame(
            type: FrameType(rawValue: buffer[start + 5]),
            flags: FrameFlags(rawValue: readBigEndian(UInt16.self, at: start + 6)),
            payload: payload)

        // Drop the consumed bytes: all at once when the buffer is drained, in bulk when a long prefix is dead.
        start = payloadStart + length
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start >= 64 * 1024 && start >= buffer.count / 2 {
            buffer.removeFirst(start)
            start = 0
        }
        return frame
    }

    private func readBigEndian<Value: FixedWidthInteger>(_: Value.Type, at offset: Int) -> Value {
        var value: Value = 0
        for index in 0..<(Value.bitWidth / 8) {
            value = value << 8 | Value(buffer[offset + index])
        }
        return value
    }
}

private func hexByte(_ byte: UInt8) -> String {
    let digits = String(byte, radix: 16)
    return digits.count == 1 ? "0" + digits : digits
}

private func hexWord(_ word: UInt32) -> String {
    let digits = String(word, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
}
