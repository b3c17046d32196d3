import Testing

@testable import AgentCostCore

@Suite("HeartbeatTracker")
struct HeartbeatTrackerTests {
    // MARK: Cycles

    @Test("the seed's basic cycle: 0.05 + 0.03 costs 0.08 over 2 calls")
    func basicCycle() throws {
        let tracker = try HeartbeatTracker()
        try tracker.setBudget("agent-123", budget: 10.00, at: at(0))

        let cycleID = try tracker.startCycle("agent-123", at: at(0))
        try tracker.recordSpend("agent-123", 0.05, at: at(10))
        try tracker.recordSpend("agent-123", 0.03, at: at(20))
        let summary = try #require(tracker.endCycle("agent-123", at: at(30.5)))

        #expect(summary.id == cycleID)
        #expect(summary.agentID == "agent-123")
        #expect(summary.cost == usd("0.08"))
        #expect(summary.calls == 2)
        #expect(summary.status == .completed)
        #expect(summary.anomalyReason == nil)
        #expect(summary.startedAt == at(0))
        #expect(summary.endedAt == at(30.5))
    }

    @Test("durations come from the event times, not from when the events are processed")
    func durationFromEventTimes() throws {
        let tracker = try HeartbeatTracker()
        try tracker.startCycle("agent-1", at: Timestamp(secondsSinceEpoch: 1_000))
        let summary = try #require(tracker.endCycle("agent-1", at: Timestamp(secondsSinceEpoch: 1_030.5)))
        #expect(summary.durationSeconds == 30.5)

        // An end stamped before its start lasts zero seconds rather than a negative time.
        try tracker.startCycle("agent-1", at: Timestamp(secondsSinceEpoch: 2_000))
        let backwards = try #require(tracker.endCycle("agent-1", at: Timestamp(secondsSinceEpoch: 1_990)))
        #expect(backwards.durationSeconds == 0)
    }

    @Test("cycle ids are deterministic: the agent and the cycle's number")
    func deterministicCycleIDs() throws {
        let tracker = try HeartbeatTracker()
        #expect(try tracker.startCycle("agent-1", at: at(0)).description == "agent-1/1")
        #expect(try tracker.startCycle("agent-1", at: at(1)).description == "agent-1/2")
        #expect(try tracker.startCycle("agent-2", at: at(2)).description == "agent-2/1")
    }

    @Test("starting a cycle while one is open ends the open one first, with every check")
    func startEndsOpenCycle() throws {
        let events = EventLog()
        let tracker = try HeartbeatTracker(eventHandler: events.handler)
        for second in 0..<3 {
            try tracker.startCycle("agent-1", at: at(Double(second) * 10))
            try tracker.recordSpend("agent-1", 0.10, at: at(Double(second) * 10 + 1))
            tracker.endCycle("agent-1", at: at(Double(second) * 10 + 2))
        }

        try tracker.startCycle("agent-1", at: at(100))
        try tracker.recordSpend("agent-1", 0.90, at: at(101))
        let second = try tracker.startCycle("agent-1", at: at(102))

        let cycles = tracker.agentCycles("agent-1")
        #expect(cycles[0].id == second)
        #expect(cycles[0].status == .active)
        #expect(cycles[1].status == .anomaly)
        #expect(cycles[1].endedAt == at(102))
        #expect(events.events.contains { if case .anomaly = $0 { true } else { false } })
    }

    @Test("ending a cycle when none is open gives nil, never a crash")
    func endWithoutOpenCycle() throws {
        let tracker = try HeartbeatTracker()
        #expect(tracker.endCycle("never-seen", at: at(0)) == nil)
        try tracker.startCycle("agent-1", at: at(0))
        #expect(tracker.endCycle("agent-1", at: at(1)) != nil)
        #expect(tracker.endCycle("agent-1", at: at(2)) == nil)
    }

    @Test("spend outside an open cycle counts toward cumulative spend and budget, reported separately")
    func outOfCycleSpend() throws {
        let tracker = try HeartbeatTracker()
        try tracker.setBudget("agent-1", budget: 1.00, at: at(0))
        try tracker.recordSpend("agent-1", 0.30, at: at(1))
        try tracker.startCycle("agent-1", at: at(2))
        try tracker.recordSpend("agent-1", 0.20, at: at(3))
        tracker.endCycle("agent-1", at: at(4))
        try tracker.recordSpend("agent-1", 0.50, at: at(5))

        let summary = try #require(tracker.agentSummary("agent-1"))
        #expect(summary.cumulativeSpend == usd("1.00"))
        #expect(summary.outOfCycleSpend == usd("0.80"))
        #expect(summary.outOfCycleCalls == 2)
        #expect(summary.totalCost == usd("0.20"))
        #expect(summary.paused)
    }

