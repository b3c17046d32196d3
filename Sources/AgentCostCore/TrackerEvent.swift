/// Something the outside world cares about, emitted by the tracker or the goal service as it happens.
///
/// Later stages turn these into metrics, webhooks and orchestrator calls. Events of one call are delivered in
/// the order they happened, after the tracker's internal lock is released, on the caller's thread.
public enum TrackerEvent: Sendable, Hashable {
    /// A cycle ended (normally or as an anomaly).
    case cycleEnded(CycleSummary)
    /// A cycle ended at an anomalous cost; follows the `cycleEnded` of the same cycle.
    case anomaly(CycleSummary)
    /// The agent's spend in the current period first reached its warning ratio of the budget.
    case budgetWarning(BudgetNotice)
    /// The agent went from running to paused.
    case paused(PauseNotice)
    /// The agent went from paused to running.
    case resumed(ResumeNotice)
    /// A goal's total cost (its own and its children's) first reached its warning ratio of the goal's budget.
    case goalWarning(GoalNotice)
    /// A goal's total cost first reached its budget. Advisory: no agent is paused for it.
    case goalExceeded(GoalNotice)
}

/// The facts of a budget crossing.
public struct BudgetNotice: Sendable, Hashable {
    public let agentID: String
    public let spend: Money
    public let budget: Money
    public let period: BudgetPeriod
    public let time: Timestamp
}

/// Why and when an agent was paused; what the pause handler receives.
public struct PauseNotice: Sendable, Hashable {
    public let agentID: String
    /// `Budget exceeded: $1.02 / $1.00`
    public let reason: String
    /// The agent's spend in the budget's current period.
    public let spend: Money
    public let budget: Money
    public let period: BudgetPeriod
    public let time: Timestamp
}

/// Why an agent was resumed.
public enum ResumeCause: String, Sendable, Hashable {
    /// An operator resumed it with `force` while it was still at or over budget.
    case forced
    /// Its budget was raised above its spend, or removed.
    case budgetChanged = "budget_changed"
    /// A new budget period began and its spend started from zero.
    case periodRollover = "period_rollover"
}

public struct ResumeNotice: Sendable, Hashable {
    public let agentID: String
    public let cause: ResumeCause
    public let time: Timestamp
}

public struct GoalNotice: Sendable, Hashable {
    public let goalID: String
    /// The goal's cost including its children's.
    public let cost: Money
    public let budget: Money
    public let time: Timestamp
}
