import AgentCostCore
import AgentCostWire

/// Applies decoded batches to the tracker and the goals, exactly once per (producer, sequence), and says in the
/// ack what happened to each event.
///
/// Events are validated one by one: a bad event is rejected with a reason and the rest of the batch still applies.
/// Nothing of a rejected event is applied (a spend naming a bad goal id does not reach the agent either).
public final class BatchApplier: Sendable {
    public let tracker: HeartbeatTracker
    public let goals: GoalService
    let ledger = ProducerLedger()
    let metrics: IngestMetrics

    /// The longest model name accepted, in UTF-8 bytes.
    public static let maximumModelLength = 256
    /// The longest goal name accepted, in UTF-8 bytes.
    public static let maximumGoalNameLength = 1024

    public init(tracker: HeartbeatTracker, goals: GoalService, metrics: IngestMetrics) {
        self.tracker = tracker
        self.goals = goals
        self.metrics = metrics
    }

    /// Applies `batch` unless its producer already had it applied, and builds its ack.
    ///
    /// - Parameter receivedAt: the server's time, used for events that carry no time of their own (0).
    public func apply(_ batch: DecodedBatch, receivedAt: Timestamp) -> Ack {
        let deduplicated = !batch.producerID.isEmpty && batch.sequence > 0
        guard deduplicated else {
            return applyEvents(of: batch, receivedAt: receivedAt)
        }

        return ledger.withProducer(batch.producerID) { lastApplied in
            guard batch.sequence > lastApplied else {
                metrics.framesDuplicate.add(1, ordering: .relaxed)
                var ack = Ack(sequence: batch.sequence, status: .ok)
                ack.message =
                    "batch \(batch.sequence) of producer \(batch.producerID) was already applied "
                    + "(highest applied: \(lastApplied)); applied 0 more times"
                ack.pausedAgents = pausedAgents(of: batch)
                return (ack, lastApplied)
            }
            return (applyEvents(of: batch, receivedAt: receivedAt), batch.sequence)
        }
    }

    private func applyEvents(of batch: DecodedBatch, receivedAt: Timestamp) -> Ack {
        var ack = Ack(sequence: batch.sequence, status: .ok)
        var agents = AgentSet()
        var run = AgentRun()

        for (index, event) in batch.enumerated() {
            let time = event.timeUnixNano == 0 ? receivedAt : Timestamp(nanosecondsSinceEpoch: event.timeUnixNano)
            let payload = event.payload
            agents.insert(payload?.agentID ?? "")

            // Cycle and spend events of one agent gather into a run, applied under one lock.
            do throws(Rejection) {
                if let (agentID, command, goalSpend) = try runCommand(payload, at: time) {
                    if agentID != run.agentID {
                        flush(&run, into: &ack)
                        run.agentID = agentID
                    }
                    run.append(command, eventIndex: index, goalSpend: goalSpend)
                    continue
                }
            } catch {
                ack.rejections.append(Ack.Rejection(index: UInt32(index), reason: error.text))
                continue
            }

            flush(&run, into: &ack)
            if let rejection = apply(payload, at: time) {
                ack.rejections.append(Ack.Rejection(index: UInt32(index), reason: rejection.text))
            }
        }
        flush(&run, into: &ack)

        ack.rejections.sort { $0.index < $1.index }
        ack.rejected = UInt32(ack.rejections.count)
        ack.applied = UInt32(batch.count) - ack.rejected
        ack.pausedAgents = agents.ordered.filter { tracker.isPaused($0) }

        metrics.framesOK.add(1, ordering: .relaxed)
        metrics.eventsApplied.add(UInt64(ack.applied), ordering: .relaxed)
        if !ack.rejections.isEmpty {
            metrics.eventsRejected(ack.rejections.map { Rejection.code(of: $0.reason) })
        }
        return ack
    }

    /// The tracker command for a cycle or spend event, after validating it; nil for other kinds of events.
    private func runCommand(_ payload: Event.Payload?, at time: Timestamp) throws(Rejection)
        -> (agentID: String, command: AgentCommand, goalSpend: GoalSpend?)?
    {
        switch payload {
        case .cycleStart(let start):
            try checkAgent(start.agentID)
            return (start.agentID, .startCycle(at: time), nil)
        case .cycleEnd(let end):
            try checkAgent(end.agentID)
            return (end.agentID, .endCycle(at: time), nil)
        case .spend(let spend):
            try checkAgent(spend.agentID)
            let cost = try checkCost(spend.costUSD, agentID: spend.agentID)
            if !spend.goalID.isEmpty {
                try checkGoal(spend.goalID)
            }
            guard spend.model.utf8.count <= Self.maximumModelLength else {
                throw Rejection(
                    "model_too_long",
                    "model name of \(spend.model.utf8.count) bytes is over the limit of \(Self.maximumModelLength)"
                )
            }
            let goalSpend = spend.goalID.isEmpty ? nil : GoalSpend(goalID: spend.goalID, cost: cost, time: time)
            return (spend.agentID, .spend(cost, at: time), goalSpend)
        default:
            return nil
        }
    }

