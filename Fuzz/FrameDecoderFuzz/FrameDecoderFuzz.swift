// A libFuzzer harness over the wire decoders: arbitrary bytes go into a FrameDecoder in chunks of varying sizes,
// and every frame it yields is decoded as a batch, a hello and an ack. Nothing may crash, hang or leak, and a few
// invariants must hold (see `FuzzHarness.run(_:)`); a broken invariant traps, which libFuzzer reports as a crash.
//
// Built with `-sanitize=fuzzer` and `-D FUZZING` (see `make fuzz`), `main` hands the command line to libFuzzer's
// driver (SwiftPM links an executable's own `main`, so libFuzzer's cannot be used). Built plainly (as by `swift
// build`), the target is a small tool instead: `FrameDecoderFuzz seeds DIR` writes the seed corpus, and
// `FrameDecoderFuzz FILE...` runs inputs (e.g. a crash libFuzzer kept) through the harness without sanitizers.
import AgentCostWire

#if FUZZING
    import Glibc
#else
    import Foundation
#endif

/// libFuzzer's entry point: called once per input; must return 0.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = Array(UnsafeBufferPointer(start: data, count: data == nil ? 0 : size))
    FuzzHarness.run(input)
    return 0
}

enum FuzzHarness {
    /// The limits an input is decoded under, picked by its hash: mostly small ones, so that the fuzzer reaches every
    /// limit quickly and one input never costs much memory; sometimes all zero, or no inflated and decoded limit at
    /// all (Int.max). Not an unlimited frame size: `FrameDecoder` reserves room for the payload a header announces,
    /// which would be 4 GiB, over libFuzzer's malloc limit.
    static let limitChoices = [
        WireLimits(maxFrameSize: 1 << 16, maxInflatedSize: 1 << 20, maxDecodedSize: 1 << 22),
        WireLimits(maxFrameSize: 1 << 16, maxInflatedSize: 1 << 20, maxDecodedSize: 1 << 22),
        WireLimits(maxFrameSize: 0, maxInflatedSize: 0, maxDecodedSize: 0),
        WireLimits(maxFrameSize: 1 << 20, maxInflatedSize: .max, maxDecodedSize: .max),
    ]

    /// Feeds `input` to a decoder in chunks and checks what comes out.
    ///
    /// Invariants: the frames (and the error that ends the stream, if any) do not depend on how the bytes were cut
    /// into chunks; serialized again, they are the bytes they came from; an error is sticky; `finish()` agrees with
    /// the bytes left over; every frame's payload decodes or fails with a `WireError`, and what decodes survives an
    /// encode/decode round trip unchanged.
    static func run(_ input: [UInt8]) {
        runStream(input)

        // A mutated payload almost never keeps a matching CRC, so the payload decoders would hardly ever be reached:
        // run the stream a second time with every frame's CRC made right.
        let repaired = withCorrectCRCs(input)
        if repaired != input {
            runStream(repaired)
        }
    }

    private static func runStream(_ input: [UInt8]) {
        let seed = fnv1a(input)
        let limits = limitChoices[Int(seed % UInt64(limitChoices.count))]
        let chunked = decodeStream(input, chunkSizes: ChunkSizes(seed: seed), limits: limits)
        let whole = decodeStream(input, chunkSizes: nil, limits: limits)
        guard chunked.frames == whole.frames, chunked.error?.code == whole.error?.code else {
            preconditionFailure(
                "chunking changed the outcome: \(chunked.frames.count) frames and \(String(describing: chunked.error)) "
                    + "versus \(whole.frames.count) frames and \(String(describing: whole.error))")
        }
        var reserialized: [UInt8] = []
        for frame in chunked.frames {
            do {
                try frame.serialize(into: &reserialized)
            } catch {
                preconditionFailure("a decoded frame failed to serialize: \(error)")
            }
        }
        precondition(input.starts(with: reserialized), "the frames do not serialize to the bytes they came from")

        let batchDecoder = BatchDecoder(limits: limits)
        for frame in chunked.frames {
            for type in FrameType.known {
                var retyped = frame
                retyped.type = type
                decodePayload(of: retyped, batchDecoder: batchDecoder, limits: limits)
            }
        }
    }

