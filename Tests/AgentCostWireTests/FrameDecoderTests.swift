import AgentCostWire
import Testing

@Suite struct FrameDecoderTests {
    private let sample = Frame(type: .batch, flags: .compressed, payload: Array("hello frames".utf8))

    @Test func headerHasTheDocumentedLayout() throws {
        let bytes = try Frame(type: .ack, payload: [1, 2, 3]).serialized()
        let crc = Zlib.crc32([1, 2, 3])
        let expectedHeader: [UInt8] = [
            0x41, 0x43, 0x53, 0x54, 1, 3, 0, 0, 0, 0, 0, 3,
            UInt8(crc >> 24), UInt8((crc >> 16) & 0xff), UInt8((crc >> 8) & 0xff), UInt8(crc & 0xff),
        ]
        #expect(Array(bytes.prefix(16)) == expectedHeader)
        #expect(Array(bytes.dropFirst(16)) == [1, 2, 3])
    }

    @Test func decodesFramesFedOneByteAtATime() throws {
        let frames = [sample, Frame(type: .hello, payload: []), Frame(type: .ack, payload: [0xff, 0x00])]
        var bytes: [UInt8] = []
        for frame in frames {
            try frame.serialize(into: &bytes)
        }
        var decoder = FrameDecoder()
        var decoded: [Frame] = []
        for byte in bytes {
            decoder.append(CollectionOfOne(byte))
            while let frame = try decoder.nextFrame() {
                decoded.append(frame)
            }
        }
        try decoder.finish()
        #expect(decoded == frames)
        #expect(decoder.bufferedByteCount == 0)
    }

    @Test func decodesFramesSplitAtEveryPoint() throws {
        let bytes = try sample.serialized() + sample.serialized()
        for split in 0...bytes.count {
            var decoder = FrameDecoder()
            var decoded: [Frame] = []
            decoder.append(bytes[..<split])
            while let frame = try decoder.nextFrame() {
                decoded.append(frame)
            }
            decoder.append(bytes[split...])
            while let frame = try decoder.nextFrame() {
                decoded.append(frame)
            }
            #expect(decoded == [sample, sample], "split at \(split)")
        }
    }

    @Test func refusesBadMagicFromTheFirstByte() {
        var decoder = FrameDecoder()
        decoder.append(Array("G".utf8))
        let error = wireError { try decoder.nextFrame() }
        #expect(error?.code == .badMagic)
        #expect(error?.message.contains("47") == true)
    }

    @Test func refusesAnHTTPRequest() {
        let error = wireError { try decodeAllFrames(Array("GET /metrics HTTP/1.1\r\n\r\n".utf8)) }
        #expect(error?.code == .badMagic)
    }

    @Test func staysFailedAfterAnError() {
        var decoder = FrameDecoder()
        decoder.append(Array("XXXX".utf8))
        #expect(wireError { try decoder.nextFrame() }?.code == .badMagic)
        decoder.append((try? sample.serialized()) ?? [])
        #expect(wireError { try decoder.nextFrame() }?.code == .badMagic)
    }

    @Test func refusesAnUnsupportedVersion() throws {
        var bytes = try sample.serialized()
        bytes[4] = 2
        let error = wireError { try decodeAllFrames(bytes) }
        #expect(error?.code == .badVersion)
        #expect(error?.message.contains("version 2") == true)
    }

    @Test func refusesAnUnknownFrameType() throws {
        var bytes = try sample.serialized()
        bytes[5] = 99
        #expect(wireError { try decodeAllFrames(bytes) }?.code == .unknownFrameType)
    }

    @Test func refusesReservedFlags() throws {
        var bytes = try sample.serialized()
        bytes[6] = 0x80
        #expect(wireError { try decodeAllFrames(bytes) }?.code == .badFlags)
    }

    @Test func refusesAnOversizeFrameFromItsHeaderAlone() throws {
        let limits = WireLimits(maxFrameSize: 1024, maxInflatedSize: 4096)
        let header = Array(try Frame(type: .batch, payload: [UInt8](repeating: 7, count: 1025)).serialized().prefix(12))
        var decoder = FrameDecoder(limits: limits)
        decoder.append(header)
        let error = wireError { try decoder.nextFrame() }
        #expect(error?.code == .frameTooLarge)
        #expect(error?.message.contains("1025") == true)
        #expect(error?.message.contains("1024") == true)
    }

    @Test func acceptsAFrameExactlyAtTheLimit() throws {
        let limits = WireLimits(maxFrameSize: 1024, maxInflatedSize: 4096)
        let frame = Frame(type: .batch, payload: [UInt8](repeating: 7, count: 1024))
        #expect(try decodeAllFrames(try frame.serialized(), limits: limits) == [frame])
    }

    @Test func refusesACRCMismatch() throws {
        var bytes = try sample.serialized()
        bytes[bytes.count - 1] ^= 0x01
        let error = wireError { try decodeAllFrames(bytes) }
        #expect(error?.code == .badCRC)
    }

    @Test func reportsATruncatedPayloadAtTheEndOfTheStream() throws {
        let bytes = try sample.serialized()
        var decoder = FrameDecoder()
        decoder.append(bytes.dropLast(3))
        #expect(try decoder.nextFrame() == nil)
        let error = wireError { try decoder.finish() }
        #expect(error?.code == .truncated)
        #expect(error?.message.contains("\(bytes.count - 3) of the \(bytes.count) bytes") == true)
    }

    @Test func reportsATruncatedHeaderAtTheEndOfTheStream() throws {
        var decoder = FrameDecoder()
        decoder.append(try sample.serialized().prefix(7))
        #expect(try decoder.nextFrame() == nil)
        #expect(wireError { try decoder.finish() }?.code == .truncated)
    }
}