    /// Applies the gathered run: first reserves its spends' goal attributions, so that a spend the goals cannot
    /// take (`too_many_goals`, an overflowing total) is rejected before the agent sees it; then applies the rest to
    /// the tracker under one lock; then records the reserved goal spends of the spends the tracker took, and gives
    /// back the others. A rejected event changes nothing, in the agent or in the goals.
    private func flush(_ run: inout AgentRun, into ack: inout Ack) {
        guard !run.commands.isEmpty else { return }
        defer { run.reset() }

        // Goal room first; a refused spend leaves the run, the rest keep their order.
        var refused: [Int] = []
        for (position, goalSpend) in run.goalSpends {
            do {
                run.reserved(
                    try goals.reserveSpend(goalSpend.goalID, goalSpend.cost), at: position, time: goalSpend.time)
            } catch {
                refused.append(position)
                reject(run.eventIndexes[position], error, into: &ack)
            }
        }
        // Positions in the run of the commands applied, when some were refused (else they are all applied).
        let positions = refused.isEmpty ? [] : run.commands.indices.filter { !refused.contains($0) }
        let commands = refused.isEmpty ? run.commands : positions.map { run.commands[$0] }
        let position = { (index: Int) in positions.isEmpty ? index : positions[index] }

        // The agent's run.
        var failed: [Int] = []
        if !commands.isEmpty {
            do {
                for failure in try tracker.apply(commands, to: run.agentID) {
                    failed.append(position(failure.index))
                    reject(run.eventIndexes[position(failure.index)], failure.error, into: &ack)
                }
            } catch {
                for index in commands.indices {
                    failed.append(position(index))
                    reject(run.eventIndexes[position(index)], error, into: &ack)
                }
            }
        }

        // The goal spends of the spends the agent took; the others give their room back.
        for (position, reservation, time) in run.reservations {
            if failed.contains(position) {
                goals.release(reservation)
            } else {
                goals.recordSpend(reservation, at: time)
            }
        }
    }

    private func reject(_ eventIndex: Int, _ error: TrackerError, into ack: inout Ack) {
        ack.rejections.append(Ack.Rejection(index: UInt32(eventIndex), reason: "\(error.code): \(error.message)"))
    }

    /// Applies one budget, resume or goal event; returns why it was rejected, or nil when it was applied.
    private func apply(_ payload: Event.Payload?, at time: Timestamp) -> Rejection? {
        guard let payload else {
            return Rejection("missing_kind", "the event sets none of the kinds this server knows; upgrade the server")
        }
        do {
            switch payload {
            case .cycleStart, .spend, .cycleEnd:
                // Applied in runs (see `runCommand`); they never reach this function.
                break

            case .setBudget(let budget):
                try checkAgent(budget.agentID)
                if budget.clear {
                    tracker.clearBudget(budget.agentID, at: time)
                } else {
                    guard let period = Self.period(budget.period) else {
                        throw Rejection("unknown_period", "budget period \(budget.period.rawValue) is not one of 0-3")
                    }
                    try tracker.setBudget(
                        budget.agentID,
                        budget: budget.budgetUSD,
                        period: period,
                        warningRatio: budget.warningRatio == 0 ? nil : budget.warningRatio,
                        at: time
                    )
                }

            case .resume(let resume):
                try checkAgent(resume.agentID)
                try tracker.resumeAgent(resume.agentID, force: resume.force, at: time)

            case .createGoal(let goal):
                try checkGoal(goal.goalID)
                guard goal.name.utf8.count <= Self.maximumGoalNameLength else {
                    throw Rejection("goal_name_too_long", "goal name is over \(Self.maximumGoalNameLength) bytes")
                }
                try goals.createGoal(
                    goal.goalID,
                    name: goal.name.isEmpty ? goal.goalID : goal.name,
                    budget: goal.budgetUSD == 0 ? nil : Money(dollars: goal.budgetUSD),
                    parent: goal.parentID.isEmpty ? nil : goal.parentID,
                    at: time
                )
            }
            return nil
        } catch let rejection as Rejection {
            return rejection
        } catch let error as TrackerError {
            return Rejection(error.code.name, error.message)
        } catch {
            return Rejection("internal", "\(error)")
        }
    }

