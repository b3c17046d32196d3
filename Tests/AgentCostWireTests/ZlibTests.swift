import AgentCostWire
import Testing

@Suite struct ZlibTests {
    @Test func crc32MatchesTheStandardCheckValue() {
        #expect(Zlib.crc32(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(Zlib.crc32([]) == 0)
    }

    @Test(arguments: [0, 1, 6, 9])
    func deflateThenInflateGivesTheInputBack(level: Int) throws {
        let input = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 * 31 % 251) }
        let compressed = try Zlib.deflate(input, level: level)
        let inflater = Inflater()
        #expect(Array(try inflater.inflate(compressed, limit: input.count)) == input)
        // The inflater is reusable.
        #expect(Array(try inflater.inflate(compressed, limit: input.count)) == input)
    }

    @Test func refusesALevelOutsideTheRange() {
        #expect(wireError { try Zlib.deflate([1, 2, 3], level: 10) }?.code == .encodingFailed)
    }

    @Test func stopsAZipBombAtTheLimit() throws {
        // 100 MB of zeros deflate to about 100 KB.
        let bomb = try Zlib.deflate([UInt8](repeating: 0, count: 100_000_000), level: 9)
        #expect(bomb.count < 200_000)
        let error = wireError { try Inflater().inflate(bomb, limit: 1 << 20) }
        #expect(error?.code == .inflatedTooLarge)
        #expect(error?.message.contains("\(1 << 20)") == true)
    }

    @Test func acceptsOutputExactlyAtTheLimit() throws {
        let input = [UInt8](repeating: 9, count: 70_000)
        let compressed = try Zlib.deflate(input, level: 6)
        #expect(try Inflater().inflate(compressed, limit: 70_000).count == 70_000)
        #expect(wireError { try Inflater().inflate(compressed, limit: 69_999) }?.code == .inflatedTooLarge)
    }

    @Test func inflatesWithTheLargestLimitAnIntCanHold() throws {
        // A limit of Int.max means "no limit"; it used to overflow when sizing the output buffer as limit + 1.
        let input = [UInt8](repeating: 7, count: 100_000)
        let compressed = try Zlib.deflate(input, level: 6)
        #expect(Array(try Inflater().inflate(compressed, limit: .max)) == input)
    }

    @Test func refusesBytesThatAreNotZlib() {
        let error = wireError { try Inflater().inflate(Array("definitely not zlib".utf8), limit: 1000) }
        #expect(error?.code == .corruptZlib)
    }

    @Test func refusesATruncatedStream() throws {
        let compressed = try Zlib.deflate((0..<10_000).map { UInt8(truncatingIfNeeded: $0 * 7) }, level: 6)
        let error = wireError { try Inflater().inflate(Array(compressed.dropLast(10)), limit: 100_000) }
        #expect(error?.code == .corruptZlib)
    }

    @Test func refusesBytesAfterTheStream() throws {
        let compressed = try Zlib.deflate([1, 2, 3], level: 6)
        let error = wireError { try Inflater().inflate(compressed + [0], limit: 100) }
        #expect(error?.code == .corruptZlib)
    }

    @Test func refusesAnEmptyPayload() {
        #expect(wireError { try Inflater().inflate([], limit: 100) }?.code == .corruptZlib)
    }
}
