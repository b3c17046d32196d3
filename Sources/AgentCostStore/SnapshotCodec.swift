// The storage module's one file that builds and reads protobuf-c messages: the entries of a snapshot file
// (proto/agentcost/v1/store.proto). It shares the wire module's arena allocator.

import AgentCostCore
import AgentCostWire
import CAgentCostProto
import CProtobufC

/// One entry of a snapshot file.
enum SnapshotEntry: Sendable, Equatable {
    case header(generation: UInt64, createdAt: Timestamp)
    case agent(AgentRecord)
    case goal(GoalRecord)
    case producer(id: String, sequence: UInt64)
    case end(agents: UInt64, goals: UInt64, producers: UInt64)
}

enum SnapshotCodec {
    static let format: UInt32 = 1

    // MARK: Encoding

    static func encode(_ entry: SnapshotEntry) throws(StoreError) -> [UInt8] {
        do {
            return try pack(entry)
        } catch {
            throw StoreError(.encodingFailed, "cannot encode a snapshot entry: \(error.message)")
        }
    }

    private static func pack(_ entry: SnapshotEntry) throws(WireError) -> [UInt8] {
        let arena = Arena(expectedSize: 4096, limit: .max)
        let message = try arena.make(Agentcost__V1__SnapshotEntry.self)
        agentcost__v1__snapshot_entry__init(message)
        switch entry {
        case .header(let generation, let createdAt):
            let header = try arena.make(Agentcost__V1__SnapshotHeader.self)
            agentcost__v1__snapshot_header__init(header)
            header.pointee.format = format
            header.pointee.generation = generation
            header.pointee.created_unix_nano = createdAt.nanosecondsSinceEpoch
            message.pointee.entry_case = AGENTCOST__V1__SNAPSHOT_ENTRY__ENTRY_HEADER
            message.pointee.header = header
        case .agent(let agent):
            message.pointee.entry_case = AGENTCOST__V1__SNAPSHOT_ENTRY__ENTRY_AGENT
            message.pointee.agent = try makeAgent(agent, in: arena)
        case .goal(let goal):
            message.pointee.entry_case = AGENTCOST__V1__SNAPSHOT_ENTRY__ENTRY_GOAL
            message.pointee.goal = try makeGoal(goal, in: arena)
        case .producer(let id, let sequence):
            let producer = try arena.make(Agentcost__V1__ProducerSequence.self)
            agentcost__v1__producer_sequence__init(producer)
            producer.pointee.producer_id = try arena.cString(id, field: "producer_id")
            producer.pointee.sequence = sequence
            message.pointee.entry_case = AGENTCOST__V1__SNAPSHOT_ENTRY__ENTRY_PRODUCER
            message.pointee.producer = producer
        case .end(let agents, let goals, let producers):
            let end = try arena.make(Agentcost__V1__SnapshotEnd.self)
            agentcost__v1__snapshot_end__init(end)
            end.pointee.agents = agents
            end.pointee.goals = goals
            end.pointee.producers = producers
            message.pointee.entry_case = AGENTCOST__V1__SNAPSHOT_ENTRY__ENTRY_END
            message.pointee.end = end
        }

        var bytes = [UInt8](repeating: 0, count: agentcost__v1__snapshot_entry__get_packed_size(message))
        bytes.withUnsafeMutableBufferPointer { _ = agentcost__v1__snapshot_entry__pack(message, $0.baseAddress) }
        return bytes
    }

