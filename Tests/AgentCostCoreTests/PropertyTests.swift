import Testing

@testable import AgentCostCore

/// Random event sequences checked against a small independent model of the contract.
@Suite("Properties over random event sequences")
struct PropertyTests {
    /// What the model expects of one agent.
    struct ModelAgent {
        var cumulative: Int64 = 0
        var spendByDay: [Int64: Int64] = [:]
        var budget: Int64?
        var daily = false
        var overridden = false
        /// The latest UTC day the tracker has seen for this agent: periods roll when the agent's events move on.
        var seenDay: Int64 = 0

        mutating func observe(day: Int64) {
            if day > seenDay, daily {
                overridden = false
            }
            seenDay = max(seenDay, day)
        }

        var periodSpend: Int64 {
            daily ? spendByDay[seenDay, default: 0] : cumulative
        }

        var shouldBePaused: Bool {
            guard let budget, !overridden else { return false }
            return periodSpend >= budget
        }
    }

    @Test(
        "spend sums exactly; an agent is paused exactly when its period spend reaches its budget unless forced",
        arguments: 1...12
    )
    func randomSequences(seed: UInt64) throws {
        var random = SeededGenerator(state: seed)
        let tracker = try HeartbeatTracker(shardCount: 4)
        let agents = ["a", "b", "c"]
        var model: [String: ModelAgent] = [:]
        var clock = noon
        let nanosPerDay: Int64 = 86_400_000_000_000
        var pausedChecks = 0
        var forcedResumes = 0

        for _ in 0..<3_000 {
            let agent = agents.randomElement(using: &random)!
            // Time only moves forward, sometimes across a UTC day.
            clock = clock.advanced(bySeconds: Double(Int.random(in: 0...7_200, using: &random)))
            let day = clock.nanosecondsSinceEpoch / nanosPerDay

            switch Int.random(in: 0..<100, using: &random) {
            case 0..<10:
                try tracker.startCycle(agent, at: clock)
                model[agent, default: ModelAgent()].observe(day: day)
            case 10..<20:
                tracker.endCycle(agent, at: clock)
                model[agent]?.observe(day: day)
            case 20..<80:
                let nanos = Int64.random(in: -50_000_000...400_000_000, using: &random)
                do {
                    try tracker.recordSpend(agent, Money(nanos: nanos), at: clock)
                    model[agent, default: ModelAgent()].observe(day: day)
                    model[agent]!.cumulative += nanos
                    model[agent]!.spendByDay[day, default: 0] += nanos
                    #expect(nanos >= 0)
                } catch {
                    #expect(nanos < 0)
                    #expect(error.code == .invalidAmount)
                }
            case 80..<88:
                let budget = Int64.random(in: 1...5, using: &random) * 1_000_000_000
                let daily = Bool.random(using: &random)
                try tracker.setBudget(
                    agent, budget: Money(nanos: budget), period: daily ? .daily : .lifetime, at: clock)
                model[agent, default: ModelAgent()].observe(day: day)
                model[agent]!.budget = budget
                model[agent]!.daily = daily
                model[agent]!.overridden = false
            case 88..<96:
                let force = Bool.random(using: &random)
                model[agent]?.observe(day: day)
                let wasPaused = model[agent]?.shouldBePaused ?? false
                do {
                    let resumed = try tracker.resumeAgent(agent, force: force, at: clock)
                    #expect(resumed == wasPaused)
                    if resumed {
                        model[agent]!.overridden = true
                        forcedResumes += 1
                    }
                } catch {
                    #expect(error.code == .unknownAgent || (error.code == .resumeRefused && !force && wasPaused))
                }
            default:
                tracker.advanceClock(to: clock)
                for id in model.keys {
                    model[id]!.observe(day: day)
                }
            }

            for id in agents {
                let expected = model[id] ?? ModelAgent()
                #expect(tracker.cumulativeSpend(id).nanos == expected.cumulative)
                #expect(tracker.isPaused(id) == expected.shouldBePaused, "agent \(id), seed \(seed)")
                pausedChecks += expected.shouldBePaused ? 1 : 0
                if let summary = tracker.agentSummary(id), expected.budget != nil {
                    #expect(summary.periodSpend.nanos == expected.periodSpend)
                }
            }
        }

        // The sequences must reach the interesting states, or the property says nothing.
        #expect(pausedChecks > 100)
        #expect(forcedResumes > 0)
    }
}

