import AgentCostClient
import AgentCostCore
import AgentCostJSON
import AgentCostLog
import AgentCostSystem
import AgentCostWire
import Testing

@testable import AgentCostServer

#if canImport(Glibc)
    import Glibc
#endif

/// A whole exporter on ephemeral loopback ports: ingest over TCP, metrics and the operator API over HTTP.
final class RunningExporter: Sendable {
    let exporter: Exporter
    let ports: Exporter.BoundPorts
    let api: OperatorClient

    init(apiToken: String? = nil, maximumAgents: Int = 1_000_000, maximumGoals: Int = 10_000) throws {
        var configuration = ExporterConfiguration()
        configuration.tracker.maximumAgents = maximumAgents
        configuration.maximumGoals = maximumGoals
        configuration.webListenAddress = ListenAddress(host: "127.0.0.1", port: 0)
        configuration.ingestListenAddress = ListenAddress(host: "127.0.0.1", port: 0)
        configuration.dataDirectory = temporaryDirectory()
        if let apiToken {
            let path = "/tmp/agentcost-test-token-\(UInt64.random(in: 0...UInt64.max))"
            try writeTextFile(path, apiToken)
            configuration.webAPITokenFile = path
        }
        exporter = try Exporter(configuration: configuration, logger: Logger(component: "test", level: .error))
        ports = try exporter.start()
        api = OperatorClient(address: ListenAddress(host: "127.0.0.1", port: ports.web), token: apiToken)
    }

    deinit {
        exporter.stop()
    }

    /// Sends events over the real ingest port and returns the ack.
    @discardableResult
    func ingest(_ events: [Event], sequence: UInt64 = 0) throws -> Ack {
        try TestConnection(port: ports.ingest).exchange(Batch(producerID: "", sequence: sequence, events: events))
    }
}

/// A fresh directory under /tmp for one test's data.
func temporaryDirectory() -> String {
    "/tmp/agentcost-test-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
}

func writeTextFile(_ path: String, _ text: String) throws {
    let file = try #require(fopen(path, "w"))
    defer { fclose(file) }
    fputs(text, file)
}

@Suite("Metrics and the operator API over HTTP")
struct WebServiceTests {
    /// The seed's summary: $3.75 spent over three cycles of a $10 budget.
    func seedScenario(_ running: RunningExporter) throws {
        var events = [budget("agent-123", 10)]
        for cycle in 0..<3 {
            let offset = Int64(cycle) * 60_000_000_000
            events += [
                cycleStart("agent-123", at: offset), spend("agent-123", 1.00, goal: "feature-x", at: offset + 1),
                spend("agent-123", 0.25, at: offset + 2), cycleEnd("agent-123", at: offset + 30_000_000_000),
            ]
        }
        #expect(try running.ingest(events).applied == 13)
    }

    @Test("/metrics serves exact values in the text format, and OpenMetrics when asked")
    func metricsFormats() throws {
        let running = try RunningExporter()
        try seedScenario(running)

        let text = try running.api.metrics()
        #expect(text.status == 200)
        #expect(text.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
        for line in [
            #"agentcost_agent_spend_usd_total{agent="agent-123"} 3.75"#,
            #"agentcost_agent_budget_usd{agent="agent-123",period="lifetime"} 10"#,
            #"agentcost_agent_budget_used_ratio{agent="agent-123"} 0.375"#,
            #"agentcost_agent_paused{agent="agent-123"} 0"#,
            #"agentcost_agent_cycles_total{agent="agent-123",status="completed"} 3"#,
            #"agentcost_goal_direct_spend_usd_total{goal="feature-x"} 3"#,
            #"agentcost_cycle_duration_seconds_bucket{le="30"} 3"#,
            #"agentcost_ingest_events_total{result="applied"} 13"#,
            #"agentcost_agents 1"#,
        ] {
            #expect(text.text.contains("\n" + line + "\n"), "missing: \(line)")
        }

        let openMetrics = try running.api.metrics(accept: "application/openmetrics-text;version=1.0.0,text/plain;q=0.5")
        #expect(openMetrics.headers["content-type"] == "application/openmetrics-text; version=1.0.0; charset=utf-8")
        #expect(openMetrics.text.hasSuffix("# EOF\n"))
        #expect(openMetrics.text.contains("# TYPE agentcost_agent_spend_usd counter\n"))
    }