    /// `input` with the CRC field of every complete frame header set to the CRC32 of its payload.
    private static func withCorrectCRCs(_ input: [UInt8]) -> [UInt8] {
        var bytes = input
        var start = 0
        while start + Frame.headerSize <= bytes.count {
            let length = bytes[start + 8..<start + 12].reduce(0) { $0 << 8 | Int($1) }
            let payloadStart = start + Frame.headerSize
            let payloadEnd = min(bytes.count, payloadStart + length)
            let crc = Zlib.crc32(bytes[payloadStart..<payloadEnd])
            for index in 0..<4 {
                bytes[start + 12 + index] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * index))
            }
            start = payloadEnd
        }
        return bytes
    }

    /// The frames of a stream, and the error that stopped it.
    private static func decodeStream(
        _ input: [UInt8], chunkSizes: ChunkSizes?, limits: WireLimits
    ) -> (frames: [Frame], error: WireError?) {
        var decoder = FrameDecoder(limits: limits)
        var frames: [Frame] = []
        var sizes = chunkSizes
        var offset = 0
        repeat {
            let size = sizes?.next() ?? input.count
            let end = min(input.count, offset + size)
            decoder.append(input[offset..<end])
            offset = end
            do {
                while let frame = try decoder.nextFrame() {
                    precondition(FrameType.known.contains(frame.type), "decoder returned a frame of \(frame.type)")
                    frames.append(frame)
                }
            } catch {
                checkSticky(error, decoder: &decoder)
                return (frames, error)
            }
        } while offset < input.count

        // The stream ended: `finish` must complain exactly when bytes are left over.
        do {
            try decoder.finish()
            precondition(decoder.bufferedByteCount == 0, "finish() accepted \(decoder.bufferedByteCount) left over")
        } catch {
            precondition(error.code == .truncated, "finish() threw \(error) instead of truncated")
            precondition(decoder.bufferedByteCount > 0, "finish() threw \(error) with nothing buffered")
        }
        return (frames, nil)
    }

    private static func checkSticky(_ error: WireError, decoder: inout FrameDecoder) {
        decoder.append([0x41, 0x43, 0x53, 0x54])
        do {
            _ = try decoder.nextFrame()
            preconditionFailure("decoder recovered after \(error)")
        } catch let later {
            precondition(later == error, "nextFrame() threw \(later) after \(error)")
        }
        do {
            try decoder.finish()
            preconditionFailure("finish() succeeded after \(error)")
        } catch let later {
            precondition(later == error, "finish() threw \(later) after \(error)")
        }
    }

    /// Decodes the payload as the frame's type says, touches every field, and round-trips what decoded.
    private static func decodePayload(of frame: Frame, batchDecoder: BatchDecoder, limits: WireLimits) {
        switch frame.type {
        case .batch:
            guard let batch = try? batchDecoder.decode(frame) else { return }
            var events: [Event] = []
            for view in batch {
                let event = view.event
                precondition(view.kind == event?.payload.kind, "kind disagrees with payload")
                precondition(view.agentID == agentID(of: event), "agentID disagrees with payload")
                precondition(view.timeUnixNano == event?.timeUnixNano ?? view.timeUnixNano, "time disagrees")
                if let event {
                    events.append(event)
                }
            }
            roundTrip(Batch(producerID: batch.producerID, sequence: batch.sequence, events: events))
        case .hello:
            guard let hello = try? Hello(decoding: frame, limits: limits) else { return }
            roundTrip(hello)
        default:
            guard let ack = try? Ack(decoding: frame, limits: limits) else { return }
            roundTrip(ack)
        }
    }

    private static func roundTrip(_ batch: Batch) {
        do {
            let again = try Batch(decoding: try batch.makeFrame(compressionLevel: compressionLevel(batch.sequence)))
            precondition(again.canonical == batch.canonical, "batch changed in a round trip")
        } catch {
            preconditionFailure("a decoded batch failed to round-trip: \(error)")
        }
    }

    private static func roundTrip(_ hello: Hello) {
        do {
            let again = try Hello(decoding: try hello.makeFrame())
            precondition(again == hello, "hello changed in a round trip")
        } catch {
            preconditionFailure("a decoded hello failed to round-trip: \(error)")
        }
    }

    private static func roundTrip(_ ack: Ack) {
        do {
            let again = try Ack(decoding: try ack.makeFrame(compressionLevel: compressionLevel(ack.sequence)))
            precondition(again == ack, "ack changed in a round trip")
        } catch {
            preconditionFailure("a decoded ack failed to round-trip: \(error)")
        }
    }

    /// Mostly plain; for one message in eight (by a number it carries) one of zlib's levels, so that deflate is
    /// exercised too without costing most of the speed (deflate's state is large).
    private static func compressionLevel(_ number: UInt64) -> Int? {
        number % 8 == 7 ? Int(number / 8 % 10) : nil
    }

    private static func agentID(of event: Event?) -> String {
        switch event?.payload {
        case .cycleStart(let fields): fields.agentID
        case .spend(let fields): fields.agentID
        case .cycleEnd(let fields): fields.agentID
        case .setBudget(let fields): fields.agentID
        case .resume(let fields): fields.agentID
        case .createGoal, nil: ""
        }
    }
}

