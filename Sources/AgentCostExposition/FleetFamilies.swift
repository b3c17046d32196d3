import AgentCostCore

/// The tracker's metric families: per agent, per goal and the fleet-wide cycle histograms. docs/metrics.md describes
/// each one.
public enum FleetFamilies {
    /// Bucket bounds of `agentcost_cycle_cost_usd`, from a tenth of a cent to $50.
    public static let cycleCostBounds: [Double] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 50]
    /// Bucket bounds of `agentcost_cycle_duration_seconds`, from a second to two hours.
    public static let cycleDurationBounds: [Double] = [1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200]

    /// Writes every per-agent family, each with one sample per agent (budget families only for agents that have a
    /// budget, last-cycle and average families only once they exist).
    public static func writeAgents(_ agents: [AgentMetrics], into writer: inout MetricWriter) {
        writer.family(
            "agentcost_agent_spend_usd", type: .counter, help: "Everything the agent spent, in and out of cycles.",
            unit: "usd")
        for agent in agents { writer.sample("agent", agent.agentID, .money(agent.spend)) }

        writer.family(
            "agentcost_agent_period_spend_usd", type: .gauge,
            help: "Spend counted against the budget: lifetime, or the current UTC day, week or month.", unit: "usd")
        for agent in agents {
            writer.sample("agent", agent.agentID, "period", agent.period.rawValue, .money(agent.periodSpend))
        }

        writer.family(
            "agentcost_agent_out_of_cycle_spend_usd", type: .counter,
            help: "Spend recorded while the agent had no open cycle.", unit: "usd")
        for agent in agents { writer.sample("agent", agent.agentID, .money(agent.outOfCycleSpend)) }

        writer.family(
            "agentcost_agent_paused_spend_usd", type: .counter, help: "Spend recorded while the agent was paused.",
            unit: "usd")
        for agent in agents { writer.sample("agent", agent.agentID, .money(agent.spendWhilePaused)) }

        writer.family(
            "agentcost_agent_budget_usd", type: .gauge, help: "The agent's budget for its period.", unit: "usd")
        for agent in agents {
            if let budget = agent.budget {
                writer.sample("agent", agent.agentID, "period", agent.period.rawValue, .money(budget))
            }
        }

        writer.family(
            "agentcost_agent_budget_used_ratio", type: .gauge,
            help: "Period spend divided by the budget; 1 or more means the budget is used up.", unit: "ratio")
        for agent in agents {
            if let ratio = agent.budgetUsedRatio { writer.sample("agent", agent.agentID, .number(ratio)) }
        }

        writer.family("agentcost_agent_paused", type: .gauge, help: "1 while the agent is paused by its budget.")
        for agent in agents { writer.sample("agent", agent.agentID, .flag(agent.paused)) }

        writer.family("agentcost_agent_pauses", type: .counter, help: "Times the agent went from running to paused.")
        for agent in agents { writer.sample("agent", agent.agentID, .count(agent.pauseCount)) }

        writer.family("agentcost_agent_llm_calls", type: .counter, help: "LLM calls recorded for the agent.")
        for agent in agents { writer.sample("agent", agent.agentID, .count(agent.calls)) }

        writer.family(
            "agentcost_agent_cycles", type: .counter, help: "Completed heartbeat cycles, by how they were judged.")
        for agent in agents {
            writer.sample("agent", agent.agentID, "status", "completed", .count(agent.normalCycles))
            writer.sample("agent", agent.agentID, "status", "anomaly", .count(agent.anomalies))
        }

        writer.family(
            "agentcost_agent_anomalies", type: .counter,
            help: "Cycles that cost more than the anomaly multiplier times the rolling average.")
        for agent in agents { writer.sample("agent", agent.agentID, .count(agent.anomalies)) }

        writer.family(
            "agentcost_agent_last_cycle_cost_usd", type: .gauge, help: "Cost of the agent's latest completed cycle.",
            unit: "usd")
        for agent in agents {
            if let cost = agent.lastCycleCost { writer.sample("agent", agent.agentID, .money(cost)) }
        }

        writer.family(
            "agentcost_agent_rolling_average_cycle_cost_usd", type: .gauge,
            help: "Mean cost of the agent's latest normal cycles: the anomaly baseline.", unit: "usd")
        for agent in agents {
            if let average = agent.rollingAverage { writer.sample("agent", agent.agentID, .money(average)) }
        }

        writer.family("agentcost_agent_active_cycle", type: .gauge, help: "1 while the agent has an open cycle.")
        for agent in agents { writer.sample("agent", agent.agentID, .flag(agent.activeCycle)) }
    }

    /// Writes the per-goal families.
    public static func writeGoals(_ goals: [GoalCost], into writer: inout MetricWriter) {
        writer.family(
            "agentcost_goal_direct_spend_usd", type: .counter, help: "Spend attributed to the goal itself.",
            unit: "usd")
        for goal in goals { writer.sample("goal", goal.goalID, .money(goal.directCost)) }

        writer.family(
            "agentcost_goal_spend_usd", type: .counter,
            help: "Spend attributed to the goal and all its descendants (do not sum across nested goals).",
            unit: "usd")
        for goal in goals { writer.sample("goal", goal.goalID, .money(goal.totalCost)) }

        writer.family("agentcost_goal_budget_usd", type: .gauge, help: "The goal's budget.", unit: "usd")
        for goal in goals {
            if let budget = goal.budget { writer.sample("goal", goal.goalID, .money(budget)) }
        }

        writer.family(
            "agentcost_goal_budget_used_ratio", type: .gauge,
            help: "The goal's spend (with its descendants) divided by its budget.", unit: "ratio")
        for goal in goals {
            if let budget = goal.budget, let ratio = goal.totalCost.ratio(to: budget) {
                writer.sample("goal", goal.goalID, .number(ratio))
            }
        }
    }

    /// Writes the fleet-wide histograms of cycle cost and duration (no agent label: bounded cardinality).
    public static func writeCycleHistograms(cost: Histogram, duration: Histogram, into writer: inout MetricWriter) {
        writer.family(
            "agentcost_cycle_cost_usd", type: .histogram, help: "Cost of completed heartbeat cycles, fleet-wide.",
            unit: "usd")
        let costs = cost.snapshot()
        writer.histogram(
            bounds: cost.bounds, cumulativeCounts: costs.cumulativeCounts, sum: .number(costs.sum), count: costs.count)

        writer.family(
            "agentcost_cycle_duration_seconds", type: .histogram,
            help: "Duration of completed heartbeat cycles, from their own start and end times, fleet-wide.",
            unit: "seconds")
        let durations = duration.snapshot()
        writer.histogram(
            bounds: duration.bounds, cumulativeCounts: durations.cumulativeCounts, sum: .number(durations.sum),
            count: durations.count)
    }
}