    private static func makeAgent(
        _ agent: AgentRecord, in arena: Arena
    ) throws(WireError) -> UnsafeMutablePointer<Agentcost__V1__AgentSnapshot> {
        let message = try arena.make(Agentcost__V1__AgentSnapshot.self)
        agentcost__v1__agent_snapshot__init(message)
        message.pointee.agent_id = try arena.cString(agent.agentID, field: "agent_id")
        message.pointee.cycles_started = agent.cyclesStarted
        if let open = agent.openCycle {
            let cycle = try arena.make(Agentcost__V1__OpenCycleSnapshot.self)
            agentcost__v1__open_cycle_snapshot__init(cycle)
            cycle.pointee.number = open.number
            cycle.pointee.started_unix_nano = open.startedAt.nanosecondsSinceEpoch
            cycle.pointee.cost_nanos = open.cost.nanos
            cycle.pointee.calls = Int64(open.calls)
            message.pointee.open_cycle = cycle
        }

        let history = try arena.make(
            UnsafeMutablePointer<Agentcost__V1__CycleSnapshot>?.self, count: agent.history.count)
        for (index, cycle) in agent.history.enumerated() {
            let entry = try arena.make(Agentcost__V1__CycleSnapshot.self)
            agentcost__v1__cycle_snapshot__init(entry)
            entry.pointee.number = cycle.number
            entry.pointee.started_unix_nano = cycle.startedAt.nanosecondsSinceEpoch
            entry.pointee.ended_unix_nano = cycle.endedAt.nanosecondsSinceEpoch
            entry.pointee.cost_nanos = cycle.cost.nanos
            entry.pointee.baseline_nanos = cycle.baseline?.nanos ?? -1
            entry.pointee.calls = UInt32(clamping: cycle.calls)
            entry.pointee.anomaly = cycle.isAnomaly ? 1 : 0
            entry.pointee.baseline_sum_nanos = cycle.baselineSum?.nanos ?? 0
            entry.pointee.baseline_cycles = cycle.baselineSum == nil ? 0 : UInt32(clamping: cycle.baselineCycles)
            history[index] = entry
        }
        message.pointee.n_history = agent.history.count
        message.pointee.history = history

        let baseline = try arena.make(Int64.self, count: agent.baseline.count)
        for (index, cost) in agent.baseline.enumerated() {
            baseline[index] = cost.nanos
        }
        message.pointee.n_baseline_nanos = agent.baseline.count
        message.pointee.baseline_nanos = baseline

        message.pointee.completed_cycles = Int64(agent.completedCycles)
        message.pointee.completed_cost_nanos = agent.completedCost.nanos
        message.pointee.completed_calls = Int64(agent.completedCalls)
        message.pointee.anomaly_count = Int64(agent.anomalyCount)
        message.pointee.cumulative_spend_nanos = agent.cumulativeSpend.nanos
        message.pointee.out_of_cycle_spend_nanos = agent.outOfCycleSpend.nanos
        message.pointee.out_of_cycle_calls = Int64(agent.outOfCycleCalls)
        message.pointee.spend_while_paused_nanos = agent.spendWhilePaused.nanos
        message.pointee.has_last_cycle_cost = agent.lastCycleCost == nil ? 0 : 1
        message.pointee.last_cycle_cost_nanos = agent.lastCycleCost?.nanos ?? 0
        if let budget = agent.budget {
            let fields = try arena.make(Agentcost__V1__BudgetSnapshot.self)
            agentcost__v1__budget_snapshot__init(fields)
            fields.pointee.amount_nanos = budget.amount.nanos
            fields.pointee.period = Agentcost__V1__BudgetPeriod(rawValue: periodNumber(budget.period))
            fields.pointee.warning_ratio = budget.warningRatio
            fields.pointee.warned = budget.warned ? 1 : 0
            fields.pointee.overridden = budget.overridden ? 1 : 0
            message.pointee.budget = fields
        }
        message.pointee.day_index = agent.calendar.dayIndex
        message.pointee.day_spend_nanos = agent.calendar.daySpend.nanos
        message.pointee.week_index = agent.calendar.weekIndex
        message.pointee.week_spend_nanos = agent.calendar.weekSpend.nanos
        message.pointee.month_index = agent.calendar.monthIndex
        message.pointee.month_spend_nanos = agent.calendar.monthSpend.nanos
        message.pointee.paused = agent.paused ? 1 : 0
        message.pointee.pause_count = Int64(agent.pauseCount)
        return message
    }

