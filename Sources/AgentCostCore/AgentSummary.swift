/// An agent's totals, budget and state at one moment.
public struct AgentSummary: Sendable, Hashable {
    public let agentID: String
    /// Completed cycles (anomalies included) over the agent's whole life, not only the retained ones.
    public let totalCycles: Int
    /// The cost of those cycles.
    public let totalCost: Money
    /// LLM calls recorded in those cycles.
    public let totalCalls: Int
    /// Anomalous cycles among them.
    public let anomalyCount: Int
    /// Every dollar recorded: completed cycles, the open cycle, and spend outside any cycle.
    public let cumulativeSpend: Money
    /// Spend recorded while no cycle was open (also part of `cumulativeSpend`).
    public let outOfCycleSpend: Money
    /// Calls recorded while no cycle was open.
    public let outOfCycleCalls: Int
    /// Spend recorded while the agent was paused (also part of `cumulativeSpend`).
    public let spendWhilePaused: Money
    public let budget: Money?
    public let period: BudgetPeriod
    /// The spend counted against the budget: lifetime spend, or the current calendar period's.
    public let periodSpend: Money
    public let warningRatio: Double
    public let paused: Bool
    /// Times the agent went from running to paused.
    public let pauseCount: Int
    /// True after a forced resume, until the period ends or the budget changes: the budget is not enforced.
    public let budgetOverridden: Bool
    /// The open cycle, if any.
    public let activeCycle: CycleSummary?
    /// The cost of the latest completed cycle.
    public let lastCycleCost: Money?
    /// The mean cost of the latest normal cycles (the anomaly baseline), when there are any.
    public let rollingAverage: Money?

    /// `totalCost / totalCycles`, 0 before the first cycle ends.
    public var averageCostPerCycle: Double {
        totalCycles == 0 ? 0 : totalCost.dollars / Double(totalCycles)
    }

    /// The period spend as a percentage of the budget; nil without a budget.
    public var budgetUsedPercent: Double? {
        guard let budget, budget.nanos > 0 else { return nil }
        return Double(periodSpend.nanos) * 100 / Double(budget.nanos)
    }
}
