/// The tracker's whole state as plain values, for snapshots: everything needed to rebuild an agent exactly,
/// including its retained cycles, its anomaly baseline and its calendar spend.
public struct AgentRecord: Sendable, Equatable {
    public var agentID: String
    public var cyclesStarted: UInt64
    public var openCycle: OpenCycle?
    /// Retained completed cycles, oldest first.
    public var history: [Cycle]
    /// Costs of the latest normal cycles, oldest first.
    public var baseline: [Money]
    public var completedCycles: Int
    public var completedCost: Money
    public var completedCalls: Int
    public var anomalyCount: Int
    public var cumulativeSpend: Money
    public var outOfCycleSpend: Money
    public var outOfCycleCalls: Int
    public var spendWhilePaused: Money
    public var lastCycleCost: Money?
    public var budget: Budget?
    public var calendar: Calendar
    public var paused: Bool
    public var pauseCount: Int

    public struct OpenCycle: Sendable, Equatable {
        public var number: UInt64
        public var startedAt: Timestamp
        public var cost: Money
        public var calls: Int

        public init(number: UInt64, startedAt: Timestamp, cost: Money, calls: Int) {
            self.number = number
            self.startedAt = startedAt
            self.cost = cost
            self.calls = calls
        }
    }

    public struct Cycle: Sendable, Equatable {
        public var number: UInt64
        public var startedAt: Timestamp
        public var endedAt: Timestamp
        public var cost: Money
        /// The rolling average the cycle was judged against (rounded to the nano-dollar), if there was one.
        public var baseline: Money?
        /// The exact baseline behind `baseline`: the sum of the costs of `baselineCycles` normal cycles. Nil (and
        /// 0 cycles) in records from before it was kept, which have only the rounded average.
        public var baselineSum: Money?
        public var baselineCycles: Int
        public var calls: Int
        public var isAnomaly: Bool

        public init(
            number: UInt64, startedAt: Timestamp, endedAt: Timestamp, cost: Money, baseline: Money?,
            baselineSum: Money? = nil, baselineCycles: Int = 0, calls: Int, isAnomaly: Bool
        ) {
            self.number = number
            self.startedAt = startedAt
            self.endedAt = endedAt
            self.cost = cost
            self.baseline = baseline
            self.baselineSum = baselineSum
            self.baselineCycles = baselineCycles
            self.calls = calls
            self.isAnomaly = isAnomaly
        }
    }

    public struct Budget: Sendable, Equatable {
        public var amount: Money
        public var period: BudgetPeriod
        public var warningRatio: Double
        public var warned: Bool
        public var overridden: Bool

        public init(amount: Money, period: BudgetPeriod, warningRatio: Double, warned: Bool, overridden: Bool) {
            self.amount = amount
            self.period = period
            self.warningRatio = warningRatio
            self.warned = warned
            self.overridden = overridden
        }
    }

    /// The current UTC day, ISO week and month (as period indices) and the spend in each.
    public struct Calendar: Sendable, Equatable {
        public var dayIndex: Int64
        public var daySpend: Money
        public var weekIndex: Int64
        public var weekSpend: Money
        public var monthIndex: Int64
        public var monthSpend: Money

        public init(
            dayIndex: Int64, daySpend: Money, weekIndex: Int64, weekSpend: Money, monthIndex: Int64, monthSpend: Money
        ) {
            self.dayIndex = dayIndex
            self.daySpend = daySpend
            self.weekIndex = weekIndex
            self.weekSpend = weekSpend
            self.monthIndex = monthIndex
            self.monthSpend = monthSpend
        }
    }

    public init(
        agentID: String, cyclesStarted: UInt64, openCycle: OpenCycle?, history: [Cycle], baseline: [Money],
        completedCycles: Int, completedCost: Money, completedCalls: Int, anomalyCount: Int, cumulativeSpend: Money,
        outOfCycleSpend: Money, outOfCycleCalls: Int, spendWhilePaused: Money, lastCycleCost: Money?, budget: Budget?,
        calendar: Calendar, paused: Bool, pauseCount: Int
    ) {
        self.agentID = agentID
        self.cyclesStarted = cyclesStarted
        self.openCycle = openCycle
        self.history = history
        self.baseline = baseline
        self.completedCycles = completedCycles
        self.completedCost = completedCost
        self.completedCalls = completedCalls
        self.anomalyCount = anomalyCount
        self.cumulativeSpend = cumulativeSpend
        self.outOfCycleSpend = outOfCycleSpend
        self.outOfCycleCalls = outOfCycleCalls
        self.spendWhilePaused = spendWhilePaused
        self.lastCycleCost = lastCycleCost
        self.budget = budget
        self.calendar = calendar
        self.paused = paused
        self.pauseCount = pauseCount
    }
}