    @Test("/metrics is gzipped when Accept-Encoding allows it")
    func metricsGzip() throws {
        let running = try RunningExporter()
        try seedScenario(running)
        let plain = try running.api.metrics()
        let zipped = try running.api.send("GET", "/metrics", headers: ["Accept-Encoding": "gzip, deflate"])

        #expect(zipped.headers["content-encoding"] == "gzip")
        let inflated = try Inflater(gzip: true).inflate(zipped.body, limit: 64 << 20)
        // The tracker's families are identical in both; the exporter's own gauges (open connections, scrape time)
        // may move between the two scrapes.
        let cut = { (text: String) in text.split(separator: "\n").filter { $0.hasPrefix("agentcost_agent_") } }
        #expect(cut(String(decoding: inflated, as: UTF8.self)) == cut(plain.text))
        #expect(plain.headers["content-encoding"] == nil)
    }

    @Test("the landing page links to the rest, and the probes answer")
    func landingAndProbes() throws {
        let running = try RunningExporter()
        let landing = try running.api.send("GET", "/")
        #expect(landing.headers["content-type"] == "text/html; charset=utf-8")
        for link in ["/metrics", "/-/healthy", "/-/ready", "/api/v1/agents"] {
            #expect(landing.text.contains("href=\"\(link)\""))
        }
        #expect(try running.api.send("GET", "/-/healthy").status == 200)
        #expect(try running.api.send("GET", "/-/ready").status == 200)
        let missing = try running.api.send("GET", "/nope")
        #expect(missing.status == 404)
        #expect(
            try missing.json() == .object(["error": .string("no such path: /nope; see / for what this server offers")]))
        #expect(try running.api.send("POST", "/metrics").status == 405)
    }

    @Test("an agent's summary and cycles, as the seed reports them")
    func agentSummaryAndCycles() throws {
        let running = try RunningExporter()
        try seedScenario(running)

        guard case .object(let summary) = try running.api.agent("agent-123").json() else {
            Issue.record("summary is not an object")
            return
        }
        #expect(summary["total_cycles"] == .number("3"))
        #expect(summary["total_cost"] == .number("3.75"))
        #expect(summary["total_calls"] == .number("6"))
        #expect(summary["budget"] == .number("10"))
        #expect(summary["budget_used_pct"] == .number("37.5"))
        #expect(summary["paused"] == .bool(false))

        guard case .object(let listing) = try running.api.cycles("agent-123", limit: 2).json(),
            case .array(let cycles)? = listing["cycles"]
        else {
            Issue.record("cycles listing is not an array")
            return
        }
        #expect(cycles.count == 2)
        guard case .object(let newest) = cycles[0] else { return }
        #expect(newest["cycle_id"] == .string("agent-123/3"))
        #expect(newest["cost"] == .number("1.25"))
        #expect(newest["duration_s"] == .number("30"))
        #expect(newest["status"] == .string("completed"))

        let unknown = try running.api.agent("ghost")
        #expect(unknown.status == 404)
        #expect(unknown.text.contains("agent ghost is not tracked"))
    }

    @Test("set a budget that pauses, resume refused with 409, raise and resume, force")
    func budgetAndResume() throws {
        let running = try RunningExporter()
        try seedScenario(running)

        let lowered = try running.api.setBudget("agent-123", dollars: "3.50")
        #expect(lowered.status == 200)
        #expect(running.exporter.tracker.isPaused("agent-123"))
        #expect(try running.api.agents(pausedOnly: true).text.contains("\"agent_id\":\"agent-123\""))

        let refused = try running.api.resume("agent-123")
        #expect(refused.status == 409)
        #expect(refused.text.contains("raise the budget"))

        #expect(try running.api.setBudget("agent-123", dollars: "20", period: "monthly").status == 200)
        #expect(!running.exporter.tracker.isPaused("agent-123"))
        #expect(try running.api.resume("agent-123").status == 200)

        _ = try running.api.setBudget("agent-123", dollars: "1")
        #expect(try running.api.resume("agent-123", force: true).status == 200)
        #expect(!running.exporter.tracker.isPaused("agent-123"))
        #expect(try running.api.clearBudget("agent-123").status == 200)
    }

    @Test("bad request bodies get 400 with a message naming the problem")
    func badBodies() throws {
        let running = try RunningExporter()
        try seedScenario(running)
        let path = "/api/v1/agents/agent-123/budget"
        for (body, message) in [
            ("{", "not valid JSON"),
            ("[]", "must be a JSON object"),
            (#"{"budget_usd": "ten"}"#, "budget_usd must be a number"),
            (#"{"period": "daily"}"#, "budget_usd is required"),
            (#"{"budget_usd": 5, "perod": "daily"}"#, "unknown field \"perod\""),
            (#"{"budget_usd": 5, "period": "hourly"}"#, "period \"hourly\" is not one of"),
            (#"{"budget_usd": -5}"#, "is negative"),
        ] {
            let reply = try running.api.send("PUT", path, body: body)
            #expect(reply.status == 400, "\(body)")
            guard case .object(let error) = try reply.json(), case .string(let text)? = error["error"] else {
                Issue.record("no error message for \(body)")
                continue
            }
            #expect(text.contains(message), "\(body): \(text)")
        }
    }

    @Test("query parameters outside their accepted values get 400 naming the parameter and the accepted values")
    func badQueryParameters() throws {
        let running = try RunningExporter()
        try seedScenario(running)
        _ = try running.api.setBudget("agent-123", dollars: "1")
        let agent = "/api/v1/agents/agent-123"
        for (method, target, message) in [
            ("GET", "\(agent)/cycles?limit=abc", "limit=abc is not accepted: use a whole number of 1 or more"),
            ("GET", "\(agent)/cycles?limit=0", "limit=0 is not accepted: use a whole number of 1 or more"),
            ("GET", "\(agent)/cycles?limit=-2", "limit=-2 is not accepted"),
            ("GET", "\(agent)/cycles?limit=2.5", "limit=2.5 is not accepted"),
            ("GET", "\(agent)/cycles?limit=", "limit= is not accepted"),
            ("POST", "\(agent)/resume?force=yes", "force=yes is not accepted: use force=true or force=false"),
            ("POST", "\(agent)/resume?force=1", "force=1 is not accepted: use force=true or force=false"),
            ("POST", "\(agent)/resume?force=", "force= is not accepted"),
            ("GET", "/api/v1/agents?paused=yes", "paused=yes is not accepted: use paused=true or paused=false"),
        ] {
            let reply = try running.api.send(method, target)
            #expect(reply.status == 400, "\(method) \(target)")
            guard case .object(let error) = try reply.json(), case .string(let text)? = error["error"] else {
                Issue.record("no JSON error for \(method) \(target)")
                continue
            }
            #expect(text.contains(message), "\(method) \(target): \(text)")
        }
        #expect(running.exporter.tracker.isPaused("agent-123"), "a refused force=yes must not resume the agent")

        // The accepted values still work: false is false, and a limit above the retained cycles is fine.
        #expect(try running.api.send("POST", "\(agent)/resume?force=false").status == 409)
        #expect(try running.api.send("GET", "/api/v1/agents?paused=false").text.contains("agent-123"))
        guard case .object(let listing) = try running.api.send("GET", "\(agent)/cycles?limit=500").json(),
            case .array(let cycles)? = listing["cycles"]
        else {
            Issue.record("cycles listing is not an array")
            return
        }
        #expect(cycles.count == 3)
        #expect(try running.api.send("POST", "\(agent)/resume?force=true").status == 200)
    }

    @Test("goals: create, list, get, duplicate and missing parent")
    func goals() throws {
        let running = try RunningExporter()
        #expect(try running.api.createGoal("launch", name: "Launch", budgetDollars: "50").status == 201)
        #expect(try running.api.createGoal("api", parent: "launch").status == 201)
        try running.ingest([spend("agent-1", 0.15, goal: "api")])

        guard case .object(let launch) = try running.api.goal("launch").json() else { return }
        #expect(launch["total_cost"] == .number("0.15"))
        #expect(launch["children"] == .array([.string("api")]))
        #expect(try running.api.goals().text.contains("\"goal_id\":\"api\""))
        #expect(try running.api.createGoal("launch").status == 409)
        #expect(try running.api.createGoal("x", parent: "nowhere").status == 400)
        #expect(try running.api.goal("nowhere").status == 404)
    }

    @Test("past the cardinality guards: ingest rejections are counted in /metrics, the operator API answers 429")
    func cardinalityGuards() throws {
        let running = try RunningExporter(maximumAgents: 1, maximumGoals: 1)
        let ack = try running.ingest([
            spend("agent-1", 0.10, goal: "g1"), spend("agent-2", 0.20, goal: "g1"), spend("agent-1", 0.30, goal: "g2"),
        ])
        #expect(ack.applied == 1)
        #expect(ack.rejections.map(\.index) == [1, 2])
        #expect(ack.rejections.map { String($0.reason.prefix { $0 != ":" }) } == ["too_many_agents", "too_many_goals"])
        #expect(running.exporter.tracker.allAgents() == ["agent-1"])
        #expect(running.exporter.tracker.cumulativeSpend("agent-1") == Money(nanos: 100_000_000))
        #expect(running.exporter.goals.allGoals() == ["g1"])
        #expect(running.exporter.goals.goalCost("g1")?.totalCost == Money(nanos: 100_000_000))

        let metrics = try running.api.metrics().text
        for line in [
            #"agentcost_ingest_events_total{result="rejected",reason="too_many_agents"} 1"#,
            #"agentcost_ingest_events_total{result="rejected",reason="too_many_goals"} 1"#,
            #"agentcost_ingest_events_total{result="applied"} 1"#,
            #"agentcost_agents 1"#,
        ] {
            #expect(metrics.contains("\n" + line + "\n"), "missing: \(line)")
        }

        let budget = try running.api.setBudget("agent-2", dollars: "5")
        #expect(budget.status == 429)
        #expect(budget.text.contains("--tracker.max-agents"))
        let goal = try running.api.createGoal("g3")
        #expect(goal.status == 429)
        #expect(goal.text.contains("--tracker.max-goals"))
        #expect(running.exporter.tracker.allAgents() == ["agent-1"])
        #expect(running.exporter.goals.allGoals() == ["g1"])
        // Known agents and goals go on as before.
        #expect(try running.api.setBudget("agent-1", dollars: "5").status == 200)
        #expect(try running.ingest([spend("agent-1", 0.05, goal: "g1")]).applied == 1)
    }

    @Test("a goal whose parent would close a cycle is refused with 409, naming both goals")
    func goalParentCycle() throws {
        let running = try RunningExporter()
        try running.ingest([spend("agent-1", 0.10, goal: "implicit")])
        #expect(try running.api.createGoal("child", parent: "implicit").status == 201)

        let refused = try running.api.createGoal("implicit", parent: "child")
        #expect(refused.status == 409)
        guard case .object(let error) = try refused.json(), case .string(let text)? = error["error"] else {
            Issue.record("no error message")
            return
        }
        #expect(text.contains("goal implicit cannot have child as parent"))
        #expect(text.contains("child is a descendant of implicit"))
    }

    @Test("with an API token, mutating calls need it and reads do not")
    func apiToken() throws {
        let running = try RunningExporter(apiToken: "op-s3cret")
        try seedScenario(running)
        let anonymous = OperatorClient(address: running.api.address)
        let wrong = OperatorClient(address: running.api.address, token: "guess")

        #expect(try anonymous.agents().status == 200)
        let refused = try anonymous.setBudget("agent-123", dollars: "1")
        #expect(refused.status == 401)
        #expect(refused.headers["www-authenticate"] == "Bearer")
        #expect(try wrong.resume("agent-123").status == 401)
        #expect(try anonymous.createGoal("g").status == 401)
        #expect(try running.api.setBudget("agent-123", dollars: "1").status == 200)
    }
}