    private static func makeGoal(
        _ goal: GoalRecord, in arena: Arena
    ) throws(WireError) -> UnsafeMutablePointer<Agentcost__V1__GoalSnapshot> {
        let message = try arena.make(Agentcost__V1__GoalSnapshot.self)
        agentcost__v1__goal_snapshot__init(message)
        message.pointee.goal_id = try arena.cString(goal.goalID, field: "goal_id")
        message.pointee.name = try arena.cString(goal.name, field: "name")
        message.pointee.parent_id = try arena.cString(goal.parentID ?? "", field: "parent_id")
        let children = try arena.make(UnsafeMutablePointer<CChar>?.self, count: goal.childIDs.count)
        for (index, child) in goal.childIDs.enumerated() {
            children[index] = try arena.cString(child, field: "child_ids")
        }
        message.pointee.n_child_ids = goal.childIDs.count
        message.pointee.child_ids = children
        message.pointee.direct_cost_nanos = goal.directCost.nanos
        message.pointee.total_cost_nanos = goal.totalCost.nanos
        message.pointee.direct_calls = Int64(goal.directCalls)
        message.pointee.total_calls = Int64(goal.totalCalls)
        message.pointee.has_budget = goal.budget == nil ? 0 : 1
        message.pointee.budget_nanos = goal.budget?.nanos ?? 0
        message.pointee.warning_ratio = goal.warningRatio
        message.pointee.implicit = goal.isImplicit ? 1 : 0
        message.pointee.warned = goal.warned ? 1 : 0
        message.pointee.exceeded = goal.exceeded ? 1 : 0
        return message
    }

    // MARK: Decoding

    /// Decodes one entry; nil when the bytes are not a valid SnapshotEntry.
    static func decode(_ bytes: ArraySlice<UInt8>) -> SnapshotEntry? {
        guard !bytes.isEmpty else { return nil }
        let arena = Arena(expectedSize: bytes.count * 4, limit: 1 << 30)
        let message = bytes.withUnsafeBufferPointer { buffer in
            arena.withAllocator { agentcost__v1__snapshot_entry__unpack($0, buffer.count, buffer.baseAddress) }
        }
        guard let entry = message?.pointee else { return nil }
        switch entry.entry_case {
        case AGENTCOST__V1__SNAPSHOT_ENTRY__ENTRY_HEADER:
            guard let header = entry.header?.pointee, header.format == format else { return nil }
            return .header(
                generation: header.generation,
                createdAt: Timestamp(nanosecondsSinceEpoch: header.created_unix_nano))
        case AGENTCOST__V1__SNAPSHOT_ENTRY__ENTRY_AGENT:
            return entry.agent.flatMap { readAgent($0.pointee) }.map { .agent($0) }
        case AGENTCOST__V1__SNAPSHOT_ENTRY__ENTRY_GOAL:
            return entry.goal.map { .goal(readGoal($0.pointee)) }
        case AGENTCOST__V1__SNAPSHOT_ENTRY__ENTRY_PRODUCER:
            return entry.producer.map {
                .producer(id: makeString($0.pointee.producer_id), sequence: $0.pointee.sequence)
            }
        case AGENTCOST__V1__SNAPSHOT_ENTRY__ENTRY_END:
            return entry.end.map {
                .end(agents: $0.pointee.agents, goals: $0.pointee.goals, producers: $0.pointee.producers)
            }
        default:
            return nil
        }
    }

