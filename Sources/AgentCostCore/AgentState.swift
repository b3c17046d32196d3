/// Everything the tracker knows about one agent, and the rules that change it.
///
/// A plain value with no locks and no clock: each mutating method takes the event's time and appends the events
/// it causes to `events`. `HeartbeatTracker` owns the locking; this type owns the semantics (docs/semantics.md).
struct AgentState: Sendable {
    let id: String

    // Cycles.
    private(set) var cyclesStarted: UInt64 = 0
    private(set) var openCycle: OpenCycle?
    private var history: BoundedRing<CycleRecord>
    /// Costs of the latest normal (non-anomalous) completed cycles: the anomaly baseline.
    private var baseline: BoundedRing<Int64>
    private var baselineSum: Int64 = 0

    // Lifetime totals.
    private(set) var completedCycles = 0
    private(set) var completedCost = Money.zero
    private(set) var completedCalls = 0
    private(set) var anomalyCount = 0
    private(set) var cumulativeSpend = Money.zero
    private(set) var outOfCycleSpend = Money.zero
    private(set) var outOfCycleCalls = 0
    private(set) var spendWhilePaused = Money.zero
    private(set) var lastCycleCost: Money?

    // Budget.
    private(set) var budget: Budget?
    private(set) var calendar = CalendarSpend()
    private(set) var isPaused = false
    private(set) var pauseCount = 0

    struct OpenCycle: Sendable {
        let number: UInt64
        let startedAt: Timestamp
        var cost = Money.zero
        var calls = 0
    }

    struct Budget: Sendable {
        var amount: Money
        var period: BudgetPeriod
        var warningRatio: Double
        /// The warning for the current period has fired.
        var warned = false
        /// A forced resume suspended enforcement until the period ends or the budget changes.
        var overridden = false

        var warningThreshold: Money {
            Money(nanos: Int64((Double(amount.nanos) * warningRatio).rounded(.up)))
        }
    }

    /// A completed cycle, stored compactly (48 bytes): the anomaly reason is rebuilt from the baseline when asked
    /// for.
    struct CycleRecord: Sendable {
        let number: UInt64
        let startedAt: Int64
        let endedAt: Int64
        let cost: Int64
        /// The sum of the costs of the `baselineCycles` normal cycles the cycle was judged against, or -1 when there
        /// were not enough of them. The sum, not the rounded average, so that the reason's ratio stays exact.
        let baselineSum: Int64
        let calls: UInt32
        /// At most the rolling window (10000); 0 when the cycle was not judged.
        let baselineCycles: UInt16
        let isAnomaly: Bool

        /// The rolling average the cycle was judged against, rounded to the nano-dollar.
        var rollingAverage: Money? {
            guard baselineSum >= 0, baselineCycles > 0 else { return nil }
            let count = Int64(baselineCycles)
            return Money(nanos: (baselineSum + count / 2) / count)
        }

        /// How many times the rolling average the cycle cost.
        var ratio: Double? {
            guard baselineSum > 0, baselineCycles > 0 else { return nil }
            return Double(cost) * Double(baselineCycles) / Double(baselineSum)
        }
    }

    init(id: String, configuration: TrackerConfiguration) {
        self.id = id
        self.history = BoundedRing(limit: configuration.retainedCycles)
        self.baseline = BoundedRing(limit: configuration.rollingWindow)
    }

    /// Rebuilds an agent from a snapshot record. Retention and window come from the current configuration: if they
    /// shrank since the snapshot, the oldest cycles and baseline costs are dropped.
    init(record: AgentRecord, configuration: TrackerConfiguration) {
        self.init(id: record.agentID, configuration: configuration)
        cyclesStarted = record.cyclesStarted
        openCycle = record.openCycle.map {
            OpenCycle(number: $0.number, startedAt: $0.startedAt, cost: $0.cost, calls: $0.calls)
        }
        for cycle in record.history {
            // Snapshots from before the exact baseline was kept have only the rounded average: one cycle's worth.
            var baselineSum: Int64 = -1
            var baselineCycles: UInt16 = 0
            if let sum = cycle.baselineSum, cycle.baselineCycles > 0 {
                (baselineSum, baselineCycles) = (sum.nanos, UInt16(clamping: cycle.baselineCycles))
            } else if let average = cycle.baseline {
                (baselineSum, baselineCycles) = (average.nanos, 1)
            }
            history.append(
                CycleRecord(
                    number: cycle.number,
                    startedAt: cycle.startedAt.nanosecondsSinceEpoch,
                    endedAt: cycle.endedAt.nanosecondsSinceEpoch,
                    cost: cycle.cost.nanos,
                    baselineSum: baselineSum,
                    calls: UInt32(clamping: cycle.calls),
                    baselineCycles: baselineCycles,
                    isAnomaly: cycle.isAnomaly
                )
            )
        }
        for cost in record.baseline {
            if let displaced = baseline.append(cost.nanos) {
                baselineSum -= displaced
            }
            baselineSum += cost.nanos
        }
        completedCycles = record.completedCycles
        completedCost = record.completedCost
        completedCalls = record.completedCalls
        anomalyCount = record.anomalyCount
        cumulativeSpend = record.cumulativeSpend
        outOfCycleSpend = record.outOfCycleSpend
        outOfCycleCalls = record.outOfCycleCalls
        spendWhilePaused = record.spendWhilePaused
        lastCycleCost = record.lastCycleCost
        budget = record.budget.map {
            Budget(
                amount: $0.amount, period: $0.period, warningRatio: $0.warningRatio, warned: $0.warned,
                overridden: $0.overridden)
        }
        calendar = CalendarSpend(record: record.calendar)
        isPaused = record.paused
        pauseCount = record.pauseCount
    }