/// A goal as plain values, for snapshots.
public struct GoalRecord: Sendable, Equatable {
    public var goalID: String
    public var name: String
    public var parentID: String?
    public var childIDs: [String]
    public var directCost: Money
    public var totalCost: Money
    public var directCalls: Int
    public var totalCalls: Int
    public var budget: Money?
    public var warningRatio: Double
    public var isImplicit: Bool
    public var warned: Bool
    public var exceeded: Bool

    public init(
        goalID: String, name: String, parentID: String?, childIDs: [String], directCost: Money, totalCost: Money,
        directCalls: Int, totalCalls: Int, budget: Money?, warningRatio: Double, isImplicit: Bool, warned: Bool,
        exceeded: Bool
    ) {
        self.goalID = goalID
        self.name = name
        self.parentID = parentID
        self.childIDs = childIDs
        self.directCost = directCost
        self.totalCost = totalCost
        self.directCalls = directCalls
        self.totalCalls = totalCalls
        self.budget = budget
        self.warningRatio = warningRatio
        self.isImplicit = isImplicit
        self.warned = warned
        self.exceeded = exceeded
    }
}

/// The tracker's agents at one instant, captured without copying them: each shard's dictionary is shared
/// copy-on-write, so capturing costs one retain per shard and ingest goes on at once; records are made only when
/// the snapshot is written.
public struct TrackerCapture: Sendable {
    let shards: [[String: AgentState]]

    public var agentCount: Int { shards.reduce(0) { $0 + $1.count } }

    /// Calls `body` with every agent's record.
    public func forEachAgent<Failure: Error>(_ body: (AgentRecord) throws(Failure) -> Void) throws(Failure) {
        for shard in shards {
            for agent in shard.values {
                try body(agent.record)
            }
        }
    }
}

extension HeartbeatTracker {
    /// Captures every agent, shard by shard (each shard consistent in itself). Taken while no batch is being
    /// applied, it is the state after exactly the batches applied so far.
    public func capture() -> TrackerCapture {
        var shards: [[String: AgentState]] = []
        forEachShard { shards.append(copy $0) }
        return TrackerCapture(shards: shards)
    }

    /// Replaces nothing and emits no events: adds agents restored from a snapshot. Call on an empty tracker before
    /// any traffic.
    ///
    /// - Throws: `invalidID` for a bad id, `tooManyAgents` past the configured maximum.
    public func restore(_ record: AgentRecord) throws(TrackerError) {
        try Identifier.validate(record.agentID, kind: "agent")
        let configuration = configuration
        _ = try upsert(record.agentID) { agent, _ in
            agent = AgentState(record: record, configuration: configuration)
        }
    }
}

extension AgentState {
    var record: AgentRecord {
        AgentRecord(
            agentID: id,
            cyclesStarted: cyclesStarted,
            openCycle: openCycle.map {
                AgentRecord.OpenCycle(number: $0.number, startedAt: $0.startedAt, cost: $0.cost, calls: $0.calls)
            },
            history: historyOldestFirst.map {
                AgentRecord.Cycle(
                    number: $0.number,
                    startedAt: Timestamp(nanosecondsSinceEpoch: $0.startedAt),
                    endedAt: Timestamp(nanosecondsSinceEpoch: $0.endedAt),
                    cost: Money(nanos: $0.cost),
                    baseline: $0.rollingAverage,
                    baselineSum: $0.baselineSum < 0 ? nil : Money(nanos: $0.baselineSum),
                    baselineCycles: Int($0.baselineCycles),
                    calls: Int($0.calls),
                    isAnomaly: $0.isAnomaly
                )
            },
            baseline: baselineOldestFirst.map { Money(nanos: $0) },
            completedCycles: completedCycles,
            completedCost: completedCost,
            completedCalls: completedCalls,
            anomalyCount: anomalyCount,
            cumulativeSpend: cumulativeSpend,
            outOfCycleSpend: outOfCycleSpend,
            outOfCycleCalls: outOfCycleCalls,
            spendWhilePaused: spendWhilePaused,
            lastCycleCost: lastCycleCost,
            budget: budget.map {
                AgentRecord.Budget(
                    amount: $0.amount, period: $0.period, warningRatio: $0.warningRatio, warned: $0.warned,
                    overridden: $0.overridden)
            },
            calendar: calendar.record,
            paused: isPaused,
            pauseCount: pauseCount
        )
    }
}
