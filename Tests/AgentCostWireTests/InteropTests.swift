// Codec-level interop with another protobuf implementation: Python's `protobuf` and `zlib` (Tests/interop/).
//
// `make interop` has Tests/interop/encode_batch.py write frames and, as JSON lines, the values it meant; these tests
// decode the frames and compare, then encode the same values with this library for Tests/interop/check_frames.py to
// parse with Python. Without AGENTCOST_INTEROP_DIR (a plain `swift test`) they are skipped.
import AgentCostWire
import Foundation
import Testing

private let interopDirectory = ProcessInfo.processInfo.environment["AGENTCOST_INTEROP_DIR"]

@Suite(.enabled(if: interopDirectory != nil, "needs AGENTCOST_INTEROP_DIR; run `make interop`"))
struct InteropTests {
    @Test func framesEncodedByPythonDecodeToTheValuesPythonMeant() throws {
        let directory = URL(fileURLWithPath: try #require(interopDirectory))
        let expected = try readExpectedFrames(directory.appendingPathComponent("python-expected.jsonl"))
        let bytes = try Data(contentsOf: directory.appendingPathComponent("python-frames.bin"))

        // Split the stream in pieces, as a socket would deliver it.
        var decoder = FrameDecoder()
        var frames: [Frame] = []
        for offset in stride(from: 0, to: bytes.count, by: 1000) {
            decoder.append(bytes[offset..<min(bytes.count, offset + 1000)])
            while let frame = try decoder.nextFrame() {
                frames.append(frame)
            }
        }
        try decoder.finish()
        try #require(frames.count == expected.count)

        let batchDecoder = BatchDecoder()
        for (index, (frame, value)) in zip(frames, expected).enumerated() {
            #expect(frame.type.description == value.frame, "frame \(index)")
            #expect(frame.flags.contains(.compressed) == value.compressed, "frame \(index)")
            switch value.frame {
            case "batch":
                let batch = try batchDecoder.decode(frame)
                #expect(batch.producerID == value.producerId, "frame \(index)")
                #expect(batch.sequence == (try value.sequenceNumber()), "frame \(index)")
                let actual = batch.map { canonical($0.event) }
                let meant = try (value.events ?? []).map { canonical(try $0.makeEvent()) }
                #expect(actual == meant, "frame \(index)")
            case "hello":
                #expect(try Hello(decoding: frame) == (try value.makeHello()), "frame \(index)")
            default:
                #expect(try Ack(decoding: frame) == (try value.makeAck()), "frame \(index)")
            }
        }
    }

    @Test func theValuesPythonMeantEncodeToFramesForPythonToCheck() throws {
        let directory = URL(fileURLWithPath: try #require(interopDirectory))
        let expected = try readExpectedFrames(directory.appendingPathComponent("python-expected.jsonl"))

        // A batch with an event without a kind cannot be built from `Event`s; check_frames.py skips those too.
        var bytes: [UInt8] = []
        var written = 0
        for value in expected {
            let level = value.compressed ? 6 : nil
            switch value.frame {
            case "batch":
                let events = try (value.events ?? []).map { try $0.makeEvent() }
                guard events.allSatisfy({ $0 != nil }) else { continue }
                let batch = Batch(
                    producerID: value.producerId ?? "", sequence: try value.sequenceNumber(),
                    events: events.compactMap { $0 })
                try batch.makeFrame(compressionLevel: level).serialize(into: &bytes)
            case "hello":
                try value.makeHello().makeFrame().serialize(into: &bytes)
            default:
                try value.makeAck().makeFrame(compressionLevel: level).serialize(into: &bytes)
            }
            written += 1
        }
        #expect(written > 10)
        try Data(bytes).write(to: directory.appendingPathComponent("swift-frames.bin"))
    }
}

// MARK: - The JSON lines encode_batch.py writes

private func readExpectedFrames(_ file: URL) throws -> [ExpectedFrame] {
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    let text = try String(contentsOf: file, encoding: .utf8)
    return try text.split(separator: "\n").map { try decoder.decode(ExpectedFrame.self, from: Data($0.utf8)) }
}

private struct InteropError: Error, CustomStringConvertible {
    var description: String
}

/// One frame's values: the fields of a hello, a batch or an ack, whichever `frame` says.
private struct ExpectedFrame: Decodable {
    var frame: String
    var compressed: Bool
    var token: String?
    var producerId: String?
    var clientVersion: String?
    var sequence: String?
    var events: [ExpectedEvent]?
    var status: Int32?
    var applied: UInt32?
    var rejected: UInt32?
    var rejections: [ExpectedRejection]?
    var pausedAgents: [String]?
    var message: String?

    func sequenceNumber() throws -> UInt64 {
        guard let sequence, let number = UInt64(sequence) else {
            throw InteropError(description: "sequence \(String(describing: sequence)) is not a uint64")
        }
        return number
    }

    func makeHello() throws -> Hello {
        Hello(token: token ?? "", producerID: producerId ?? "", clientVersion: clientVersion ?? "")
    }

    func makeAck() throws -> Ack {
        Ack(
            sequence: try sequenceNumber(), status: Ack.Status(rawValue: status ?? 0), applied: applied ?? 0,
            rejected: rejected ?? 0,
            rejections: (rejections ?? []).map { Ack.Rejection(index: $0.index, reason: $0.reason) },
            pausedAgents: pausedAgents ?? [], message: message ?? "")
    }
}

private struct ExpectedRejection: Decodable {
    var index: UInt32
    var reason: String
}

private struct ExpectedEvent: Decodable {
    var timeUnixNano: String
    var kind: String?
    var agentId: String?
    var costUsd: JSONDouble?
    var goalId: String?
    var model: String?
    var inputTokens: String?
    var outputTokens: String?
    var budgetUsd: JSONDouble?
    var period: Int32?
    var warningRatio: JSONDouble?
    var clear: Bool?
    var force: Bool?
    var name: String?
    var parentId: String?

    /// The event, or `nil` for an event without a kind.
    func makeEvent() throws -> Event? {
        guard let time = Int64(timeUnixNano) else {
            throw InteropError(description: "time_unix_nano \(timeUnixNano) is not an int64")
        }
        let agent = agentId ?? ""
        let payload: Event.Payload
        switch kind {
        case nil:
            return nil
        case "cycle_start":
            payload = .cycleStart(CycleStart(agentID: agent))
        case "spend":
            payload = .spend(
                Spend(
                    agentID: agent, costUSD: costUsd?.value ?? 0, goalID: goalId ?? "", model: model ?? "",
                    inputTokens: try uint64(inputTokens), outputTokens: try uint64(outputTokens)))
        case "cycle_end":
            payload = .cycleEnd(CycleEnd(agentID: agent))
        case "set_budget":
            payload = .setBudget(
                SetBudget(
                    agentID: agent, budgetUSD: budgetUsd?.value ?? 0, period: BudgetPeriod(rawValue: period ?? 0),
                    warningRatio: warningRatio?.value ?? 0, clear: clear ?? false))
        case "resume":
            payload = .resume(Resume(agentID: agent, force: force ?? false))
        case "create_goal":
            payload = .createGoal(
                CreateGoal(
                    goalID: goalId ?? "", name: name ?? "", budgetUSD: budgetUsd?.value ?? 0,
                    parentID: parentId ?? ""))
        case let other?:
            throw InteropError(description: "unknown event kind \(other)")
        }
        return Event(timeUnixNano: time, payload)
    }

    private func uint64(_ text: String?) throws -> UInt64 {
        guard let number = UInt64(text ?? "0") else {
            throw InteropError(description: "\(text ?? "") is not a uint64")
        }
        return number
    }
}

/// A double as the proto3 JSON mapping writes it: a number, or "NaN", "Infinity", "-Infinity".
private struct JSONDouble: Decodable {
    var value: Double

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        guard let text = try? container.decode(String.self) else {
            value = try container.decode(Double.self)
            return
        }
        switch text {
        case "NaN": value = .nan
        case "Infinity": value = .infinity
        case "-Infinity": value = -.infinity
        default:
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "\(text) is not a double")
        }
    }
}