    var historyOldestFirst: [CycleRecord] { history.newestFirst(maximum: history.count).reversed() }
    var baselineOldestFirst: [Int64] { baseline.newestFirst(maximum: baseline.count).reversed() }

    // MARK: Events

    mutating func startCycle(at time: Timestamp, configuration: TrackerConfiguration, events: inout [TrackerEvent])
        -> CycleID
    {
        rollPeriods(to: time, events: &events)
        if openCycle != nil {
            _ = endCycle(at: time, configuration: configuration, events: &events)
        }

        cyclesStarted += 1
        openCycle = OpenCycle(number: cyclesStarted, startedAt: time)
        return CycleID(agentID: id, number: cyclesStarted)
    }

    /// Checks that `cost` can be added without overflowing any total, so that `recordSpend` never half-applies.
    func validateSpend(_ cost: Money) throws(TrackerError) {
        guard cost.nanos >= 0 else {
            throw TrackerError(.invalidAmount, "cost \(cost) for agent \(id) is negative; costs are never below $0")
        }
        _ = try cumulativeSpend.adding(cost)
    }

    mutating func recordSpend(_ cost: Money, at time: Timestamp, events: inout [TrackerEvent]) {
        rollPeriods(to: time, events: &events)

        cumulativeSpend += cost
        calendar.add(cost)
        if isPaused {
            spendWhilePaused += cost
        }
        if openCycle != nil {
            openCycle!.cost += cost
            openCycle!.calls += 1
        } else {
            outOfCycleSpend += cost
            outOfCycleCalls += 1
        }

        enforceBudget(at: time, resumeCause: .budgetChanged, events: &events)
    }

    mutating func endCycle(at time: Timestamp, configuration: TrackerConfiguration, events: inout [TrackerEvent])
        -> CycleSummary?
    {
        rollPeriods(to: time, events: &events)
        guard let cycle = openCycle else { return nil }
        openCycle = nil

        // Judge the cycle against the baseline of earlier normal cycles, before it can join them.
        let judged = baseline.count >= configuration.minimumHistory
        let isAnomaly =
            judged
            && Self.exceeds(
                cost: cycle.cost.nanos, multiplier: configuration.anomalyMultiplier, baselineSum: baselineSum,
                baselineCycles: baseline.count)

        completedCycles += 1
        completedCost += cycle.cost
        completedCalls += cycle.calls
        lastCycleCost = cycle.cost
        if isAnomaly {
            anomalyCount += 1
        } else {
            if let displaced = baseline.append(cycle.cost.nanos) {
                baselineSum -= displaced
            }
            baselineSum += cycle.cost.nanos
        }

        let record = CycleRecord(
            number: cycle.number,
            startedAt: cycle.startedAt.nanosecondsSinceEpoch,
            endedAt: max(time.nanosecondsSinceEpoch, cycle.startedAt.nanosecondsSinceEpoch),
            cost: cycle.cost.nanos,
            baselineSum: judged ? baselineSum : -1,
            calls: UInt32(clamping: cycle.calls),
            baselineCycles: judged ? UInt16(baseline.count) : 0,
            isAnomaly: isAnomaly
        )
        history.append(record)

        let summary = summary(of: record)
        events.append(.cycleEnded(summary))
        if isAnomaly {
            events.append(.anomaly(summary))
        }
        return summary
    }