@Suite("Runs of commands")
struct AgentCommandTests {
    @Test("a run applied under one lock has exactly the effect of the same calls one by one", arguments: 1...5)
    func runEqualsCalls(seed: UInt64) throws {
        var random = SeededGenerator(state: seed)
        let oneByOne = EventLog()
        let inRuns = EventLog()
        let single = try HeartbeatTracker(eventHandler: oneByOne.handler)
        let batched = try HeartbeatTracker(eventHandler: inRuns.handler)
        try single.setBudget("a", budget: 3, at: noon)
        try batched.setBudget("a", budget: 3, at: noon)

        var clock = noon
        for _ in 0..<40 {
            var commands: [AgentCommand] = []
            for _ in 0..<Int.random(in: 1...12, using: &random) {
                clock = clock.advanced(bySeconds: 10)
                switch Int.random(in: 0..<10, using: &random) {
                case 0..<2: commands.append(.startCycle(at: clock))
                case 2..<4: commands.append(.endCycle(at: clock))
                case 4: commands.append(.spend(Money(nanos: -1), at: clock))
                default:
                    commands.append(.spend(Money(nanos: Int64.random(in: 0...90_000_000, using: &random)), at: clock))
                }
            }

            let failures = try batched.apply(commands, to: "a")
            var expectedFailures: [Int] = []
            for (index, command) in commands.enumerated() {
                switch command {
                case .startCycle(let time):
                    try single.startCycle("a", at: time)
                case .endCycle(let time):
                    if single.endCycle("a", at: time) == nil { expectedFailures.append(index) }
                case .spend(let cost, let time):
                    do { try single.recordSpend("a", cost, at: time) } catch { expectedFailures.append(index) }
                }
            }
            #expect(failures.map(\.index) == expectedFailures)
        }

        #expect(batched.agentSummary("a") == single.agentSummary("a"))
        #expect(batched.agentCycles("a", limit: 100) == single.agentCycles("a", limit: 100))
        #expect(inRuns.events == oneByOne.events)
        #expect(oneByOne.pauses.count == 1)
    }

    @Test("a run for an invalid agent id, or of cycle ends for an unknown agent, applies nothing")
    func invalidRun() throws {
        let tracker = try HeartbeatTracker()
        #expect(throws: TrackerError.self) { try tracker.apply([.startCycle(at: noon)], to: "") }
        let failures = try tracker.apply([.endCycle(at: noon), .endCycle(at: noon)], to: "never-started")
        #expect(failures.map(\.index) == [0, 1])
        #expect(failures.allSatisfy { $0.error.code == .noOpenCycle })
        #expect(tracker.agentCount == 0)
        #expect(tracker.allAgents().isEmpty)
    }
}

@Suite("State records")
struct StateRecordTests {
    @Test("an agent rebuilt from its record is indistinguishable from the original, in state and in what follows")
    func recordRoundTrip() throws {
        var random = SeededGenerator(state: 42)
        let original = try HeartbeatTracker(configuration: TrackerConfiguration(rollingWindow: 4, retainedCycles: 6))
        var clock = noon
        try original.setBudget("a", budget: 2, period: .daily, at: clock)
        try original.setBudget("b", budget: 50, at: clock)
        for _ in 0..<300 {
            clock = clock.advanced(bySeconds: Double(Int.random(in: 1...900, using: &random)))
            let agent = Bool.random(using: &random) ? "a" : "b"
            switch Int.random(in: 0..<4, using: &random) {
            case 0: try original.startCycle(agent, at: clock)
            case 1: original.endCycle(agent, at: clock)
            default:
                try original.recordSpend(
                    agent, Money(nanos: Int64.random(in: 0...90_000_000, using: &random)), at: clock)
            }
        }

        let copy = try HeartbeatTracker(configuration: original.configuration)
        var restored = 0
        original.capture().forEachAgent { record in
            try? copy.restore(record)
            restored += 1
        }
        #expect(restored == 2)
        for agent in ["a", "b"] {
            #expect(copy.agentSummary(agent) == original.agentSummary(agent))
            #expect(copy.agentCycles(agent, limit: 100) == original.agentCycles(agent, limit: 100))
        }

        // The same events afterwards give the same results: the baseline, calendar and budget came through.
        for step in 0..<40 {
            let time = clock.advanced(bySeconds: Double(step) * 3600)
            for tracker in [original, copy] {
                try tracker.startCycle("a", at: time)
                try tracker.recordSpend("a", Money(nanos: Int64(step) * 5_000_000), at: time)
                tracker.endCycle("a", at: time.advanced(bySeconds: 5))
            }
        }
        #expect(copy.agentSummary("a") == original.agentSummary("a"))
        #expect(copy.agentCycles("a", limit: 100) == original.agentCycles("a", limit: 100))
    }

    @Test("goals rebuilt from their records keep their tree, totals and budget state")
    func goalRoundTrip() throws {
        let goals = try GoalService()
        try goals.createGoal("root", name: "Root", budget: Money(nanos: 1_000_000_000), at: noon)
        try goals.createGoal("leaf", name: "Leaf", parent: "root", at: noon)
        try goals.recordSpend("leaf", 0.9, at: noon)
        try goals.recordSpend("loose", 0.1, at: noon)

        let copy = try GoalService()
        copy.restore(goals.records())
        #expect(copy.allGoalCosts() == goals.allGoalCosts())
        let events = EventLog()
        let watched = try GoalService(eventHandler: events.handler)
        watched.restore(goals.records())
        try watched.recordSpend("leaf", 0.2, at: noon)
        #expect(events.events.count == 1)  // exceeded only: the warning had fired before the snapshot
    }
}
