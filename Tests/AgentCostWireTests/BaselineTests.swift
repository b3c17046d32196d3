import AgentCostWire
import CBaseline
import Testing

@Suite struct BaselineTests {
    @Test func theCBaselineCountsTheSameEventsAsTheSwiftDecoder() throws {
        let frames = try (1...4 as ClosedRange<UInt64>).map { sequence in
            try makeSpendBatch(count: 250 * Int(sequence), sequence: sequence).makeFrame().serialized()
        }
        let decoder = BatchDecoder()
        var swiftCount = 0
        for bytes in frames {
            for frame in try decodeAllFrames(bytes) {
                swiftCount += try decoder.decode(frame).count
            }
        }
        #expect(swiftCount == 2500)
        #expect(ingestWithCBaseline(frames) == 2500)
    }
}

/// Runs the C loop over `frames`; the pointer juggling stays in this helper.
private func ingestWithCBaseline(_ frames: [[UInt8]]) -> Int {
    var scratch = [UInt8](repeating: 0, count: 8 << 20)
    var pointers: [UnsafePointer<UInt8>?] = []
    var lengths: [Int] = []
    let copies = frames.map { frame in
        let copy = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: frame.count)
        _ = copy.initialize(from: frame)
        return copy
    }
    defer {
        for copy in copies {
            copy.deallocate()
        }
    }
    for copy in copies {
        pointers.append(UnsafePointer(copy.baseAddress))
        lengths.append(copy.count)
    }
    let count = scratch.withUnsafeMutableBufferPointer { buffer in
        cbaseline_ingest(pointers, lengths, frames.count, buffer.baseAddress, buffer.count)
    }
    return count
}
