import Testing

@testable import AgentCostCore

@Suite("GoalService")
struct GoalServiceTests {
    @Test("the seed's goals: spend recorded to both the heartbeat and the goal")
    func seedGoals() throws {
        let tracker = try HeartbeatTracker()
        let goals = try GoalService()
        try goals.createGoal("feature-x", name: "Build Feature X", budget: 50.0, at: at(0))

        try tracker.startCycle("agent-1", at: at(0))
        let cost = 0.15
        try tracker.recordSpend("agent-1", cost, at: at(1))
        try goals.recordSpend("feature-x", cost, at: at(1))
        tracker.endCycle("agent-1", at: at(2))

        #expect(tracker.cumulativeSpend("agent-1") == usd("0.15"))
        let goal = try #require(goals.goalCost("feature-x"))
        #expect(goal.directCost == usd("0.15"))
        #expect(goal.name == "Build Feature X")
        #expect(goal.budget == usd("50"))
        #expect(goal.budgetUsedPercent == 0.3)
    }

    @Test("a goal's cost includes its children's, down the whole tree")
    func goalsWithChildren() throws {
        let goals = try GoalService()
        try goals.createGoal("launch", name: "Launch", budget: usd("10"), at: at(0))
        try goals.createGoal("backend", name: "Backend", parent: "launch", at: at(0))
        try goals.createGoal("api", name: "API", parent: "backend", at: at(0))
        try goals.createGoal("frontend", name: "Frontend", parent: "launch", at: at(0))

        try goals.recordSpend("launch", 1.00, at: at(1))
        try goals.recordSpend("backend", 0.50, at: at(2))
        try goals.recordSpend("api", 0.25, at: at(3))
        try goals.recordSpend("api", 0.25, at: at(4))
        try goals.recordSpend("frontend", 2.00, at: at(5))

        let launch = try #require(goals.goalCost("launch"))
        #expect(launch.directCost == usd("1.00"))
        #expect(launch.childrenCost == usd("3.00"))
        #expect(launch.totalCost == usd("4.00"))
        #expect(launch.directCalls == 1)
        #expect(launch.totalCalls == 5)
        #expect(launch.budgetUsedPercent == 40)
        #expect(launch.childIDs == ["backend", "frontend"])

        let backend = try #require(goals.goalCost("backend"))
        #expect(backend.totalCost == usd("1.00"))
        #expect(backend.parentID == "launch")
        #expect(backend.budgetUsedPercent == nil)
    }

