import Synchronization

/// Tracks what every heartbeat cycle of every agent costs, flags anomalous cycles, and pauses an agent the moment
/// its spend reaches its budget.
///
/// Agents are spread over shards by a hash of their id, each shard behind its own lock, so that threads working on
/// different agents rarely wait for each other. Every method takes the time of the event it records; the tracker
/// never reads a clock. Events (`TrackerEvent`) are delivered to the handlers after the shard's lock is released,
/// so a handler may call back into the tracker. See docs/semantics.md for the contract and docs/architecture.md
/// for the concurrency design.
public final class HeartbeatTracker: Sendable {
    public typealias PauseHandler = @Sendable (PauseNotice) -> Void
    public typealias EventHandler = @Sendable (TrackerEvent) -> Void

    public let configuration: TrackerConfiguration
    private let shards: [Shard]
    private let agentTotal = Atomic<Int>(0)
    private let pauseHandler: PauseHandler?
    private let eventHandler: EventHandler?

    private final class Shard: Sendable {
        let agents = Mutex<[String: AgentState]>([:])
    }

    /// - Parameters:
    ///   - configuration: anomaly and retention settings; checked before use.
    ///   - shardCount: how many independently locked groups of agents; rounded up to a power of two.
    ///   - pauseHandler: called once each time an agent goes from running to paused.
    ///   - eventHandler: called for every event, pauses included.
    /// - Throws: `invalidConfiguration` naming the first setting out of range.
    public init(
        configuration: TrackerConfiguration = TrackerConfiguration(),
        shardCount: Int = 64,
        pauseHandler: PauseHandler? = nil,
        eventHandler: EventHandler? = nil
    ) throws(TrackerError) {
        try configuration.validate()
        guard (1...65_536).contains(shardCount) else {
            throw TrackerError(.invalidConfiguration, "shard count \(shardCount) must be between 1 and 65536")
        }
        self.configuration = configuration
        var power = 1
        while power < shardCount { power *= 2 }
        self.shards = (0..<power).map { _ in Shard() }
        self.pauseHandler = pauseHandler
        self.eventHandler = eventHandler
    }

    /// The seed's constructor: an anomaly multiplier and a pause callback, every other setting at its default.
    public convenience init(anomalyMultiplier: Double = 2.0, pauseHandler: PauseHandler? = nil) throws(TrackerError) {
        try self.init(
            configuration: TrackerConfiguration(anomalyMultiplier: anomalyMultiplier),
            pauseHandler: pauseHandler
        )
    }

    // MARK: Budgets

    /// Gives the agent a budget (creating the agent if it is new). Spend in the current period at or over the new
    /// budget pauses it at once; a budget raised above the spend resumes it.
    ///
    /// - Parameters:
    ///   - budget: more than $0.
    ///   - period: the span the budget covers; `lifetime` by default.
    ///   - warningRatio: the share of the budget at which a warning fires; the configured default when nil.
    /// - Throws: `invalidID`, or `invalidAmount` for a budget of $0 or a ratio outside (0, 1].
    public func setBudget(
        _ agentID: String,
        budget: Money,
        period: BudgetPeriod = .lifetime,
        warningRatio: Double? = nil,
        at time: Timestamp
    ) throws(TrackerError) {
        try Identifier.validate(agentID, kind: "agent")
        guard budget.nanos > 0 else {
            throw TrackerError(
                .invalidAmount,
                "budget \(budget) for agent \(agentID) must be more than $0; clear the budget to remove it"
            )
        }
        let ratio = warningRatio ?? configuration.defaultWarningRatio
        try TrackerConfiguration.validateWarningRatio(ratio)

        try upsert(agentID) { agent, events in
            agent.setBudget(budget, period: period, warningRatio: ratio, at: time, events: &events)
        }
    }