    /// Whether `cost` is strictly more than `multiplier` times the average `baselineSum / baselineCycles`, decided
    /// exactly, with no rounding of the average: `cost × cycles > multiplier × sum`. The multiplier is a binary
    /// fraction, `significand × 2^exponent`, so both sides are whole numbers scaled by a power of two.
    static func exceeds(cost: Int64, multiplier: Double, baselineSum: Int64, baselineCycles: Int) -> Bool {
        // An average of $0 (or no baseline) flags nothing: any cost would be "infinitely" many times it.
        guard baselineSum > 0, cost > 0 else { return false }

        // cost < 2^63 and cycles <= 10000 < 2^14; the multiplier (>= 1, validated) has a 53-bit significand.
        let left = UInt128(cost) * UInt128(baselineCycles)
        let significand = UInt128(multiplier.significandBitPattern | (1 << 52))
        let exponent = Int(multiplier.exponent) - 52
        let right = significand * UInt128(baselineSum)

        if exponent < 0 {
            // left > right / 2^k; left is whole, so comparing with the floor of the quotient is exact.
            return left > right >> -exponent
        }
        guard exponent < 128 else { return false }
        // left > right × 2^e: compare the whole part of left / 2^e, and on a tie whatever remains of left.
        let whole = left >> exponent
        return whole > right || (whole == right && left & ((1 << exponent) - 1) != 0)
    }

    /// Sets or removes the budget. A lower budget can pause the agent at once; a higher one, or none, resumes it.
    mutating func setBudget(
        _ amount: Money?,
        period: BudgetPeriod,
        warningRatio: Double,
        at time: Timestamp,
        events: inout [TrackerEvent]
    ) {
        rollPeriods(to: time, events: &events)
        budget = amount.map { Budget(amount: $0, period: period, warningRatio: warningRatio) }
        enforceBudget(at: time, resumeCause: .budgetChanged, events: &events)
    }

    /// Resumes a paused agent; returns false when it was not paused.
    ///
    /// - Throws: `resumeRefused` when the agent is still at or over its budget and `force` is false.
    mutating func resume(force: Bool, at time: Timestamp, events: inout [TrackerEvent]) throws(TrackerError) -> Bool {
        rollPeriods(to: time, events: &events)
        guard isPaused, let budget else { return false }

        guard force else {
            throw TrackerError(
                .resumeRefused,
                "agent \(id) has spent \(periodSpend) of its \(budget.period) budget of \(budget.amount), so it "
                    + "would be paused again at its next spend; raise the budget above the spend, or resume with force"
            )
        }
        self.budget!.overridden = true
        isPaused = false
        events.append(.resumed(ResumeNotice(agentID: id, cause: .forced, time: time)))
        return true
    }

    /// Starts a new budget period when `time` has passed into one: the period's spend starts from zero, the warning
    /// is re-armed, a forced resume expires, and an agent paused by the old period's spend resumes.
    mutating func rollPeriods(to time: Timestamp, events: inout [TrackerEvent]) {
        guard calendar.advance(to: time, watched: budget?.period) else { return }

        budget!.warned = false
        budget!.overridden = false
        enforceBudget(at: time, resumeCause: .periodRollover, events: &events)
    }

    /// Brings `isPaused` and the warning in line with the spend: paused exactly when the period's spend is at or over
    /// the budget, unless a forced resume overrides it.
    private mutating func enforceBudget(at time: Timestamp, resumeCause: ResumeCause, events: inout [TrackerEvent]) {
        guard let budget else {
            if isPaused {
                isPaused = false
                events.append(.resumed(ResumeNotice(agentID: id, cause: resumeCause, time: time)))
            }
            return
        }

        let spend = periodSpend
        if !budget.warned, spend >= budget.warningThreshold {
            self.budget!.warned = true
            let notice = BudgetNotice(
                agentID: id, spend: spend, budget: budget.amount, period: budget.period, time: time)
            events.append(.budgetWarning(notice))
        }

        let overBudget = spend >= budget.amount && !budget.overridden
        if overBudget, !isPaused {
            isPaused = true
            pauseCount += 1
            let notice = PauseNotice(
                agentID: id,
                reason: "Budget exceeded: \(spend) / \(budget.amount)",
                spend: spend,
                budget: budget.amount,
                period: budget.period,
                time: time
            )
            events.append(.paused(notice))
        } else if !overBudget, isPaused {
            isPaused = false
            events.append(.resumed(ResumeNotice(agentID: id, cause: resumeCause, time: time)))
        }
    }

    // MARK: Reading

    /// The spend counted against the budget: lifetime spend, or the current calendar period's.
    var periodSpend: Money {
        calendar.spend(in: budget?.period ?? .lifetime) ?? cumulativeSpend
    }

    var rollingAverage: Money? {
        guard !baseline.isEmpty else { return nil }
        let count = Int64(baseline.count)
        return Money(nanos: (baselineSum + count / 2) / count)
    }