    @Test("a duplicate goal id or a missing parent is an error")
    func duplicateAndMissingParent() throws {
        let goals = try GoalService()
        try goals.createGoal("a", name: "A", at: at(0))

        let duplicate = #expect(throws: TrackerError.self) { try goals.createGoal("a", name: "A again", at: at(1)) }
        #expect(duplicate?.code == .duplicateGoal)

        let orphan = #expect(throws: TrackerError.self) {
            try goals.createGoal("b", name: "B", parent: "missing", at: at(1))
        }
        #expect(orphan?.code == .unknownParentGoal)
        #expect(orphan?.message.contains("missing") == true)
        #expect(goals.allGoals() == ["a"])
    }

    @Test("a cycle of parents is impossible, even when adopting a goal that spend registered; the error names both")
    func noParentCycles() throws {
        let goals = try GoalService()
        try goals.recordSpend("implicit", 0.10, at: at(0))
        try goals.createGoal("child", name: "Child", parent: "implicit", at: at(1))
        try goals.createGoal("grandchild", name: "Grandchild", parent: "child", at: at(1))

        let loop = #expect(throws: TrackerError.self) {
            try goals.createGoal("implicit", name: "Now explicit", parent: "grandchild", at: at(2))
        }
        #expect(loop?.code == .goalParentCycle)
        #expect(loop?.code.name == "goal_parent_cycle")
        #expect(
            loop?.message
                == "goal implicit cannot have grandchild as parent: grandchild is a descendant of implicit, so the "
                + "parents would form a cycle; name a goal outside implicit's subtree as parent, or none")

        let own = #expect(throws: TrackerError.self) {
            try goals.createGoal("implicit", name: "Own parent", parent: "implicit", at: at(2))
        }
        #expect(own?.code == .goalParentCycle)
        #expect(own?.message.contains("goal implicit cannot be its own parent") == true)

        // Refused, the goal is as it was: still registered by spend, with no parent.
        #expect(goals.goalCost("implicit")?.parentID == nil)
        #expect(goals.goalCost("implicit")?.name == "implicit")
        try goals.createGoal("implicit", name: "Now explicit", at: at(3))
        #expect(goals.goalCost("implicit")?.totalCost == usd("0.10"))
    }

    @Test("spend naming an unknown goal registers it instead of losing the money")
    func unknownGoalRegistered() throws {
        let goals = try GoalService()
        try goals.recordSpend("surprise", 0.42, at: at(0))
        #expect(goals.goalCost("surprise")?.totalCost == usd("0.42"))
        #expect(goals.goalCost("surprise")?.budget == nil)

        // Creating it later keeps the money and adds it to the new parent.
        try goals.createGoal("root", name: "Root", budget: usd("1"), at: at(1))
        try goals.createGoal("surprise", name: "Surprise", parent: "root", at: at(2))
        #expect(goals.goalCost("surprise")?.directCost == usd("0.42"))
        #expect(goals.goalCost("root")?.totalCost == usd("0.42"))
    }

    @Test("goal budgets fire a warning and an exceeded event once each, and pause nothing")
    func goalBudgetEvents() throws {
        let events = EventLog()
        let goals = try GoalService(eventHandler: events.handler)
        try goals.createGoal("root", name: "Root", budget: usd("1"), at: at(0))
        try goals.createGoal("leaf", name: "Leaf", parent: "root", at: at(0))

        try goals.recordSpend("leaf", 0.50, at: at(1))
        try goals.recordSpend("leaf", 0.30, at: at(2))
        try goals.recordSpend("leaf", 0.30, at: at(3))
        try goals.recordSpend("leaf", 0.30, at: at(4))

        let expected: [TrackerEvent] = [
            .goalWarning(GoalNotice(goalID: "root", cost: usd("0.80"), budget: usd("1"), time: at(2))),
            .goalExceeded(GoalNotice(goalID: "root", cost: usd("1.10"), budget: usd("1"), time: at(3))),
        ]
        #expect(events.events == expected)
    }

    @Test("negative goal spend and empty goal ids are rejected")
    func invalidGoalInput() throws {
        let goals = try GoalService()
        #expect(throws: TrackerError.self) { try goals.recordSpend("g", -1, at: at(0)) }
        #expect(throws: TrackerError.self) { try goals.recordSpend("", 1, at: at(0)) }
        #expect(throws: TrackerError.self) { try goals.createGoal("g", name: "G", budget: usd("0"), at: at(0)) }
        #expect(goals.goalCount == 0)
    }
}

@Suite("Cardinality guard")
struct CardinalityTests {
    @Test("events that would create an agent past the maximum are refused and nothing is lost in silence")
    func maximumAgents() throws {
        let tracker = try HeartbeatTracker(configuration: TrackerConfiguration(maximumAgents: 2))
        try tracker.recordSpend("a", 0.10, at: at(0))
        try tracker.startCycle("b", at: at(0))

        let error = #expect(throws: TrackerError.self) { try tracker.recordSpend("c", 0.10, at: at(1)) }
        #expect(error?.code == .tooManyAgents)
        #expect(error?.message.contains("--tracker.max-agents") == true)
        #expect(throws: TrackerError.self) { try tracker.setBudget("d", budget: 1, at: at(1)) }

        // Known agents go on as before.
        try tracker.recordSpend("a", 0.10, at: at(2))
        #expect(tracker.agentCount == 2)
        #expect(tracker.allAgents() == ["a", "b"])
    }