    /// `setBudget` with the budget in dollars, as the seed takes it.
    public func setBudget(
        _ agentID: String,
        budget dollars: Double,
        period: BudgetPeriod = .lifetime,
        warningRatio: Double? = nil,
        at time: Timestamp
    ) throws(TrackerError) {
        try setBudget(agentID, budget: Money(dollars: dollars), period: period, warningRatio: warningRatio, at: time)
    }

    /// Removes the agent's budget; a paused agent resumes. Unknown agents are left alone.
    public func clearBudget(_ agentID: String, at time: Timestamp) {
        update(agentID) { agent, events in
            agent.setBudget(nil, period: .lifetime, warningRatio: 0, at: time, events: &events)
        }
    }

    // MARK: Cycles and spend

    /// Opens a new cycle for the agent, first ending (with every check) a cycle that is still open.
    ///
    /// - Returns: the new cycle's id.
    /// - Throws: `invalidID` for an empty or over-long agent id.
    @discardableResult
    public func startCycle(_ agentID: String, at time: Timestamp) throws(TrackerError) -> CycleID {
        try Identifier.validate(agentID, kind: "agent")
        let configuration = configuration
        return try upsert(agentID) { agent, events in
            agent.startCycle(at: time, configuration: configuration, events: &events)
        }
    }

    /// Records one LLM call's cost: into the open cycle, or as out-of-cycle spend when none is open. The budget is
    /// checked at once, so the agent pauses in the middle of a cycle the moment its spend reaches the budget.
    ///
    /// - Throws: `invalidID`, or `invalidAmount` for a negative cost or one that would overflow the agent's
    ///   totals. Nothing is recorded when it throws.
    public func recordSpend(_ agentID: String, _ cost: Money, at time: Timestamp) throws(TrackerError) {
        try Identifier.validate(agentID, kind: "agent")
        guard cost.nanos >= 0 else {
            throw TrackerError(
                .invalidAmount, "cost \(cost) for agent \(agentID) is negative; costs are never below $0")
        }
        try upsert(agentID) { (agent, events) throws(TrackerError) in
            try agent.validateSpend(cost)
            agent.recordSpend(cost, at: time, events: &events)
        }
    }

    /// `recordSpend` with the cost in dollars, as the seed takes it.
    ///
    /// - Throws: `invalidAmount` naming a negative, NaN or infinite cost.
    public func recordSpend(_ agentID: String, _ dollars: Double, at time: Timestamp) throws(TrackerError) {
        try recordSpend(agentID, Money(dollars: dollars), at: time)
    }

    /// Ends the agent's open cycle: judges it against the rolling average and keeps it in the history.
    ///
    /// - Returns: the ended cycle, or nil when the agent has no open cycle.
    @discardableResult
    public func endCycle(_ agentID: String, at time: Timestamp) -> CycleSummary? {
        let configuration = configuration
        return update(agentID) { agent, events in
            agent.endCycle(at: time, configuration: configuration, events: &events)
        } ?? nil
    }