    private static func readAgent(_ agent: Agentcost__V1__AgentSnapshot) -> AgentRecord? {
        var history: [AgentRecord.Cycle] = []
        for index in 0..<agent.n_history {
            guard let cycle = agent.history?[index]?.pointee else { continue }
            history.append(
                AgentRecord.Cycle(
                    number: cycle.number,
                    startedAt: Timestamp(nanosecondsSinceEpoch: cycle.started_unix_nano),
                    endedAt: Timestamp(nanosecondsSinceEpoch: cycle.ended_unix_nano),
                    cost: Money(nanos: cycle.cost_nanos),
                    baseline: cycle.baseline_nanos < 0 ? nil : Money(nanos: cycle.baseline_nanos),
                    baselineSum: cycle.baseline_cycles == 0 ? nil : Money(nanos: cycle.baseline_sum_nanos),
                    baselineCycles: Int(cycle.baseline_cycles),
                    calls: Int(cycle.calls),
                    isAnomaly: cycle.anomaly != 0))
        }
        let baseline = (0..<agent.n_baseline_nanos).compactMap { agent.baseline_nanos?[$0] }.map { Money(nanos: $0) }
        let budget = agent.budget.flatMap { pointer -> AgentRecord.Budget? in
            let fields = pointer.pointee
            guard let period = period(Int32(truncatingIfNeeded: fields.period.rawValue)) else { return nil }
            return AgentRecord.Budget(
                amount: Money(nanos: fields.amount_nanos), period: period, warningRatio: fields.warning_ratio,
                warned: fields.warned != 0, overridden: fields.overridden != 0)
        }
        return AgentRecord(
            agentID: makeString(agent.agent_id),
            cyclesStarted: agent.cycles_started,
            openCycle: agent.open_cycle.map {
                AgentRecord.OpenCycle(
                    number: $0.pointee.number,
                    startedAt: Timestamp(nanosecondsSinceEpoch: $0.pointee.started_unix_nano),
                    cost: Money(nanos: $0.pointee.cost_nanos), calls: Int($0.pointee.calls))
            },
            history: history,
            baseline: baseline,
            completedCycles: Int(agent.completed_cycles),
            completedCost: Money(nanos: agent.completed_cost_nanos),
            completedCalls: Int(agent.completed_calls),
            anomalyCount: Int(agent.anomaly_count),
            cumulativeSpend: Money(nanos: agent.cumulative_spend_nanos),
            outOfCycleSpend: Money(nanos: agent.out_of_cycle_spend_nanos),
            outOfCycleCalls: Int(agent.out_of_cycle_calls),
            spendWhilePaused: Money(nanos: agent.spend_while_paused_nanos),
            lastCycleCost: agent.has_last_cycle_cost != 0 ? Money(nanos: agent.last_cycle_cost_nanos) : nil,
            budget: budget,
            calendar: AgentRecord.Calendar(
                dayIndex: agent.day_index, daySpend: Money(nanos: agent.day_spend_nanos), weekIndex: agent.week_index,
                weekSpend: Money(nanos: agent.week_spend_nanos), monthIndex: agent.month_index,
                monthSpend: Money(nanos: agent.month_spend_nanos)),
            paused: agent.paused != 0,
            pauseCount: Int(agent.pause_count))
    }

    private static func readGoal(_ goal: Agentcost__V1__GoalSnapshot) -> GoalRecord {
        let parent = makeString(goal.parent_id)
        return GoalRecord(
            goalID: makeString(goal.goal_id), name: makeString(goal.name), parentID: parent.isEmpty ? nil : parent,
            childIDs: (0..<goal.n_child_ids).map { makeString(goal.child_ids?[$0]) },
            directCost: Money(nanos: goal.direct_cost_nanos), totalCost: Money(nanos: goal.total_cost_nanos),
            directCalls: Int(goal.direct_calls), totalCalls: Int(goal.total_calls),
            budget: goal.has_budget != 0 ? Money(nanos: goal.budget_nanos) : nil, warningRatio: goal.warning_ratio,
            isImplicit: goal.implicit != 0, warned: goal.warned != 0, exceeded: goal.exceeded != 0)
    }

    private static func periodNumber(_ period: AgentCostCore.BudgetPeriod) -> UInt32 {
        switch period {
        case .lifetime: 0
        case .daily: 1
        case .weekly: 2
        case .monthly: 3
        }
    }

    private static func period(_ number: Int32) -> AgentCostCore.BudgetPeriod? {
        switch number {
        case 0: .lifetime
        case 1: .daily
        case 2: .weekly
        case 3: .monthly
        default: nil
        }
    }
}