    @Test("empty and over-long agent ids are rejected")
    func invalidAgentIDs() throws {
        let tracker = try HeartbeatTracker()
        #expect(throws: TrackerError.self) { try tracker.startCycle("", at: at(0)) }
        #expect(throws: TrackerError.self) {
            try tracker.recordSpend(String(repeating: "x", count: 257), 0.01, at: at(0))
        }
        #expect(tracker.allAgents().isEmpty)
    }

    @Test("a rejected cost for a new agent does not create it, through recordSpend or a run")
    func rejectedCostCreatesNoAgent() throws {
        let tracker = try HeartbeatTracker()
        #expect(throws: TrackerError.self) { try tracker.recordSpend("agent-1", Money(nanos: -1), at: at(0)) }
        #expect(throws: TrackerError.self) { try tracker.recordSpend("agent-2", .nan, at: at(0)) }
        #expect(throws: TrackerError.self) { try tracker.recordSpend("agent-3", -0.5, at: at(0)) }

        let failures = try tracker.apply([.spend(Money(nanos: -5), at: at(1))], to: "agent-4")
        #expect(failures.map(\.index) == [0])
        #expect(failures.first?.error.code == .invalidAmount)
        let mixed = try tracker.apply(
            [.endCycle(at: at(1)), .spend(Money(nanos: -5), at: at(2)), .endCycle(at: at(3))], to: "agent-5")
        #expect(mixed.map(\.error.code) == [.noOpenCycle, .invalidAmount, .noOpenCycle])

        #expect(tracker.allAgents().isEmpty)
        #expect(tracker.agentCount == 0)
        #expect(tracker.agentSummary("agent-4") == nil)

        // One good spend in the run is enough to bring the agent into being, with only that spend.
        let partly = try tracker.apply(
            [.spend(Money(nanos: -5), at: at(4)), .spend(usd("0.25"), at: at(5))], to: "agent-6")
        #expect(partly.map(\.index) == [0])
        #expect(tracker.allAgents() == ["agent-6"])
        #expect(tracker.cumulativeSpend("agent-6") == usd("0.25"))
    }

    @Test("an agent created for a call that then throws is removed again, and not counted")
    func throwingCallLeavesNoAgent() throws {
        let tracker = try HeartbeatTracker(configuration: TrackerConfiguration(maximumAgents: 1))
        #expect(throws: TrackerError.self) {
            try tracker.upsert("agent-1") { (_, _) throws(TrackerError) -> Int in
                throw TrackerError(.invalidAmount, "refused by the test")
            }
        }
        #expect(tracker.allAgents().isEmpty)
        #expect(tracker.agentCount == 0)

        // The place under the limit was given back.
        try tracker.recordSpend("agent-2", 0.10, at: at(0))
        #expect(tracker.allAgents() == ["agent-2"])
    }

    // MARK: Anomalies

    @Test("the seed's anomaly: five cycles near $0.10, then one of $0.50")
    func seedAnomaly() throws {
        let tracker = try HeartbeatTracker(anomalyMultiplier: 2.0)
        for (index, cost) in [0.09, 0.11, 0.10, 0.10, 0.10].enumerated() {
            try tracker.startCycle("agent-1", at: at(Double(index) * 60))
            try tracker.recordSpend("agent-1", cost, at: at(Double(index) * 60 + 5))
            #expect(tracker.endCycle("agent-1", at: at(Double(index) * 60 + 10))?.status == .completed)
        }

        try tracker.startCycle("agent-1", at: at(600))
        try tracker.recordSpend("agent-1", 0.50, at: at(601))
        let summary = try #require(tracker.endCycle("agent-1", at: at(602)))

        #expect(summary.status == .anomaly)
        #expect(summary.anomalyReason == "Cycle cost $0.50 is 5.0x the rolling average $0.10")
        #expect(tracker.agentSummary("agent-1")?.anomalyCount == 1)
    }

    @Test("a cycle at exactly the multiplier times the average is not an anomaly; just above it is")
    func anomalyIsStrictlyGreater() throws {
        let tracker = try HeartbeatTracker()
        try cycle(tracker, "agent-1", cost: 0.10, at: 0)
        #expect(try cycle(tracker, "agent-1", cost: 0.20, at: 10).status == .completed)
        // The average is now 0.15; 0.30 is exactly 2x.
        #expect(try cycle(tracker, "agent-1", cost: 0.30, at: 20).status == .completed)
        // Average of 0.10, 0.20, 0.30 = 0.20; 0.400000001 is just over 2x.
        #expect(try cycle(tracker, "agent-1", cost: 0.400000001, at: 30).status == .anomaly)
    }

    @Test("a multiplier of 3.0 is the one used: 2.9x the average is normal, 3.1x is an anomaly")
    func customMultiplier() throws {
        let tracker = try HeartbeatTracker(anomalyMultiplier: 3.0)
        try cycle(tracker, "agent-1", cost: 0.10, at: 0)

        let high = try cycle(tracker, "agent-1", cost: 0.31, at: 10)
        #expect(high.status == .anomaly)
        #expect(high.anomalyReason == "Cycle cost $0.31 is 3.1x the rolling average $0.10")
        // The anomaly stayed out of the average, so the next cycle is judged against $0.10 again.
        #expect(try cycle(tracker, "agent-1", cost: 0.29, at: 20).status == .completed)
        #expect(try cycle(tracker, "agent-1", cost: 0.30, at: 30).status == .completed)
    }

    @Test("an average below half a nano-dollar still flags a cycle above the multiplier, with a readable reason")
    func subNanoAverage() throws {
        let tracker = try HeartbeatTracker()
        // Baseline of ten cycles costing $0.000000001 in all: an average of a tenth of a nano-dollar.
        for index in 0..<10 {
            try tracker.startCycle("agent-1", at: at(Double(index) * 10))
            try tracker.recordSpend("agent-1", Money(nanos: index == 0 ? 1 : 0), at: at(Double(index) * 10 + 1))
            #expect(tracker.endCycle("agent-1", at: at(Double(index) * 10 + 2))?.status == .completed)
        }
        #expect(tracker.agentSummary("agent-1")?.rollingAverage == .zero)

        try tracker.startCycle("agent-1", at: at(100))
        try tracker.recordSpend("agent-1", Money(nanos: 1), at: at(101))
        let summary = try #require(tracker.endCycle("agent-1", at: at(102)))

        #expect(summary.status == .anomaly)
        #expect(summary.anomalyRatio == 10)
        #expect(summary.anomalyReason == "Cycle cost $0.000000001 is 10.0x the rolling average under $0.000000001")
        #expect(tracker.agentCycles("agent-1", limit: 1).first?.anomalyReason == summary.anomalyReason)
    }

    @Test("a record from before the exact baseline was kept restores its anomaly against the rounded average")
    func restoreRecordWithoutExactBaseline() throws {
        let tracker = try HeartbeatTracker()
        for (index, cost) in [0.10, 0.20, 0.90].enumerated() {
            try cycle(tracker, "agent-1", cost: cost, at: Double(index) * 10)
        }
        var record: AgentRecord?
        tracker.capture().forEachAgent { record = $0 }
        var old = try #require(record)
        #expect(old.history.last?.baselineSum == usd("0.30"))
        #expect(old.history.last?.baselineCycles == 2)
        for index in old.history.indices {
            old.history[index].baselineSum = nil
            old.history[index].baselineCycles = 0
        }

        let restored = try HeartbeatTracker()
        try restored.restore(old)
        let anomaly = try #require(restored.agentCycles("agent-1").first)
        #expect(anomaly.status == .anomaly)
        #expect(anomaly.anomalyReason == "Cycle cost $0.90 is 6.0x the rolling average $0.15")
        #expect(anomaly.anomalyReason == tracker.agentCycles("agent-1").first?.anomalyReason)
    }

    @Test("the comparison with the multiplier is exact, even where doubles would round")
    func exactComparison() throws {
        // 2^53 + 1 nano-dollars: a double rounds the average down and three times the cost up.
        let average: Int64 = 9_007_199_254_740_993
        let tracker = try HeartbeatTracker(anomalyMultiplier: 3.0)
        // Just over three times: an anomaly, which stays out of the average; exactly three times: normal.
        for (index, cost) in [average, 3 * average + 1, 3 * average].enumerated() {
            try tracker.startCycle("agent-1", at: at(Double(index) * 10))
            try tracker.recordSpend("agent-1", Money(nanos: cost), at: at(Double(index) * 10 + 1))
            tracker.endCycle("agent-1", at: at(Double(index) * 10 + 2))
        }
        #expect(tracker.agentCycles("agent-1").map(\.status) == [.completed, .anomaly, .completed])

        // The multiplier counts as the binary fraction a Double holds, whether above or below one.
        #expect(!AgentState.exceeds(cost: 15, multiplier: 1.5, baselineSum: 10, baselineCycles: 1))
        #expect(AgentState.exceeds(cost: 16, multiplier: 1.5, baselineSum: 10, baselineCycles: 1))
        #expect(!AgentState.exceeds(cost: 10, multiplier: 2.5, baselineSum: 8, baselineCycles: 2))
        #expect(AgentState.exceeds(cost: 11, multiplier: 2.5, baselineSum: 8, baselineCycles: 2))
        #expect(!AgentState.exceeds(cost: 1 << 60, multiplier: 0x1p60, baselineSum: 1, baselineCycles: 1))
        #expect(AgentState.exceeds(cost: (1 << 60) + 1, multiplier: 0x1p60, baselineSum: 1, baselineCycles: 1))
        #expect(!AgentState.exceeds(cost: .max, multiplier: 1e300, baselineSum: 1, baselineCycles: 10_000))
        #expect(!AgentState.exceeds(cost: 5, multiplier: 2, baselineSum: 0, baselineCycles: 3))
    }

    @Test("anomalous cycles never enter the rolling average")
    func anomaliesStayOutOfTheAverage() throws {
        let tracker = try HeartbeatTracker()
        try cycle(tracker, "agent-1", cost: 0.10, at: 0)
        #expect(try cycle(tracker, "agent-1", cost: 5.00, at: 10).status == .anomaly)
        #expect(try cycle(tracker, "agent-1", cost: 5.00, at: 20).status == .anomaly)
        #expect(tracker.agentSummary("agent-1")?.rollingAverage == usd("0.10"))
    }

    @Test("the rolling average covers only the last W normal cycles")
    func rollingWindow() throws {
        let tracker = try HeartbeatTracker(configuration: TrackerConfiguration(rollingWindow: 3))
        for (index, cost) in [1.00, 1.00, 1.00, 0.10, 0.10, 0.10].enumerated() {
            try cycle(tracker, "agent-1", cost: cost, at: Double(index) * 10)
        }
        #expect(tracker.agentSummary("agent-1")?.rollingAverage == usd("0.10"))
        // 0.25 would be normal against the old $1.00 cycles, but is over 2x the window's $0.10.
        #expect(try cycle(tracker, "agent-1", cost: 0.25, at: 100).status == .anomaly)
    }

    @Test("no anomaly before minimum history, nor against an average of zero")
    func anomalyNeedsHistory() throws {
        let tracker = try HeartbeatTracker(configuration: TrackerConfiguration(minimumHistory: 3))
        #expect(try cycle(tracker, "agent-1", cost: 0.10, at: 0).status == .completed)
        #expect(try cycle(tracker, "agent-1", cost: 9.00, at: 10).status == .completed)

        let zero = try HeartbeatTracker()
        #expect(try cycle(zero, "agent-2", cost: 0, at: 0).status == .completed)
        #expect(try cycle(zero, "agent-2", cost: 1.00, at: 10).status == .completed)
    }

    @Test("by default the rolling average covers the last 10 normal cycles")
    func defaultRollingWindow() throws {
        let tracker = try HeartbeatTracker()
        for (index, cost) in ([1.00, 0.55] + Array(repeating: 0.10, count: 9)).enumerated() {
            #expect(try cycle(tracker, "agent-1", cost: cost, at: Double(index) * 10).status == .completed)
        }
        // The last ten: 0.55 and nine of 0.10 (the last nine would give 0.10; all eleven 0.2227…).
        #expect(tracker.agentSummary("agent-1")?.rollingAverage == usd("0.145"))
    }

    @Test("sub-cent anomaly reasons keep their significant digits")
    func subCentReason() throws {
        let tracker = try HeartbeatTracker()
        try cycle(tracker, "agent-1", cost: 0.0012, at: 0)
        let summary = try cycle(tracker, "agent-1", cost: 0.0048, at: 10)
        #expect(summary.anomalyReason == "Cycle cost $0.0048 is 4.0x the rolling average $0.0012")
    }

    @Test("W, the multiplier and minimum history are validated")
    func configurationValidated() {
        #expect(throws: TrackerError.self) { try HeartbeatTracker(anomalyMultiplier: .nan) }
        #expect(throws: TrackerError.self) {
            try HeartbeatTracker(configuration: TrackerConfiguration(rollingWindow: 0))
        }
        #expect(throws: TrackerError.self) {
            try HeartbeatTracker(configuration: TrackerConfiguration(rollingWindow: 5, minimumHistory: 6))
        }
    }

    // MARK: Budgets and pauses

    @Test("the seed's auto-pause: a $1.00 budget over several cycles")
    func seedAutoPause() throws {
        let tracker = try HeartbeatTracker()
        try tracker.setBudget("agent-1", budget: 1.00, at: at(0))
        for index in 0..<4 {
            try cycle(tracker, "agent-1", cost: 0.30, at: Double(index) * 10)
        }
        #expect(tracker.isPaused("agent-1"))
        #expect(tracker.cumulativeSpend("agent-1") == usd("1.20"))
    }

    @Test("the budget is checked on every spend: the pause comes mid-cycle, the moment spend reaches the budget")
    func pauseMidCycle() throws {
        let events = EventLog()
        let tracker = try HeartbeatTracker(eventHandler: events.handler)
        try tracker.setBudget("agent-1", budget: 1.00, at: at(0))
        try tracker.startCycle("agent-1", at: at(0))
        try tracker.recordSpend("agent-1", 0.60, at: at(1))
        #expect(!tracker.isPaused("agent-1"))
        try tracker.recordSpend("agent-1", 0.40, at: at(2))

        #expect(tracker.isPaused("agent-1"))
        #expect(tracker.agentSummary("agent-1")?.activeCycle != nil)
        #expect(events.pauses.count == 1)
        #expect(events.pauses.first?.time == at(2))
    }

    @Test("the pause handler fires exactly once per transition, with agent, reason, spend and budget")
    func pauseHandlerOncePerTransition() throws {
        let pauses = EventLog()
        let tracker = try HeartbeatTracker(pauseHandler: { notice in pauses.handler(.paused(notice)) })
        try tracker.setBudget("agent-1", budget: 1.00, at: at(0))
        for index in 0..<5 {
            try tracker.recordSpend("agent-1", 0.40, at: at(Double(index)))
        }

        let notice = try #require(pauses.pauses.first)
        #expect(pauses.pauses.count == 1)
        #expect(notice.agentID == "agent-1")
        #expect(notice.reason == "Budget exceeded: $1.20 / $1.00")
        #expect(notice.spend == usd("1.20"))
        #expect(notice.budget == usd("1.00"))
    }

    @Test("a warning fires once, when spend first reaches the warning ratio")
    func warningOnce() throws {
        let events = EventLog()
        let tracker = try HeartbeatTracker(eventHandler: events.handler)
        try tracker.setBudget("agent-1", budget: 1.00, at: at(0))
        try tracker.recordSpend("agent-1", 0.79, at: at(1))
        #expect(events.warnings.isEmpty)
        try tracker.recordSpend("agent-1", 0.01, at: at(2))
        try tracker.recordSpend("agent-1", 0.05, at: at(3))

        #expect(events.warnings.count == 1)
        #expect(events.warnings.first?.spend == usd("0.80"))
    }

    @Test("a warning ratio given with the budget is the one used, and fires once")
    func customWarningRatio() throws {
        let events = EventLog()
        let tracker = try HeartbeatTracker(eventHandler: events.handler)
        try tracker.setBudget("agent-1", budget: 1.00, warningRatio: 0.5, at: at(0))
        try tracker.recordSpend("agent-1", 0.49, at: at(1))
        #expect(events.warnings.isEmpty)
        try tracker.recordSpend("agent-1", 0.01, at: at(2))
        try tracker.recordSpend("agent-1", 0.20, at: at(3))
        try tracker.recordSpend("agent-1", 0.05, at: at(4))

        #expect(events.warnings.count == 1)
        #expect(events.warnings.first?.spend == usd("0.50"))
        #expect(events.warnings.first?.time == at(2))
        #expect(tracker.agentSummary("agent-1")?.warningRatio == 0.5)
    }

    @Test("the warning is re-armed at a period boundary and by a new budget")
    func warningRearmed() throws {
        let events = EventLog()
        let tracker = try HeartbeatTracker(eventHandler: events.handler)
        let evening = Timestamp(secondsSinceEpoch: 1_796_338_800)  // 2026-12-03T23:00:00Z
        try tracker.setBudget("daily", budget: 1.00, period: .daily, at: evening)
        try tracker.recordSpend("daily", 0.80, at: evening.advanced(bySeconds: 60))
        try tracker.recordSpend("daily", 0.10, at: evening.advanced(bySeconds: 120))
        #expect(events.warnings.count == 1)
        try tracker.recordSpend("daily", 0.80, at: evening.advanced(bySeconds: 3600))
        #expect(events.warnings.map(\.time) == [evening.advanced(bySeconds: 60), evening.advanced(bySeconds: 3600)])
        #expect(events.warnings.last?.spend == usd("0.80"))

        try tracker.setBudget("lifetime", budget: 1.00, at: at(0))
        try tracker.recordSpend("lifetime", 0.80, at: at(1))
        try tracker.setBudget("lifetime", budget: 2.00, at: at(2))
        try tracker.recordSpend("lifetime", 0.70, at: at(3))
        let lifetime = events.warnings.filter { $0.agentID == "lifetime" }
        #expect(lifetime.count == 1)
        try tracker.recordSpend("lifetime", 0.10, at: at(4))
        #expect(events.warnings.filter { $0.agentID == "lifetime" }.map(\.spend) == [usd("0.80"), usd("1.60")])
    }

    @Test("spend while paused is still recorded, and visible as spend while paused")
    func spendWhilePaused() throws {
        let tracker = try HeartbeatTracker()
        try tracker.setBudget("agent-1", budget: 1.00, at: at(0))
        try tracker.recordSpend("agent-1", 1.00, at: at(1))
        try tracker.recordSpend("agent-1", 0.25, at: at(2))
        try tracker.recordSpend("agent-1", 0.25, at: at(3))

        let summary = try #require(tracker.agentSummary("agent-1"))
        #expect(summary.cumulativeSpend == usd("1.50"))
        #expect(summary.spendWhilePaused == usd("0.50"))
        #expect(summary.pauseCount == 1)
    }

    @Test("a budget set below the spend pauses at once")
    func lowerBudgetPauses() throws {
        let tracker = try HeartbeatTracker()
        try tracker.recordSpend("agent-1", 2.00, at: at(0))
        try tracker.setBudget("agent-1", budget: 1.50, at: at(1))
        #expect(tracker.isPaused("agent-1"))
    }

    @Test("a budget of $0 or a warning ratio outside (0, 1] is rejected")
    func invalidBudgets() throws {
        let tracker = try HeartbeatTracker()
        #expect(throws: TrackerError.self) { try tracker.setBudget("agent-1", budget: 0, at: at(0)) }
        #expect(throws: TrackerError.self) { try tracker.setBudget("agent-1", budget: -1, at: at(0)) }
        #expect(throws: TrackerError.self) {
            try tracker.setBudget("agent-1", budget: 1, warningRatio: 1.5, at: at(0))
        }
        #expect(tracker.allAgents().isEmpty)
    }

    // MARK: Budget periods

    @Test("at a daily boundary the period's spend restarts and a budget-paused agent resumes by itself")
    func dailyRollover() throws {
        let events = EventLog()
        let tracker = try HeartbeatTracker(eventHandler: events.handler)
        let evening = Timestamp(secondsSinceEpoch: 1_796_338_800)  // 2026-12-03T23:00:00Z
        try tracker.setBudget("agent-1", budget: 1.00, period: .daily, at: evening)
        try tracker.recordSpend("agent-1", 1.10, at: evening.advanced(bySeconds: 60))
        #expect(tracker.isPaused("agent-1"))

        // Nothing arrives from the paused agent; the server's clock moves the period on.
        tracker.advanceClock(to: evening.advanced(bySeconds: 3599))
        #expect(tracker.isPaused("agent-1"))
        tracker.advanceClock(to: evening.advanced(bySeconds: 3600))

        let summary = try #require(tracker.agentSummary("agent-1"))
        #expect(!summary.paused)
        #expect(summary.periodSpend == .zero)
        #expect(summary.cumulativeSpend == usd("1.10"))
        #expect(events.resumes.map(\.cause) == [.periodRollover])
    }

    @Test("weekly budgets roll over on Monday 00:00 UTC and monthly ones on the first")
    func weeklyAndMonthlyBoundaries() throws {
        let sunday = Timestamp(secondsSinceEpoch: 1_796_601_599)  // 2026-12-06T23:59:59Z, a Sunday
        let monday = Timestamp(secondsSinceEpoch: 1_796_601_600)  // 2026-12-07T00:00:00Z
        #expect(BudgetPeriod.weekly.index(of: sunday) + 1 == BudgetPeriod.weekly.index(of: monday))
        #expect(BudgetPeriod.weekly.start(ofIndex: BudgetPeriod.weekly.index(of: monday)) == monday)

        let lastOfNovember = Timestamp(secondsSinceEpoch: 1_796_083_199)  // 2026-11-30T23:59:59Z
        let firstOfDecember = Timestamp(secondsSinceEpoch: 1_796_083_200)  // 2026-12-01T00:00:00Z
        #expect(BudgetPeriod.monthly.index(of: lastOfNovember) + 1 == BudgetPeriod.monthly.index(of: firstOfDecember))
        #expect(BudgetPeriod.monthly.start(ofIndex: BudgetPeriod.monthly.index(of: noon)) == firstOfDecember)

        let events = EventLog()
        let tracker = try HeartbeatTracker(eventHandler: events.handler)
        try tracker.setBudget("agent-1", budget: 5.00, period: .monthly, at: lastOfNovember)
        try tracker.recordSpend("agent-1", 5.00, at: lastOfNovember)
        #expect(tracker.isPaused("agent-1"))
        try tracker.recordSpend("agent-1", 0.50, at: firstOfDecember)
        #expect(!tracker.isPaused("agent-1"))
        #expect(tracker.agentSummary("agent-1")?.periodSpend == usd("0.50"))
        #expect(tracker.cumulativeSpend("agent-1") == usd("5.50"))
        #expect(events.resumes.map(\.cause) == [.periodRollover])
        #expect(events.resumes.first?.time == firstOfDecember)
    }

    @Test("a weekly budget restarts on Monday 00:00 UTC and the paused agent resumes, with a resume event")
    func weeklyRollover() throws {
        let events = EventLog()
        let tracker = try HeartbeatTracker(eventHandler: events.handler)
        let sunday = Timestamp(secondsSinceEpoch: 1_796_601_599)  // 2026-12-06T23:59:59Z
        let monday = Timestamp(secondsSinceEpoch: 1_796_601_600)  // 2026-12-07T00:00:00Z
        let tuesday = Timestamp(secondsSinceEpoch: 1_796_299_200 - 86_400 * 2)  // 2026-12-01T12:00:00Z

        try tracker.setBudget("agent-1", budget: 2.00, period: .weekly, at: tuesday)
        try tracker.recordSpend("agent-1", 1.50, at: tuesday)
        try tracker.recordSpend("agent-1", 0.50, at: noon)  // Thursday, the same week
        #expect(tracker.isPaused("agent-1"))

        tracker.advanceClock(to: sunday)
        #expect(tracker.isPaused("agent-1"))
        #expect(events.resumes.isEmpty)
        tracker.advanceClock(to: monday)

        let summary = try #require(tracker.agentSummary("agent-1"))
        #expect(!summary.paused)
        #expect(summary.period == .weekly)
        #expect(summary.periodSpend == .zero)
        #expect(summary.cumulativeSpend == usd("2.00"))
        #expect(events.resumes.map(\.cause) == [.periodRollover])
        #expect(events.resumes.first?.time == monday)
    }

    @Test("moving the clock on rolls the period of every agent, however many share a shard")
    func advanceClockVisitsEveryAgent() throws {
        let events = EventLog()
        let tracker = try HeartbeatTracker(shardCount: 1, eventHandler: events.handler)
        let evening = Timestamp(secondsSinceEpoch: 1_796_338_800)  // 2026-12-03T23:00:00Z
        let agents = (0..<50).map { "agent-\($0)" }
        for agent in agents {
            try tracker.setBudget(agent, budget: 1.00, period: .daily, at: evening)
            try tracker.recordSpend(agent, 1.00, at: evening)
        }
        try tracker.recordSpend("unbudgeted", 3.00, at: evening)

        tracker.advanceClock(to: evening.advanced(bySeconds: 3600))

        #expect(agents.allSatisfy { !tracker.isPaused($0) })
        #expect(Set(events.resumes.map(\.agentID)) == Set(agents))
        #expect(events.resumes.count == agents.count)
        #expect(tracker.agentSummary("agent-7")?.periodSpend == .zero)
        #expect(tracker.cumulativeSpend("unbudgeted") == usd("3.00"))
    }

    @Test("a late event, stamped in a period already over, counts toward the current period")
    func lateEventCountsInCurrentPeriod() throws {
        let tracker = try HeartbeatTracker()
        let evening = Timestamp(secondsSinceEpoch: 1_796_338_800)  // 2026-12-03T23:00:00Z
        try tracker.setBudget("agent-1", budget: 1.00, period: .daily, at: evening)
        try tracker.recordSpend("agent-1", 0.40, at: evening.advanced(bySeconds: 3600))  // the next day
        try tracker.recordSpend("agent-1", 0.70, at: evening)  // arrives late, from the day before

        let summary = try #require(tracker.agentSummary("agent-1"))
        #expect(summary.periodSpend == usd("1.10"))
        #expect(summary.paused)
    }

    @Test("a calendar budget set mid-period counts the period's spend from its true start")
    func budgetSetMidPeriod() throws {
        let tracker = try HeartbeatTracker()
        try tracker.recordSpend("agent-1", 0.70, at: at(0))
        try tracker.setBudget("agent-1", budget: 1.00, period: .daily, at: at(60))
        #expect(tracker.agentSummary("agent-1")?.periodSpend == usd("0.70"))
    }

    @Test("timestamps print as RFC 3339 UTC")
    func timestampDescription() {
        #expect(noon.description == "2026-12-03T12:00:00.000Z")
        #expect(Timestamp(secondsSinceEpoch: -1).description == "1969-12-31T23:59:59.000Z")
    }

    // MARK: Resume

    @Test("the seed's resume: resuming an agent still over budget is refused unless forced")
    func resumeRefusedOverBudget() throws {
        let events = EventLog()
        let tracker = try HeartbeatTracker(eventHandler: events.handler)
        try tracker.setBudget("agent-1", budget: 1.00, at: at(0))
        try tracker.recordSpend("agent-1", 1.00, at: at(1))

        let error = #expect(throws: TrackerError.self) { try tracker.resumeAgent("agent-1", at: at(2)) }
        #expect(error?.code == .resumeRefused)
        #expect(error?.message.contains("$1.00") == true)
        #expect(tracker.isPaused("agent-1"))

        #expect(try tracker.resumeAgent("agent-1", force: true, at: at(3)))
        #expect(!tracker.isPaused("agent-1"))
        // A forced resume holds: further spend in the period does not pause again.
        try tracker.recordSpend("agent-1", 0.50, at: at(4))
        #expect(!tracker.isPaused("agent-1"))
        #expect(events.resumes.map(\.cause) == [.forced])
        #expect(tracker.agentSummary("agent-1")?.budgetOverridden == true)
    }

    @Test("raising the budget above the spend and then resuming works")
    func raiseBudgetThenResume() throws {
        let events = EventLog()
        let tracker = try HeartbeatTracker(eventHandler: events.handler)
        try tracker.setBudget("agent-1", budget: 1.00, at: at(0))
        try tracker.recordSpend("agent-1", 1.20, at: at(1))
        #expect(tracker.isPaused("agent-1"))

        try tracker.setBudget("agent-1", budget: 5.00, at: at(2))
        // The raise already resumed the agent, so the resume itself has nothing to do: it returns false.
        #expect(!tracker.isPaused("agent-1"))
        #expect(try tracker.resumeAgent("agent-1", at: at(3)) == false)
        #expect(!tracker.isPaused("agent-1"))
        #expect(events.resumes.map(\.cause) == [.budgetChanged])

        // The new budget is enforced as before.
        try tracker.recordSpend("agent-1", 3.80, at: at(4))
        #expect(tracker.isPaused("agent-1"))
        #expect(events.pauses.count == 2)
    }

    @Test("resuming an unknown agent names it")
    func resumeUnknownAgent() throws {
        let tracker = try HeartbeatTracker()
        let error = #expect(throws: TrackerError.self) { try tracker.resumeAgent("ghost", at: at(0)) }
        #expect(error?.code == .unknownAgent)
        #expect(error?.message.contains("ghost") == true)
    }

    @Test("clearing the budget resumes a paused agent")
    func clearBudget() throws {
        let tracker = try HeartbeatTracker()
        try tracker.setBudget("agent-1", budget: 1.00, at: at(0))
        try tracker.recordSpend("agent-1", 1.00, at: at(1))
        tracker.clearBudget("agent-1", at: at(2))
        #expect(!tracker.isPaused("agent-1"))
        #expect(tracker.agentSummary("agent-1")?.budget == nil)
    }

    // MARK: Summaries and listings

    @Test("the seed's summary: $3.75 of a $10 budget is 37.5% used")
    func seedSummary() throws {
        let tracker = try HeartbeatTracker()
        try tracker.setBudget("agent-123", budget: 10.00, at: at(0))
        for (index, cost) in [1.25, 1.25, 1.25].enumerated() {
            try tracker.startCycle("agent-123", at: at(Double(index) * 60))
            try tracker.recordSpend("agent-123", cost - 0.25, at: at(Double(index) * 60 + 1))
            try tracker.recordSpend("agent-123", 0.25, at: at(Double(index) * 60 + 2))
            tracker.endCycle("agent-123", at: at(Double(index) * 60 + 3))
        }

        let summary = try #require(tracker.agentSummary("agent-123"))
        #expect(summary.agentID == "agent-123")
        #expect(summary.totalCycles == 3)
        #expect(summary.totalCost == usd("3.75"))
        #expect(summary.totalCalls == 6)
        #expect(summary.averageCostPerCycle == 1.25)
        #expect(summary.anomalyCount == 0)
        #expect(summary.budget == usd("10"))
        #expect(summary.budgetUsedPercent == 37.5)
        #expect(summary.period == .lifetime)
        #expect(summary.periodSpend == usd("3.75"))
        #expect(!summary.paused)
        #expect(summary.activeCycle == nil)
        #expect(summary.lastCycleCost == usd("1.25"))
    }

    @Test("cumulative spend includes the open cycle and out-of-cycle spend")
    func cumulativeIncludesOpenCycle() throws {
        let tracker = try HeartbeatTracker()
        try tracker.recordSpend("agent-1", 0.15, at: at(0))
        try tracker.startCycle("agent-1", at: at(1))
        try tracker.recordSpend("agent-1", 0.10, at: at(2))

        let summary = try #require(tracker.agentSummary("agent-1"))
        #expect(summary.cumulativeSpend == usd("0.25"))
        #expect(summary.totalCost == .zero)
        #expect(summary.activeCycle?.cost == usd("0.10"))
        #expect(tracker.cumulativeSpend("agent-1") == usd("0.25"))
        #expect(tracker.cumulativeSpend("nobody") == .zero)
    }

    @Test("cycles are listed newest first, the open one included, and only the last N are kept")
    func cycleHistory() throws {
        let tracker = try HeartbeatTracker(configuration: TrackerConfiguration(retainedCycles: 5))
        for index in 0..<8 {
            try cycle(tracker, "agent-1", cost: 0.01 * Double(index + 1), at: Double(index) * 10)
        }
        try tracker.startCycle("agent-1", at: at(100))

        let cycles = tracker.agentCycles("agent-1", limit: 100)
        #expect(cycles.map(\.id.number) == [9, 8, 7, 6, 5, 4])
        #expect(cycles.first?.status == .active)
        #expect(tracker.agentCycles("agent-1", limit: 3).map(\.id.number) == [9, 8, 7])
        #expect(tracker.agentSummary("agent-1")?.totalCycles == 8)
    }

    @Test("by default each agent keeps its last 20 completed cycles, and lists the open one as active")
    func defaultRetention() throws {
        let tracker = try HeartbeatTracker()
        for index in 0..<25 {
            try cycle(tracker, "agent-1", cost: 0.10, at: Double(index) * 10)
        }
        try tracker.startCycle("agent-1", at: at(1000))

        let cycles = tracker.agentCycles("agent-1", limit: 100)
        #expect(cycles.count == 21)
        #expect(cycles.map(\.id.number) == Array((6...26).reversed()).map { UInt64($0) })
        #expect(cycles.first?.status == .active)
        #expect(cycles.dropFirst().allSatisfy { $0.status == .completed })
        #expect(tracker.agentCycles("agent-1").count == 20)
        #expect(tracker.agentSummary("agent-1")?.totalCycles == 25)
    }

    @Test("a completed cycle is kept in 48 bytes")
    func cycleRecordSize() {
        #expect(MemoryLayout<AgentState.CycleRecord>.stride == 48)
    }

    @Test("all agents are listed sorted, including agents that only have a budget")
    func allAgentsSorted() throws {
        let tracker = try HeartbeatTracker()
        try tracker.startCycle("charlie", at: at(0))
        try tracker.setBudget("alpha", budget: 1, at: at(0))
        try tracker.recordSpend("bravo", 0.01, at: at(0))
        #expect(tracker.allAgents() == ["alpha", "bravo", "charlie"])
        #expect(tracker.agentCount == 3)
    }

    // MARK: Events and threads

    @Test("every change the outside world cares about is an event, in order")
    func eventsInOrder() throws {
        let events = EventLog()
        let tracker = try HeartbeatTracker(eventHandler: events.handler)
        try tracker.setBudget("agent-1", budget: 1.00, at: at(0))
        try cycle(tracker, "agent-1", cost: 0.10, at: 0)
        try cycle(tracker, "agent-1", cost: 0.90, at: 10)

        let kinds = events.events.map { event -> String in
            switch event {
            case .cycleEnded: "cycleEnded"
            case .anomaly: "anomaly"
            case .budgetWarning: "budgetWarning"
            case .paused: "paused"
            case .resumed: "resumed"
            case .goalWarning: "goalWarning"
            case .goalExceeded: "goalExceeded"
            }
        }
        #expect(kinds == ["cycleEnded", "budgetWarning", "paused", "cycleEnded", "anomaly"])
    }

    @Test("a handler may call back into the tracker")
    func reentrantHandler() throws {
        let seen = EventLog()
        let box = TrackerBox()
        let tracker = try HeartbeatTracker(pauseHandler: { notice in
            if let tracker = box.tracker, tracker.isPaused(notice.agentID) {
                seen.handler(.paused(notice))
            }
        })
        box.tracker = tracker
        try tracker.setBudget("agent-1", budget: 1, at: at(0))
        try tracker.recordSpend("agent-1", 1, at: at(1))
        #expect(seen.pauses.count == 1)
    }

    @Test("many threads spending on shared and separate agents lose nothing")
    func concurrentSpend() async throws {
        let tracker = try HeartbeatTracker(shardCount: 8)
        let workers = 8
        let spendsPerWorker = 5_000
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<workers {
                group.addTask {
                    for index in 0..<spendsPerWorker {
                        try? tracker.recordSpend("shared", Money(nanos: 1_000), at: at(Double(index)))
                        try? tracker.recordSpend("own-\(worker)", Money(nanos: 7), at: at(Double(index)))
                    }
                }
            }
        }
        #expect(tracker.cumulativeSpend("shared").nanos == Int64(workers * spendsPerWorker * 1_000))
        for worker in 0..<workers {
            #expect(tracker.cumulativeSpend("own-\(worker)").nanos == Int64(spendsPerWorker * 7))
        }
    }
}

/// Lets a handler reach the tracker it is installed in.
final class TrackerBox: @unchecked Sendable {
    // Written once before any event is emitted, then only read.
    var tracker: HeartbeatTracker?
}

/// Runs one whole cycle of a single spend, `at` seconds after noon.
@discardableResult
func cycle(_ tracker: HeartbeatTracker, _ agentID: String, cost: Double, at seconds: Double) throws -> CycleSummary {
    try tracker.startCycle(agentID, at: at(seconds))
    try tracker.recordSpend(agentID, cost, at: at(seconds + 1))
    return try #require(tracker.endCycle(agentID, at: at(seconds + 2)))
}
