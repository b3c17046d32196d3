// `agentcostctl gen`: writes back-to-back, pre-compressed batch frames for load tests.

import AgentCostWire
import Foundation

enum GenerateCommand {
    static let help = """
        Usage: agentcostctl gen --out FILE [FLAGS]

        Writes FILE: batch frames back to back, exactly as sent on the wire, with sequences 1..N of one producer.
        The events are a realistic mix: each agent runs cycles of a start, eight spends over a few models and
        goals, and an end; agents take turns, so a frame touches many agents.

        Flags:
          --out FILE              the file to write (required)
          --frames N              number of frames (default 100)
          --events-per-frame N    events per frame (default 1000)
          --agents N              distinct agents (default 1000)
          --level N               zlib level 0-9 (default 6)
          --producer ID           producer id of every frame (default agentcostctl-gen)

        """

    static func run(_ arguments: ArraySlice<String>) throws(CtlError) {
        let options = try CommandLineOptions(
            arguments, subcommand: "gen",
            valued: ["out", "frames", "events-per-frame", "agents", "level", "producer"])
        if options.wantsHelp {
            print(help, terminator: "")
            return
        }
        guard options.positionals.isEmpty else {
            throw CtlError(
                .usage, "'gen' takes no positional arguments (given '\(options.positionals[0])'); see --help")
        }
        guard let path = options.values["out"] else {
            throw CtlError(.usage, "'gen' needs --out FILE")
        }
        let frames = try options.integer("frames", default: 100, in: 1...10_000_000)
        let eventsPerFrame = try options.integer("events-per-frame", default: 1000, in: 1...1_000_000)
        let agents = try options.integer("agents", default: 1000, in: 1...10_000_000)
        let level = try options.integer("level", default: 6, in: 0...9)
        let producer = options.string("producer", default: "agentcostctl-gen")

        guard FileManager.default.createFile(atPath: path, contents: nil),
            let handle = FileHandle(forWritingAtPath: path)
        else {
            throw CtlError(.failure, "cannot create file '\(path)'; check the directory and permissions")
        }
        defer { try? handle.close() }

        var generator = LoadGenerator(agents: agents)
        var bytes: [UInt8] = []
        var total = 0
        for sequence in 1...frames {
            let batch = Batch(producerID: producer, sequence: UInt64(sequence), events: generator.next(eventsPerFrame))
            bytes.removeAll(keepingCapacity: true)
            do {
                try batch.makeFrame(compressionLevel: level).serialize(into: &bytes)
            } catch {
                throw CtlError(.failure, "cannot encode frame \(sequence): \(error.message)")
            }
            do {
                try handle.write(contentsOf: bytes)
            } catch {
                throw CtlError(.failure, "cannot write '\(path)': \(error)")
            }
            total += bytes.count
        }
        print("wrote \(frames) frames, \(frames * eventsPerFrame) events, \(total) bytes to \(path)")
    }
}

/// A deterministic stream of events: agents take turns, each running start, eight spends, end.
struct LoadGenerator {
    let agents: Int
    private var counter = 0
    private var random: UInt64 = 0x9E37_79B9_7F4A_7C15

    static let models = ["gpt-4o", "gpt-4o-mini", "claude-sonnet", "llama-70b"]
    static let baseTime: Int64 = 1_700_000_000_000_000_000

    init(agents: Int) {
        self.agents = agents
    }

    mutating func next(_ count: Int) -> [Event] {
        var events: [Event] = []
        events.reserveCapacity(count)
        for _ in 0..<count {
            events.append(nextEvent())
        }
        return events
    }

    private mutating func nextEvent() -> Event {
        let agentNumber = counter % agents
        let round = counter / agents
        let time = LoadGenerator.baseTime + Int64(counter) * 1_000_000
        counter += 1
        let agent = "agent-\(agentNumber)"
        switch round % 10 {
        case 0:
            return Event(timeUnixNano: time, .cycleStart(CycleStart(agentID: agent)))
        case 9:
            return Event(timeUnixNano: time, .cycleEnd(CycleEnd(agentID: agent)))
        default:
            let draw = nextRandom()
            let spend = Spend(
                agentID: agent, costUSD: Double(draw % 5000) / 100_000,
                goalID: draw % 3 == 0 ? "goal-\(agentNumber % 20)" : "",
                model: LoadGenerator.models[Int(draw >> 8) % LoadGenerator.models.count],
                inputTokens: 100 + draw % 4000, outputTokens: 10 + (draw >> 16) % 800)
            return Event(timeUnixNano: time, .spend(spend))
        }
    }

    /// SplitMix64: fast, and the same file every run.
    private mutating func nextRandom() -> UInt64 {
        random &+= 0x9E37_79B9_7F4A_7C15
        var value = random
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        return value ^ (value >> 31)
    }
}
