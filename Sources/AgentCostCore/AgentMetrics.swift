/// The numbers the metrics endpoint shows for one agent: a flat copy taken under the agent's shard lock, so that
/// rendering happens outside the lock and never holds up ingest.
public struct AgentMetrics: Sendable, Hashable {
    public let agentID: String
    /// Every dollar recorded, in and out of cycles.
    public let spend: Money
    public let periodSpend: Money
    public let outOfCycleSpend: Money
    public let spendWhilePaused: Money
    public let budget: Money?
    public let period: BudgetPeriod
    public let paused: Bool
    public let pauseCount: Int
    /// LLM calls recorded: in completed cycles, in the open cycle and outside cycles.
    public let calls: Int
    /// Completed cycles that were not anomalies.
    public let normalCycles: Int
    public let anomalies: Int
    public let lastCycleCost: Money?
    public let rollingAverage: Money?
    public let activeCycle: Bool

    /// `periodSpend / budget`; nil without a budget.
    public var budgetUsedRatio: Double? {
        budget.flatMap { periodSpend.ratio(to: $0) }
    }
}

extension AgentState {
    var metrics: AgentMetrics {
        AgentMetrics(
            agentID: id,
            spend: cumulativeSpend,
            periodSpend: periodSpend,
            outOfCycleSpend: outOfCycleSpend,
            spendWhilePaused: spendWhilePaused,
            budget: budget?.amount,
            period: budget?.period ?? .lifetime,
            paused: isPaused,
            pauseCount: pauseCount,
            calls: completedCalls + (openCycle?.calls ?? 0) + outOfCycleCalls,
            normalCycles: completedCycles - anomalyCount,
            anomalies: anomalyCount,
            lastCycleCost: lastCycleCost,
            rollingAverage: rollingAverage,
            activeCycle: openCycle != nil
        )
    }
}

extension HeartbeatTracker {
    /// Appends every agent's metrics to `buffer` (keep it between scrapes to reuse its storage), one shard at a
    /// time: each shard's lock is held only to copy its agents' numbers.
    public func collectMetrics(into buffer: inout [AgentMetrics]) {
        forEachShard { agents in
            for agent in agents.values {
                buffer.append(agent.metrics)
            }
        }
    }
}