/// An event as text, doubles by their bits (any NaN as "nan"), so that -0.0 and 0.0 differ.
private func canonical(_ event: Event?) -> String {
    guard let event else { return "no kind" }
    func bits(_ value: Double) -> String { value.isNaN ? "nan" : String(value.bitPattern, radix: 16) }
    let fields: String
    switch event.payload {
    case .cycleStart(let cycleStart):
        fields = "cycle_start \(cycleStart.agentID)"
    case .spend(let spend):
        fields =
            "spend \(spend.agentID) \(bits(spend.costUSD)) \(spend.goalID) \(spend.model) \(spend.inputTokens) "
            + "\(spend.outputTokens)"
    case .cycleEnd(let cycleEnd):
        fields = "cycle_end \(cycleEnd.agentID)"
    case .setBudget(let setBudget):
        fields =
            "set_budget \(setBudget.agentID) \(bits(setBudget.budgetUSD)) \(setBudget.period.rawValue) "
            + "\(bits(setBudget.warningRatio)) \(setBudget.clear)"
    case .resume(let resume):
        fields = "resume \(resume.agentID) \(resume.force)"
    case .createGoal(let createGoal):
        fields =
            "create_goal \(createGoal.goalID) \(createGoal.name) \(bits(createGoal.budgetUSD)) \(createGoal.parentID)"
    }
    return "\(event.timeUnixNano) \(fields)"
}