    var hasOnlyBudget: Bool { cyclesStarted == 0 && cumulativeSpend == .zero }

    func cycles(limit: Int) -> [CycleSummary] {
        guard limit > 0 else { return [] }
        var result: [CycleSummary] = []
        if let openCycle {
            result.append(
                CycleSummary(
                    id: CycleID(agentID: id, number: openCycle.number),
                    startedAt: openCycle.startedAt,
                    endedAt: nil,
                    cost: openCycle.cost,
                    calls: openCycle.calls,
                    status: .active,
                    rollingAverage: nil,
                    anomalyRatio: nil
                )
            )
        }
        for record in history.newestFirst(maximum: limit - result.count) {
            result.append(summary(of: record))
        }
        return result
    }

    private func summary(of record: CycleRecord) -> CycleSummary {
        CycleSummary(
            id: CycleID(agentID: id, number: record.number),
            startedAt: Timestamp(nanosecondsSinceEpoch: record.startedAt),
            endedAt: Timestamp(nanosecondsSinceEpoch: record.endedAt),
            cost: Money(nanos: record.cost),
            calls: Int(record.calls),
            status: record.isAnomaly ? .anomaly : .completed,
            rollingAverage: record.isAnomaly ? record.rollingAverage : nil,
            anomalyRatio: record.isAnomaly ? record.ratio : nil
        )
    }

    var summary: AgentSummary {
        AgentSummary(
            agentID: id,
            totalCycles: completedCycles,
            totalCost: completedCost,
            totalCalls: completedCalls,
            anomalyCount: anomalyCount,
            cumulativeSpend: cumulativeSpend,
            outOfCycleSpend: outOfCycleSpend,
            outOfCycleCalls: outOfCycleCalls,
            spendWhilePaused: spendWhilePaused,
            budget: budget?.amount,
            period: budget?.period ?? .lifetime,
            periodSpend: periodSpend,
            warningRatio: budget?.warningRatio ?? 0,
            paused: isPaused,
            pauseCount: pauseCount,
            budgetOverridden: budget?.overridden ?? false,
            activeCycle: cycles(limit: 1).first { $0.status == .active },
            lastCycleCost: lastCycleCost,
            rollingAverage: rollingAverage
        )
    }
}

/// The agent's spend in the current UTC day, ISO week and month, kept whether or not a budget uses them, so that a
/// budget set mid-period counts the period's spend from its true start.
struct CalendarSpend: Sendable {
    private var day = Window()
    private var week = Window()
    private var month = Window()

    init() {}

    init(record: AgentRecord.Calendar) {
        day = Window(index: record.dayIndex, spend: record.daySpend)
        week = Window(index: record.weekIndex, spend: record.weekSpend)
        month = Window(index: record.monthIndex, spend: record.monthSpend)
    }

    var record: AgentRecord.Calendar {
        AgentRecord.Calendar(
            dayIndex: day.index, daySpend: day.spend, weekIndex: week.index, weekSpend: week.spend,
            monthIndex: month.index, monthSpend: month.spend)
    }

    private struct Window: Sendable {
        var index = Int64.min
        var spend = Money.zero

        /// Moves to the period containing `time` if it is later (late events count in the current period);
        /// returns true when a period that had begun was left behind.
        mutating func advance(to time: Timestamp, period: BudgetPeriod) -> Bool {
            let newIndex = period.index(of: time)
            guard newIndex > index else { return false }
            let hadPeriod = index != .min
            index = newIndex
            spend = .zero
            return hadPeriod
        }
    }

    /// Moves every window to `time`; returns whether `watched` (the budget's period) rolled over.
    mutating func advance(to time: Timestamp, watched: BudgetPeriod?) -> Bool {
        // Weeks and months only change when the day does: the common case costs one division.
        guard time.daysSinceEpoch > day.index else { return false }
        let daily = day.advance(to: time, period: .daily)
        let weekly = week.advance(to: time, period: .weekly)
        let monthly = month.advance(to: time, period: .monthly)
        switch watched {
        case .daily: return daily
        case .weekly: return weekly
        case .monthly: return monthly
        case .lifetime, nil: return false
        }
    }

    mutating func add(_ cost: Money) {
        day.spend += cost
        week.spend += cost
        month.spend += cost
    }

    /// The spend of the current calendar period; nil for `lifetime`, whose spend is the cumulative spend.
    func spend(in period: BudgetPeriod) -> Money? {
        switch period {
        case .lifetime: return nil
        case .daily: return day.spend
        case .weekly: return week.spend
        case .monthly: return month.spend
        }
    }
}