    /// Applies a run of cycle and spend commands to one agent under a single lock: the fast path for batches, in
    /// which an agent's events usually come together. Each command has exactly the effect of the matching method
    /// (`startCycle`, `recordSpend`, `endCycle`), in order.
    ///
    /// - Returns: the commands that failed, by position in `commands`: a negative or overflowing cost
    ///   (`invalidAmount`) or an `endCycle` with no open cycle (`noOpenCycle`). The others were applied.
    /// - Throws: `invalidID` for a bad agent id, before anything is applied.
    public func apply(_ commands: [AgentCommand], to agentID: String) throws(TrackerError) -> [AgentCommand.Failure] {
        try Identifier.validate(agentID, kind: "agent")
        let configuration = configuration

        // Only a start or a valid spend brings an agent into being, and for a new agent either always succeeds; a
        // run of nothing but cycle ends and negative costs for an unknown agent changes nothing, not even the list
        // of agents (nor does it count against the agent limit).
        let creates = commands.contains {
            switch $0 {
            case .startCycle: true
            case .spend(let cost, _): cost.nanos >= 0
            case .endCycle: false
            }
        }
        guard creates || read(agentID, { _ in true }) == true else {
            return commands.indices.map { index in
                let error: TrackerError
                if case .spend(let cost, _) = commands[index] {
                    error = TrackerError(
                        .invalidAmount, "cost \(cost) for agent \(agentID) is negative; costs are never below $0")
                } else {
                    error = TrackerError(.noOpenCycle, "agent \(agentID) has no open cycle to end")
                }
                return AgentCommand.Failure(index: index, error: error)
            }
        }
        return try upsert(agentID) { agent, events in
            var failures: [AgentCommand.Failure] = []
            for (index, command) in commands.enumerated() {
                switch command {
                case .startCycle(let time):
                    _ = agent.startCycle(at: time, configuration: configuration, events: &events)
                case .spend(let cost, let time):
                    do throws(TrackerError) {
                        try agent.validateSpend(cost)
                        agent.recordSpend(cost, at: time, events: &events)
                    } catch {
                        failures.append(AgentCommand.Failure(index: index, error: error))
                    }
                case .endCycle(let time):
                    if agent.endCycle(at: time, configuration: configuration, events: &events) == nil {
                        let error = TrackerError(.noOpenCycle, "agent \(agentID) has no open cycle to end")
                        failures.append(AgentCommand.Failure(index: index, error: error))
                    }
                }
            }
            return failures
        }
    }

    // MARK: Pauses

    public func isPaused(_ agentID: String) -> Bool {
        read(agentID) { $0.isPaused } ?? false
    }

    /// Clears a budget pause.
    ///
    /// - Parameter force: resume even though the agent is still at or over its budget; the budget is then not
    ///   enforced until the period ends or the budget changes.
    /// - Returns: true when the agent was paused and now runs, false when it was not paused.
    /// - Throws: `unknownAgent`, or `resumeRefused` when the agent is still at or over its budget and `force` is
    ///   false (it would be paused again at its next spend).
    @discardableResult
    public func resumeAgent(_ agentID: String, force: Bool = false, at time: Timestamp) throws(TrackerError) -> Bool {
        let resumed = try update(agentID) { (agent, events) throws(TrackerError) in
            try agent.resume(force: force, at: time, events: &events)
        }
        guard let resumed else {
            throw TrackerError(.unknownAgent, "agent \(agentID) is not tracked; check the id with allAgents()")
        }
        return resumed
    }

    /// Moves every agent's budget period forward to `time`, so that agents paused by a daily, weekly or monthly
    /// budget resume at the period boundary even when they send nothing (a paused agent usually does not).
    public func advanceClock(to time: Timestamp) {
        for shard in shards {
            let events = shard.agents.withLock { agents in
                // Walk by index and mutate through `values`, in place: iterating `agents.keys` (or `values.indices`)
                // would hold a second reference to the dictionary's storage, so the first write would copy every
                // agent of the shard on every tick.
                var events: [TrackerEvent] = []
                var index = agents.values.startIndex
                while index != agents.values.endIndex {
                    agents.values[index].rollPeriods(to: time, events: &events)
                    agents.values.formIndex(after: &index)
                }
                return events
            }
            deliver(events)
        }
    }

    // MARK: Reading

    /// The agent's totals, budget and state, or nil for an agent never seen.
    public func agentSummary(_ agentID: String) -> AgentSummary? {
        read(agentID) { $0.summary }
    }

    /// The agent's cycles, newest first, the open one included; at most `limit` (and at most the retained number).
    public func agentCycles(_ agentID: String, limit: Int = 20) -> [CycleSummary] {
        read(agentID) { $0.cycles(limit: limit) } ?? []
    }

    /// Every tracked agent's id, sorted; agents that only have a budget are included.
    public func allAgents() -> [String] {
        var ids: [String] = []
        for shard in shards {
            shard.agents.withLock { ids.append(contentsOf: $0.keys) }
        }
        return ids.sorted()
    }