    @Test("a reserved spend holds the goal's place under the maximum until it is recorded or released")
    func reservationHoldsRoom() throws {
        let events = EventLog()
        let goals = try GoalService(maximumGoals: 2, eventHandler: events.handler)
        try goals.createGoal("root", name: "Root", budget: usd("1"), at: at(0))

        let first = try goals.reserveSpend("new", usd("0.50"))
        let second = try goals.reserveSpend("new", usd("0.25"))
        // "new" is not registered yet, but has the last place: another goal is refused.
        #expect(goals.allGoals() == ["root"])
        let full = #expect(throws: TrackerError.self) { try goals.reserveSpend("other", usd("0.10")) }
        #expect(full?.code == .tooManyGoals)
        #expect(throws: TrackerError.self) { try goals.createGoal("other", name: "Other", at: at(1)) }

        goals.recordSpend(first, at: at(2))
        goals.release(second)
        #expect(goals.goalCost("new")?.directCost == usd("0.50"))
        #expect(goals.goalCost("new")?.directCalls == 1)

        // A reservation released for a goal never registered gives its place back and leaves nothing.
        let small = try GoalService(maximumGoals: 1)
        goals.release(try goals.reserveSpend("root", usd("0.90")))
        small.release(try small.reserveSpend("ghost", usd("0.10")))
        #expect(small.allGoals().isEmpty)
        try small.createGoal("real", name: "Real", at: at(3))
        #expect(small.allGoals() == ["real"])
        #expect(goals.goalCost("root")?.totalCost == .zero)
        #expect(events.events.isEmpty)
    }

    @Test("a reserved spend fires the goal's budget events when it is recorded")
    func reservedSpendFiresEvents() throws {
        let events = EventLog()
        let goals = try GoalService(eventHandler: events.handler)
        try goals.createGoal("root", name: "Root", budget: usd("1"), at: at(0))
        try goals.createGoal("leaf", name: "Leaf", parent: "root", at: at(0))

        goals.recordSpend(try goals.reserveSpend("leaf", usd("1.00")), at: at(5))

        let expected: [TrackerEvent] = [
            .goalWarning(GoalNotice(goalID: "root", cost: usd("1.00"), budget: usd("1"), time: at(5))),
            .goalExceeded(GoalNotice(goalID: "root", cost: usd("1.00"), budget: usd("1"), time: at(5))),
        ]
        #expect(events.events == expected)
        #expect(goals.goalCost("root")?.childrenCost == usd("1.00"))
    }

    @Test("reserved costs count against every total, so recording them can never overflow")
    func reservationOverflow() throws {
        let goals = try GoalService()
        try goals.recordSpend("big", Money(nanos: Int64.max - 10), at: at(0))
        let held = try goals.reserveSpend("big", Money(nanos: 6))
        let overflow = #expect(throws: TrackerError.self) { try goals.reserveSpend("big", Money(nanos: 6)) }
        #expect(overflow?.code == .invalidAmount)
        #expect(throws: TrackerError.self) { try goals.recordSpend("big", Money(nanos: 6), at: at(1)) }

        goals.recordSpend(held, at: at(2))
        #expect(goals.goalCost("big")?.totalCost == Money(nanos: Int64.max - 4))
        #expect(throws: TrackerError.self) { try goals.reserveSpend("small", Money(nanos: -1)) }
    }

    @Test("creating or registering a goal past the maximum is refused")
    func maximumGoals() throws {
        let goals = try GoalService(maximumGoals: 1)
        try goals.createGoal("one", name: "One", at: at(0))
        #expect(throws: TrackerError.self) { try goals.createGoal("two", name: "Two", at: at(0)) }
        let error = #expect(throws: TrackerError.self) { try goals.recordSpend("three", 0.1, at: at(0)) }
        #expect(error?.code == .tooManyGoals)
        try goals.recordSpend("one", 0.1, at: at(0))
        #expect(goals.allGoals() == ["one"])
    }
}
