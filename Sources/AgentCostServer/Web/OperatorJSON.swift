import AgentCostCore
import AgentCostJSON

/// How the operator API writes the tracker's values as JSON: snake_case names as in the original tracker, money as
/// exact decimal numbers, times as RFC 3339 strings.
enum OperatorJSON {
    static func agentSummary(_ summary: AgentSummary, into json: inout JSONWriter) {
        json.beginObject()
        json.field("agent_id", summary.agentID)
        json.field("total_cycles", summary.totalCycles)
        money("total_cost", summary.totalCost, into: &json)
        json.field("total_calls", summary.totalCalls)
        json.field("avg_cost_per_cycle", summary.averageCostPerCycle)
        json.field("anomaly_count", summary.anomalyCount)
        money("cumulative_spend", summary.cumulativeSpend, into: &json)
        money("out_of_cycle_spend", summary.outOfCycleSpend, into: &json)
        json.field("out_of_cycle_calls", summary.outOfCycleCalls)
        money("spend_while_paused", summary.spendWhilePaused, into: &json)
        money("budget", summary.budget, into: &json)
        json.field("budget_used_pct", summary.budgetUsedPercent)
        json.field("period", summary.period.rawValue)
        money("period_spend", summary.periodSpend, into: &json)
        json.field("warning_ratio", summary.budget == nil ? nil : summary.warningRatio)
        json.field("paused", summary.paused)
        json.field("pause_count", summary.pauseCount)
        json.field("budget_overridden", summary.budgetOverridden)
        money("last_cycle_cost", summary.lastCycleCost, into: &json)
        money("rolling_average", summary.rollingAverage, into: &json)
        json.key("active_cycle")
        if let cycle = summary.activeCycle {
            self.cycle(cycle, into: &json)
        } else {
            json.null()
        }
        json.endObject()
    }

    static func cycle(_ cycle: CycleSummary, into json: inout JSONWriter) {
        json.beginObject()
        json.field("cycle_id", cycle.id.description)
        json.field("agent_id", cycle.agentID)
        json.field("started_at", cycle.startedAt.description)
        json.field("ended_at", cycle.endedAt?.description)
        money("cost", cycle.cost, into: &json)
        json.field("calls", cycle.calls)
        json.field("duration_s", cycle.durationSeconds)
        json.field("status", cycle.status.rawValue)
        json.field("anomaly_reason", cycle.anomalyReason)
        json.endObject()
    }

    static func goal(_ goal: GoalCost, into json: inout JSONWriter) {
        json.beginObject()
        json.field("goal_id", goal.goalID)
        json.field("name", goal.name)
        json.field("parent_id", goal.parentID)
        json.key("children")
        json.beginArray()
        for child in goal.childIDs { json.string(child) }
        json.endArray()
        money("direct_cost", goal.directCost, into: &json)
        money("children_cost", goal.childrenCost, into: &json)
        money("total_cost", goal.totalCost, into: &json)
        json.field("direct_calls", goal.directCalls)
        json.field("total_calls", goal.totalCalls)
        money("budget", goal.budget, into: &json)
        json.field("budget_used_pct", goal.budgetUsedPercent)
        json.endObject()
    }

    static func money(_ name: String, _ amount: Money?, into json: inout JSONWriter) {
        json.key(name)
        if let amount {
            json.number(literal: amount.exactDecimal)
        } else {
            json.null()
        }
    }
}
