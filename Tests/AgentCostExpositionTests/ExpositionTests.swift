import AgentCostCore
import AgentCostExposition
import Testing

@Suite("Exposition formats")
struct ExpositionTests {
    let time = Timestamp(secondsSinceEpoch: 1_796_299_200)

    func goals() throws -> [GoalCost] {
        let goals = try GoalService()
        try goals.createGoal("launch \"v2\"", name: "Launch", budget: Money(nanos: 10_000_000_000), at: time)
        try goals.createGoal("back\\end\nteam", name: "Backend", parent: "launch \"v2\"", at: time)
        try goals.createGoal("équipe-données", name: "Data", at: time)
        try goals.recordSpend("launch \"v2\"", Money(nanos: 250_000_000), at: time)
        try goals.recordSpend("back\\end\nteam", Money(nanos: 1_000), at: time)
        return goals.allGoalCosts()
    }

    @Test("text format 0.0.4: counters named with _total, label values escaped, money exact (byte-exact fixture)")
    func textFixture() throws {
        var writer = MetricWriter(format: .prometheusText)
        FleetFamilies.writeGoals(try goals(), into: &writer)
        let expected = #"""
            # HELP agentcost_goal_direct_spend_usd_total Spend attributed to the goal itself.
            # TYPE agentcost_goal_direct_spend_usd_total counter
            agentcost_goal_direct_spend_usd_total{goal="back\\end\nteam"} 0.000001
            agentcost_goal_direct_spend_usd_total{goal="launch \"v2\""} 0.25
            agentcost_goal_direct_spend_usd_total{goal="équipe-données"} 0
            # HELP agentcost_goal_spend_usd_total Spend attributed to the goal and all its descendants (do not sum across nested goals).
            # TYPE agentcost_goal_spend_usd_total counter
            agentcost_goal_spend_usd_total{goal="back\\end\nteam"} 0.000001
            agentcost_goal_spend_usd_total{goal="launch \"v2\""} 0.250001
            agentcost_goal_spend_usd_total{goal="équipe-données"} 0
            # HELP agentcost_goal_budget_usd The goal's budget.
            # TYPE agentcost_goal_budget_usd gauge
            agentcost_goal_budget_usd{goal="launch \"v2\""} 10
            # HELP agentcost_goal_budget_used_ratio The goal's spend (with its descendants) divided by its budget.
            # TYPE agentcost_goal_budget_used_ratio gauge
            agentcost_goal_budget_used_ratio{goal="launch \"v2\""} 0.0250001

            """#
        #expect(String(decoding: writer.finish(), as: UTF8.self) == expected)
    }

    @Test("OpenMetrics 1.0: families without _total, UNIT lines, # EOF (byte-exact fixture)")
    func openMetricsFixture() throws {
        var writer = MetricWriter(format: .openMetrics)
        FleetFamilies.writeGoals(Array(try goals().prefix(1)), into: &writer)
        writer.family("agentcost_build", type: .info, help: "Build \"info\"\\ with\nnewline.")
        writer.sample("version", "0.1.0", .integer(1))
        let expected = #"""
            # HELP agentcost_goal_direct_spend_usd Spend attributed to the goal itself.
            # TYPE agentcost_goal_direct_spend_usd counter
            # UNIT agentcost_goal_direct_spend_usd usd
            agentcost_goal_direct_spend_usd_total{goal="back\\end\nteam"} 0.000001
            # HELP agentcost_goal_spend_usd Spend attributed to the goal and all its descendants (do not sum across nested goals).
            # TYPE agentcost_goal_spend_usd counter
            # UNIT agentcost_goal_spend_usd usd
            agentcost_goal_spend_usd_total{goal="back\\end\nteam"} 0.000001
            # HELP agentcost_goal_budget_usd The goal's budget.
            # TYPE agentcost_goal_budget_usd gauge
            # UNIT agentcost_goal_budget_usd usd
            # HELP agentcost_goal_budget_used_ratio The goal's spend (with its descendants) divided by its budget.
            # TYPE agentcost_goal_budget_used_ratio gauge
            # UNIT agentcost_goal_budget_used_ratio ratio
            # HELP agentcost_build Build \"info\"\\ with\nnewline.
            # TYPE agentcost_build info
            agentcost_build_info{version="0.1.0"} 1
            # EOF

            """#
        #expect(String(decoding: writer.finish(), as: UTF8.self) == expected)
    }

    @Test("text HELP escapes backslash and newline but not quotes; info families are gauges named _info")
    func textHelpAndInfo() {
        var writer = MetricWriter(format: .prometheusText)
        writer.family("agentcost_build", type: .info, help: "Build \"info\"\\ with\nnewline.")
        writer.sample("version", "0.1.0", .integer(1))
        let expected = #"""
            # HELP agentcost_build_info Build "info"\\ with\nnewline.
            # TYPE agentcost_build_info gauge
            agentcost_build_info{version="0.1.0"} 1

            """#
        #expect(String(decoding: writer.finish(), as: UTF8.self) == expected)
    }

    @Test("histograms: cumulative buckets, +Inf, _sum and _count")
    func histogram() {
        let histogram = Histogram(bounds: [0.01, 0.1, 1], sumScale: 1e9)
        for value in [0.005, 0.08, 0.08, 0.5, 7.0] { histogram.observe(value) }
        var writer = MetricWriter(format: .prometheusText)
        writer.family("agentcost_cycle_cost_usd", type: .histogram, help: "Cost.")
        let snapshot = histogram.snapshot()
        writer.histogram(
            bounds: histogram.bounds, cumulativeCounts: snapshot.cumulativeCounts, sum: .number(snapshot.sum),
            count: snapshot.count)
        let expected = """
            # HELP agentcost_cycle_cost_usd Cost.
            # TYPE agentcost_cycle_cost_usd histogram
            agentcost_cycle_cost_usd_bucket{le="0.01"} 1
            agentcost_cycle_cost_usd_bucket{le="0.1"} 3
            agentcost_cycle_cost_usd_bucket{le="1"} 4
            agentcost_cycle_cost_usd_bucket{le="+Inf"} 5
            agentcost_cycle_cost_usd_sum 7.665
            agentcost_cycle_cost_usd_count 5

            """
        #expect(String(decoding: writer.finish(), as: UTF8.self) == expected)
    }

    @Test(
        "numbers: exact money, integers without a decimal point, +Inf/-Inf/NaN",
        arguments: [
            (SampleValue.money(Money(nanos: 0)), "0"), (.money(Money(nanos: 1)), "0.000000001"),
            (.money(Money(nanos: 12_500_000_000)), "12.5"), (.money(Money(nanos: -3_000_000_000)), "-3"),
            (.integer(-42), "-42"), (.number(0.1), "0.1"), (.number(1e-7), "1e-07"), (.number(3), "3"),
            (.number(.infinity), "+Inf"), (.number(-.infinity), "-Inf"), (.number(.nan), "NaN"),
        ]
    )
    func numbers(value: SampleValue, text: String) {
        var writer = MetricWriter(format: .prometheusText)
        writer.family("x", type: .gauge, help: "x")
        writer.sample(value)
        #expect(String(decoding: writer.finish(), as: UTF8.self).hasSuffix("\nx \(text)\n"))
    }

    @Test(
        "the Accept header picks the format",
        arguments: [
            (nil, ExpositionFormat.prometheusText),
            ("text/plain", .prometheusText),
            ("*/*", .prometheusText),
            (
                "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
                    + "text/plain;version=0.0.4;q=0.5,*/*;q=0.1", .openMetrics
            ),
            ("application/openmetrics-text; version=1.0.0; charset=utf-8", .openMetrics),
            ("application/openmetrics-text;version=0.0.1", .prometheusText),
            ("application/openmetrics-text;q=0.2,text/plain;q=0.9", .prometheusText),
            ("application/openmetrics-text;q=0", .prometheusText),
        ] as [(String?, ExpositionFormat)]
    )
    func negotiation(accept: String?, format: ExpositionFormat) {
        #expect(ExpositionFormat.negotiate(accept: accept) == format)
    }

    @Test("every agent family appears, and agent labels with quotes, backslashes, newlines and non-ASCII are escaped")
    func agentFamilies() throws {
        let tracker = try HeartbeatTracker()
        try tracker.setBudget("a\"b\\c\nd é", budget: 1, period: .weekly, at: time)
        try tracker.startCycle("a\"b\\c\nd é", at: time)
        try tracker.recordSpend("a\"b\\c\nd é", 1.25, at: time)
        var agents: [AgentMetrics] = []
        tracker.collectMetrics(into: &agents)
        var writer = MetricWriter(format: .prometheusText)
        FleetFamilies.writeAgents(agents, into: &writer)
        let text = String(decoding: writer.finish(), as: UTF8.self)

        for line in [
            #"agentcost_agent_spend_usd_total{agent="a\"b\\c\nd é"} 1.25"#,
            #"agentcost_agent_period_spend_usd{agent="a\"b\\c\nd é",period="weekly"} 1.25"#,
            #"agentcost_agent_budget_usd{agent="a\"b\\c\nd é",period="weekly"} 1"#,
            #"agentcost_agent_budget_used_ratio{agent="a\"b\\c\nd é"} 1.25"#,
            #"agentcost_agent_paused{agent="a\"b\\c\nd é"} 1"#,
            #"agentcost_agent_pauses_total{agent="a\"b\\c\nd é"} 1"#,
            #"agentcost_agent_llm_calls_total{agent="a\"b\\c\nd é"} 1"#,
            #"agentcost_agent_active_cycle{agent="a\"b\\c\nd é"} 1"#,
        ] {
            #expect(text.contains("\n" + line + "\n"), "missing: \(line)")
        }
        #expect(text.split(separator: "\n").filter { $0.hasPrefix("# TYPE") }.count == 14)
    }
}