extension Batch {
    /// Every field as text, doubles by their bits, so that NaN and -0.0 compare exactly.
    fileprivate var canonical: String {
        var text = "\(producerID)|\(sequence)"
        for event in events {
            text += "\n\(event.timeUnixNano) "
            switch event.payload {
            case .cycleStart(let fields):
                text += "cycle_start \(fields.agentID)"
            case .spend(let fields):
                text += "spend \(fields.agentID)|\(fields.costUSD.bitPattern)|\(fields.goalID)|\(fields.model)|"
                text += "\(fields.inputTokens)|\(fields.outputTokens)"
            case .cycleEnd(let fields):
                text += "cycle_end \(fields.agentID)"
            case .setBudget(let fields):
                text += "set_budget \(fields.agentID)|\(fields.budgetUSD.bitPattern)|\(fields.period.rawValue)|"
                text += "\(fields.warningRatio.bitPattern)|\(fields.clear)"
            case .resume(let fields):
                text += "resume \(fields.agentID)|\(fields.force)"
            case .createGoal(let fields):
                text += "create_goal \(fields.goalID)|\(fields.name)|\(fields.budgetUSD.bitPattern)|\(fields.parentID)"
            }
        }
        return text
    }
}

/// Chunk sizes drawn from a seed: mostly tiny pieces (header fields arriving byte by byte), sometimes large ones.
private struct ChunkSizes {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> Int {
        // splitmix64
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        mixed ^= mixed >> 31
        return 1 + Int((mixed >> 8) % (mixed & 3 == 0 ? 4096 : 20))
    }
}

private func fnv1a(_ bytes: [UInt8]) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in bytes {
        hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
    }
    return hash
}

#if FUZZING
    /// libFuzzer's driver, for programs that have their own `main`.
    @_silgen_name("LLVMFuzzerRunDriver")
    private func runFuzzerDriver(
        _ argc: UnsafeMutablePointer<Int32>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
    ) -> Int32

    @main
    enum FrameDecoderFuzzDriver {
        static func main() {
            var argc = CommandLine.argc
            var argv = CommandLine.unsafeArgv
            exit(runFuzzerDriver(&argc, &argv, fuzzOneInput))
        }
    }