    /// Every dollar recorded for the agent, in and out of cycles; $0 for an agent never seen.
    public func cumulativeSpend(_ agentID: String) -> Money {
        read(agentID) { $0.cumulativeSpend } ?? .zero
    }

    public var agentCount: Int {
        agentTotal.load(ordering: .relaxed)
    }

    // MARK: Locking

    /// Runs `body` with each shard's agents in turn, under that shard's lock.
    func forEachShard(_ body: (borrowing [String: AgentState]) -> Void) {
        for shard in shards {
            shard.agents.withLock { body($0) }
        }
    }

    private func shard(for agentID: String) -> Shard {
        // FNV-1a, independent of the dictionaries' own hashing, so that one shard's keys do not share hash bits.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in agentID.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        return shards[Int(truncatingIfNeeded: hash ^ (hash >> 32)) & (shards.count - 1)]
    }

    private func read<Result: Sendable>(_ agentID: String, _ body: (borrowing AgentState) -> Result) -> Result? {
        shard(for: agentID).agents.withLock { agents in
            agents[agentID].map { body($0) }
        }
    }

    /// Runs `body` on the agent under its shard's lock, creating the agent if it is new (within the cardinality
    /// guard), then delivers the events it produced.
    ///
    /// A rejected call changes nothing: an agent created for `body` is removed again when `body` throws.
    func upsert<Result: Sendable>(
        _ agentID: String,
        _ body: (inout AgentState, inout [TrackerEvent]) throws(TrackerError) -> Result
    ) throws(TrackerError) -> Result {
        let configuration = configuration
        let (result, events) = try shard(for: agentID).agents.withLock {
            (agents) throws(TrackerError) -> (Result, [TrackerEvent]) in
            var events: [TrackerEvent] = []
            let isNew = agents[agentID] == nil
            if isNew {
                guard self.agentTotal.add(1, ordering: .relaxed).newValue <= configuration.maximumAgents else {
                    self.agentTotal.subtract(1, ordering: .relaxed)
                    throw TrackerError(
                        .tooManyAgents,
                        "agent \(agentID) would be agent number \(configuration.maximumAgents + 1), over the limit of "
                            + "\(configuration.maximumAgents); raise --tracker.max-agents or reuse agent ids"
                    )
                }
                agents[agentID] = AgentState(id: agentID, configuration: configuration)
            }

            let result: Result
            do throws(TrackerError) {
                result = try body(&agents[agentID]!, &events)
            } catch {
                if isNew { self.forget(agentID, in: &agents) }
                throw error
            }
            return (result, events)
        }
        deliver(events)
        return result
    }

    /// Removes an agent that was created for a call that then changed nothing; the caller holds the shard's lock.
    private func forget(_ agentID: String, in agents: inout [String: AgentState]) {
        agents[agentID] = nil
        agentTotal.subtract(1, ordering: .relaxed)
    }

    /// Runs `body` on a known agent under its shard's lock, then delivers the events it produced; nil for an
    /// unknown agent.
    private func update<Result: Sendable, Failure: Error>(
        _ agentID: String,
        _ body: (inout AgentState, inout [TrackerEvent]) throws(Failure) -> Result
    ) throws(Failure) -> Result? {
        let (result, events) = try shard(for: agentID).agents.withLock {
            (agents) throws(Failure) -> (Result?, [TrackerEvent]) in
            var events: [TrackerEvent] = []
            guard agents[agentID] != nil else { return (nil, events) }
            let result = try body(&agents[agentID]!, &events)
            return (result, events)
        }
        deliver(events)
        return result
    }

    private func deliver(_ events: [TrackerEvent]) {
        for event in events {
            if case .paused(let notice) = event {
                pauseHandler?(notice)
            }
            eventHandler?(event)
        }
    }
}