    private func checkAgent(_ agentID: String) throws(Rejection) {
        if agentID.isEmpty {
            throw Rejection("empty_agent_id", "the event has no agent_id")
        }
        if agentID.utf8.count > Identifier.maximumLength {
            throw Rejection(
                "agent_id_too_long",
                "agent_id of \(agentID.utf8.count) bytes is over the limit of \(Identifier.maximumLength)"
            )
        }
    }

    private func checkGoal(_ goalID: String) throws(Rejection) {
        if goalID.isEmpty {
            throw Rejection("empty_goal_id", "the event has no goal_id")
        }
        if goalID.utf8.count > Identifier.maximumLength {
            throw Rejection(
                "goal_id_too_long",
                "goal_id of \(goalID.utf8.count) bytes is over the limit of \(Identifier.maximumLength)"
            )
        }
    }

    private func checkCost(_ dollars: Double, agentID: String) throws(Rejection) -> Money {
        guard dollars.isFinite else {
            throw Rejection("invalid_cost", "cost \(dollars) for agent \(agentID) is not a finite number")
        }
        guard dollars >= 0 else {
            throw Rejection("negative_cost", "cost \(dollars) for agent \(agentID) is negative")
        }
        do {
            return try Money(dollars: dollars)
        } catch {
            throw Rejection("invalid_cost", error.message)
        }
    }

    private static func period(_ period: AgentCostWire.BudgetPeriod) -> AgentCostCore.BudgetPeriod? {
        switch period {
        case .lifetime: .lifetime
        case .daily: .daily
        case .weekly: .weekly
        case .monthly: .monthly
        default: nil
        }
    }

    /// The distinct agents named by the batch that are paused now, in first-mention order.
    private func pausedAgents(of batch: DecodedBatch) -> [String] {
        var agents = AgentSet()
        for event in batch {
            agents.insert(event.agentID)
        }
        return agents.ordered.filter { tracker.isPaused($0) }
    }
}

/// A spend's attribution to a goal: its room is reserved before the agent's run, and it is recorded after.
struct GoalSpend {
    let goalID: String
    let cost: Money
    let time: Timestamp
}

/// Consecutive cycle and spend events of one agent, waiting to be applied together. Its buffers are reused from
/// one run to the next.
struct AgentRun {
    var agentID = ""
    private(set) var commands: [AgentCommand] = []
    private(set) var eventIndexes: [Int] = []
    /// Goal attributions, by position in `commands`.
    private(set) var goalSpends: [(position: Int, spend: GoalSpend)] = []
    /// The goal room reserved for them before the commands are applied, by position in `commands`.
    private(set) var reservations: [(position: Int, reservation: GoalReservation, time: Timestamp)] = []

    mutating func append(_ command: AgentCommand, eventIndex: Int, goalSpend: GoalSpend?) {
        if let goalSpend {
            goalSpends.append((commands.count, goalSpend))
        }
        commands.append(command)
        eventIndexes.append(eventIndex)
    }

    mutating func reserved(_ reservation: GoalReservation, at position: Int, time: Timestamp) {
        reservations.append((position, reservation, time))
    }

    mutating func reset() {
        agentID = ""
        commands.removeAll(keepingCapacity: true)
        eventIndexes.removeAll(keepingCapacity: true)
        goalSpends.removeAll(keepingCapacity: true)
        reservations.removeAll(keepingCapacity: true)
    }
}

/// The distinct agent ids of a batch in first-mention order. Batches usually carry runs of one agent's events, so
/// a repeat of the previous id skips the set.
struct AgentSet {
    private var seen = Set<String>()
    private var previous = ""
    private(set) var ordered: [String] = []

    mutating func insert(_ agentID: String) {
        guard !agentID.isEmpty, agentID != previous else { return }
        previous = agentID
        if seen.insert(agentID).inserted {
            ordered.append(agentID)
        }
    }
}

extension Event.Payload {
    /// The agent the event is about; empty for goal events.
    var agentID: String {
        switch self {
        case .cycleStart(let start): start.agentID
        case .spend(let spend): spend.agentID
        case .cycleEnd(let end): end.agentID
        case .setBudget(let budget): budget.agentID
        case .resume(let resume): resume.agentID
        case .createGoal: ""
        }
    }
}

/// Why one event of a batch was not applied: a stable code (the metric's `reason` label) and a message. In the ack
/// it reads `code: message`.
struct Rejection: Error {
    let code: String
    let message: String

    init(_ code: String, _ message: String) {
        self.code = code
        self.message = message
    }

    var text: String { "\(code): \(message)" }

    /// The code of an ack rejection's reason text.
    static func code(of text: String) -> String {
        String(text.prefix { $0 != ":" })
    }
}