#else
    /// The plain build's command line: write the seed corpus, or replay inputs through the harness.
    @main
    enum FrameDecoderFuzzTool {
        static func main() throws {
            let arguments = Array(CommandLine.arguments.dropFirst())
            if arguments.first == "seeds", arguments.count == 2 {
                try writeSeeds(into: URL(fileURLWithPath: arguments[1]))
                return
            }
            guard !arguments.isEmpty, !arguments.contains(where: { $0.hasPrefix("-") }) else {
                print("usage: FrameDecoderFuzz seeds DIR | FrameDecoderFuzz FILE_OR_DIR...")
                exit(2)
            }
            var count = 0
            for path in arguments {
                for file in try inputFiles(at: path) {
                    FuzzHarness.run(Array(try Data(contentsOf: file)))
                    count += 1
                }
            }
            print("ran \(count) inputs through the harness: no invariant broken")
        }

        private static func inputFiles(at path: String) throws -> [URL] {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                return [URL(fileURLWithPath: path)]
            }
            let names = try FileManager.default.contentsOfDirectory(atPath: path).sorted()
            return names.map { URL(fileURLWithPath: path).appendingPathComponent($0) }
        }

        /// A few valid streams, one file each: every frame type, compressed and plain.
        private static func writeSeeds(into directory: URL) throws {
            let events = seedEvents
            let seeds: [(String, [Frame])] = [
                ("hello", [try Hello(token: "s3cret", producerID: "fleet-a", clientVersion: "fuzz/1").makeFrame()]),
                ("batch-compressed", [try Batch(producerID: "fleet-a", sequence: 1, events: events).makeFrame()]),
                (
                    "batch-plain",
                    [try Batch(producerID: "fleet-a", sequence: 2, events: events).makeFrame(compressionLevel: nil)]
                ),
                ("batch-empty", [Frame(type: .batch, payload: [])]),
                (
                    "ack-plain",
                    [
                        try Ack(
                            sequence: 7, status: .ok, applied: 5, rejected: 1,
                            rejections: [Ack.Rejection(index: 2, reason: "negative_cost")],
                            pausedAgents: ["coder-7"], message: "partly applied"
                        ).makeFrame()
                    ]
                ),
                (
                    "ack-compressed",
                    [try Ack(sequence: 0, status: .rejected, message: "bad token").makeFrame(compressionLevel: 6)]
                ),
                (
                    "stream",
                    [
                        try Hello(token: "", producerID: "fleet-b", clientVersion: "").makeFrame(),
                        try Batch(producerID: "fleet-b", sequence: 1, events: Array(events.prefix(2))).makeFrame(),
                        try Ack(sequence: 1, status: .retryLater).makeFrame(),
                    ]
                ),
            ]
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            for (name, frames) in seeds {
                var bytes: [UInt8] = []
                for frame in frames {
                    try frame.serialize(into: &bytes)
                }
                try Data(bytes).write(to: directory.appendingPathComponent(name))
            }
            print("wrote \(seeds.count) seeds to \(directory.path)")
        }

        private static let seedEvents: [Event] = [
            Event(timeUnixNano: 1_700_000_000_000_000_001, .cycleStart(CycleStart(agentID: "planner-1"))),
            Event(
                timeUnixNano: 1_700_000_000_000_000_002,
                .spend(
                    Spend(
                        agentID: "planner-1", costUSD: 0.0125, goalID: "q3", model: "gpt-4o", inputTokens: 1200,
                        outputTokens: 340))),
            Event(timeUnixNano: 1_700_000_000_000_000_003, .cycleEnd(CycleEnd(agentID: "planner-1"))),
            Event(
                timeUnixNano: 1_700_000_000_000_000_004,
                .setBudget(SetBudget(agentID: "coder-7", budgetUSD: 25, period: .weekly, warningRatio: 0.9))),
            Event(timeUnixNano: 1_700_000_000_000_000_005, .resume(Resume(agentID: "coder-7", force: true))),
            Event(
                timeUnixNano: -1,
                .createGoal(CreateGoal(goalID: "q3", name: "Q3 ✓ 発売", budgetUSD: 500, parentID: "2026"))),
        ]
    }
#endif
