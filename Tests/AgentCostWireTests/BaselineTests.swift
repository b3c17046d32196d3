import AgentCostWire
import CBaseline
import Testing

@Suite struct BaselineTests {
    private let stream: [UInt8] = {
        var bytes: [UInt8] = []
        for sequence in 1...4 as ClosedRange<UInt64> {
            let batch = makeSpendBatch(count: 250 * Int(sequence), sequence: sequence)
            try? batch.makeFrame(compressionLevel: sequence == 4 ? nil : 6).serialize(into: &bytes)
        }
        return bytes
    }()

    @Test func theCBaselineCountsTheSameEventsAsTheSwiftDecoder() throws {
        let decoder = BatchDecoder()
        var swiftCount = 0
        for frame in try decodeAllFrames(stream) {
            swiftCount += try decoder.decode(frame).count
        }
        #expect(swiftCount == 2500)

        var scratch = [UInt8](repeating: 0, count: 1 << 20)
        #expect(cbaseline_ingest(stream, stream.count, &scratch, scratch.count) == 2500)
    }

    @Test func theCBaselineReportsACutStream() {
        var scratch = [UInt8](repeating: 0, count: 1 << 20)
        let cut = Array(stream.dropLast())
        #expect(cbaseline_ingest(cut, cut.count, &scratch, scratch.count) == -1)
    }
}
