import AgentCostCore
import AgentCostExposition
import AgentCostHTTP
import AgentCostJSON
import AgentCostLog
import AgentCostSystem
import AgentCostWire
import Synchronization

/// The exporter's HTTP side: `/metrics`, the probes, a landing page and the operator API (docs/operations.md).
///
/// Every handler reads the tracker through its locked snapshots or calls its thread-safe methods, so handlers run
/// on libmicrohttpd's worker threads in parallel with ingest. Mutating API calls need the bearer token when one is
/// configured (`--web.api-token-file`).
final class WebService: Sendable {
    private let exporter: Exporter
    private let apiToken: String?
    private let logger: Logger

    init(exporter: Exporter, apiToken: String?, logger: Logger) {
        self.exporter = exporter
        self.apiToken = apiToken
        self.logger = logger
    }

    func handle(_ request: HTTPRequest) -> HTTPResponse {
        let path = request.path
        switch path {
        case "/":
            return only(["GET", "HEAD"], request) { landingPage() }
        case "/metrics":
            return only(["GET", "HEAD"], request) { metrics(request) }
        case "/-/healthy":
            return only(["GET", "HEAD"], request) { .text("Healthy.\n") }
        case "/-/ready":
            return only(["GET", "HEAD"], request) {
                exporter.isReady ? .text("Ready.\n") : .text("Not ready: still starting.\n", status: 503)
            }
        case "/api/v1/agents":
            return only(["GET"], request) { listAgents(request) }
        case "/api/v1/goals":
            return only(["GET", "POST"], request) {
                request.method == "GET" ? listGoals() : authorized(request) { createGoal(request) }
            }
        default:
            break
        }

        if let rest = path.dropPrefix("/api/v1/agents/") {
            return agentRoute(String(rest), request)
        }
        if let goalID = path.dropPrefix("/api/v1/goals/") {
            return only(["GET"], request) { goal(String(goalID)) }
        }
        return .error(status: 404, "no such path: \(path); see / for what this server offers")
    }

    // MARK: Pages

    private func landingPage() -> HTTPResponse {
        let html = """
            <!DOCTYPE html>
            <html><head><title>agentcost-exporter</title></head>
            <body>
            <h1>agentcost-exporter \(BuildInfo.version)</h1>
            <p>Tracks what every heartbeat cycle of every AI agent costs.</p>
            <ul>
            <li><a href="/metrics">/metrics</a>: Prometheus metrics</li>
            <li><a href="/-/healthy">/-/healthy</a> and <a href="/-/ready">/-/ready</a>: probes</li>
            <li><a href="/api/v1/agents">/api/v1/agents</a>: agents (JSON)</li>
            <li><a href="/api/v1/goals">/api/v1/goals</a>: goals (JSON)</li>
            </ul>
            </body></html>

            """
        var response = HTTPResponse.text(html)
        response.headers.set("Content-Type", "text/html; charset=utf-8")
        return response
    }

    private func metrics(_ request: HTTPRequest) -> HTTPResponse {
        let format = ExpositionFormat.negotiate(accept: request.headers["Accept"])
        var response = HTTPResponse(status: 200, body: exporter.renderMetrics(format: format))
        response.headers.set("Content-Type", format.contentType)
        return response
    }

    // MARK: Agents

    private func listAgents(_ request: HTTPRequest) -> HTTPResponse {
        let pausedOnly: Bool
        do {
            pausedOnly = try booleanParameter("paused", in: request, default: false)
        } catch {
            return .error(status: 400, error.message)
        }
        var json = JSONWriter()
        json.beginObject()
        json.key("agents")
        json.beginArray()
        for agentID in exporter.tracker.allAgents() {
            guard let summary = exporter.tracker.agentSummary(agentID), !pausedOnly || summary.paused else { continue }
            OperatorJSON.agentSummary(summary, into: &json)
        }
        json.endArray()
        json.endObject()
        return .json(Array(json.text.utf8))
    }

    private func agentRoute(_ rest: String, _ request: HTTPRequest) -> HTTPResponse {
        let tracker = exporter.tracker
        if let agentID = rest.dropSuffix("/cycles") {
            return only(["GET"], request) {
                let limit: Int
                do throws(QueryParameterError) {
                    limit = try positiveIntegerParameter(
                        "limit", in: request, default: tracker.configuration.retainedCycles)
                } catch {
                    return .error(status: 400, error.message)
                }
                guard tracker.agentSummary(agentID) != nil else { return unknownAgent(agentID) }
                var json = JSONWriter()
                json.beginObject()
                json.key("cycles")
                json.beginArray()
                for cycle in tracker.agentCycles(agentID, limit: limit) { OperatorJSON.cycle(cycle, into: &json) }
                json.endArray()
                json.endObject()
                return .json(Array(json.text.utf8))
            }
        }
        if let agentID = rest.dropSuffix("/budget") {
            return only(["PUT", "DELETE"], request) {
                authorized(request) {
                    request.method == "PUT" ? setBudget(agentID, request) : clearBudget(agentID)
                }
            }
        }
        if let agentID = rest.dropSuffix("/resume") {
            return only(["POST"], request) { authorized(request) { resume(agentID, request) } }
        }
        return only(["GET"], request) {
            guard let summary = tracker.agentSummary(rest) else { return unknownAgent(rest) }
            var json = JSONWriter()
            OperatorJSON.agentSummary(summary, into: &json)
            return .json(Array(json.text.utf8))
        }
    }

    private func setBudget(_ agentID: String, _ request: HTTPRequest) -> HTTPResponse {
        let body: RequestBody
        do {
            body = try RequestBody(request.body, allowed: ["budget_usd", "period", "warning_ratio"])
        } catch {
            return .error(status: 400, error.message)
        }
        do {
            let dollars = try body.number("budget_usd", required: true) ?? 0
            let periodName = try body.string("period") ?? "lifetime"
            guard let period = AgentCostCore.BudgetPeriod(rawValue: periodName) else {
                return .error(status: 400, "period \"\(periodName)\" is not one of lifetime, daily, weekly, monthly")
            }
            if let failure = change(
                .setBudget(
                    SetBudget(
                        agentID: agentID, budgetUSD: dollars, period: wirePeriod(period),
                        warningRatio: try body.number("warning_ratio") ?? 0)))
            {
                return failure
            }
        } catch {
            return .error(status: 400, error.message)
        }
        logger.info("budget set", ["agent": agentID, "peer": request.peer])
        return agentResponse(agentID)
    }

    private func clearBudget(_ agentID: String) -> HTTPResponse {
        guard exporter.tracker.agentSummary(agentID) != nil else { return unknownAgent(agentID) }
        if let failure = change(.setBudget(SetBudget(agentID: agentID, budgetUSD: 0, clear: true))) {
            return failure
        }
        return agentResponse(agentID)
    }

    private func resume(_ agentID: String, _ request: HTTPRequest) -> HTTPResponse {
        var force: Bool
        do {
            force = try booleanParameter("force", in: request, default: false)
        } catch {
            return .error(status: 400, error.message)
        }
        if !request.body.isEmpty {
            do {
                let body = try RequestBody(request.body, allowed: ["force"])
                force = try body.bool("force") ?? force
            } catch {
                return .error(status: 400, error.message)
            }
        }
        if let failure = change(.resume(Resume(agentID: agentID, force: force))) {
            return failure
        }
        logger.info("agent resumed", ["agent": agentID, "force": force, "peer": request.peer])
        return agentResponse(agentID)
    }

    // MARK: Query parameters

    /// A query parameter that must be a whole number of 1 or more, or `fallback` when the request leaves it out.
    private func positiveIntegerParameter(
        _ name: String, in request: HTTPRequest, default fallback: Int
    ) throws(QueryParameterError) -> Int {
        guard let text = request.query[name] else { return fallback }
        guard let value = Int(text), value > 0 else {
            throw QueryParameterError(
                "query parameter \(name)=\(text) is not accepted: use a whole number of 1 or more (leave it out for "
                    + "\(fallback))")
        }
        return value
    }

    /// A query parameter that must be `true` or `false`, or `fallback` when the request leaves it out. Anything else
    /// (`yes`, `1`, an empty value) is refused rather than read as false.
    private func booleanParameter(
        _ name: String, in request: HTTPRequest, default fallback: Bool
    ) throws(QueryParameterError) -> Bool {
        switch request.query[name] {
        case nil: return fallback
        case "true": return true
        case "false": return false
        case let text?:
            throw QueryParameterError(
                "query parameter \(name)=\(text) is not accepted: use \(name)=true or \(name)=false (leave it out for "
                    + "\(fallback))")
        }
    }

    // MARK: Goals

    private func listGoals() -> HTTPResponse {
        var json = JSONWriter()
        json.beginObject()
        json.key("goals")
        json.beginArray()
        for goal in exporter.goals.allGoalCosts() { OperatorJSON.goal(goal, into: &json) }
        json.endArray()
        json.endObject()
        return .json(Array(json.text.utf8))
    }

    private func goal(_ goalID: String) -> HTTPResponse {
        guard let cost = exporter.goals.goalCost(goalID) else {
            return .error(status: 404, "goal \(goalID) is not tracked; list goals at /api/v1/goals")
        }
        var json = JSONWriter()
        OperatorJSON.goal(cost, into: &json)
        return .json(Array(json.text.utf8))
    }

    private func createGoal(_ request: HTTPRequest) -> HTTPResponse {
        let goalID: String
        do {
            let body = try RequestBody(request.body, allowed: ["goal_id", "name", "budget_usd", "parent_id"])
            goalID = try body.string("goal_id", required: true) ?? ""
            if let failure = change(
                .createGoal(
                    CreateGoal(
                        goalID: goalID, name: try body.string("name") ?? goalID,
                        budgetUSD: try body.number("budget_usd") ?? 0, parentID: try body.string("parent_id") ?? "")))
            {
                return failure
            }
        } catch {
            return .error(status: 400, error.message)
        }
        logger.info("goal created", ["goal": goalID, "peer": request.peer])
        var response = goal(goalID)
        response.status = 201
        return response
    }

    // MARK: Helpers

    private func only(_ methods: [String], _ request: HTTPRequest, _ body: () -> HTTPResponse) -> HTTPResponse {
        methods.contains(request.method) ? body() : .methodNotAllowed(request, allowed: methods)
    }

    private func authorized(_ request: HTTPRequest, _ body: () -> HTTPResponse) -> HTTPResponse {
        guard let apiToken else { return body() }
        let header = request.headers["Authorization"] ?? ""
        guard header.hasPrefix("Bearer "), tokensMatch(String(header.dropFirst(7)), apiToken) else {
            logger.warn("API call refused: bad or missing bearer token", ["path": request.path, "peer": request.peer])
            var response = HTTPResponse.error(
                status: 401, "this call changes state and needs 'Authorization: Bearer <token>' (--web.api-token-file)")
            response.headers.set("WWW-Authenticate", "Bearer")
            return response
        }
        return body()
    }

    private func agentResponse(_ agentID: String) -> HTTPResponse {
        guard let summary = exporter.tracker.agentSummary(agentID) else { return unknownAgent(agentID) }
        var json = JSONWriter()
        OperatorJSON.agentSummary(summary, into: &json)
        return .json(Array(json.text.utf8))
    }

    private func unknownAgent(_ agentID: String) -> HTTPResponse {
        .error(status: 404, "agent \(agentID) is not tracked; list agents at /api/v1/agents")
    }

    /// Makes an operator change through the write-ahead log; nil when it was applied, else the error response.
    private func change(_ payload: Event.Payload) -> HTTPResponse? {
        let ack: Ack
        do {
            ack = try exporter.applyOperatorEvent(Event(timeUnixNano: Clock.realTimeNanoseconds(), payload))
        } catch {
            var response = HTTPResponse.error(status: 503, "the change was not stored: \(error.message); retry later")
            response.headers.set("Retry-After", "1")
            return response
        }
        guard let rejection = ack.rejections.first else { return nil }
        let code = String(rejection.reason.prefix { $0 != ":" })
        let message = String(rejection.reason.drop { $0 != ":" }.dropFirst().drop { $0 == " " })
        let status: Int
        switch code {
        case TrackerError.Code.unknownAgent.name, TrackerError.Code.unknownGoal.name: status = 404
        case TrackerError.Code.resumeRefused.name, TrackerError.Code.duplicateGoal.name,
            TrackerError.Code.goalParentCycle.name:
            status = 409
        case TrackerError.Code.tooManyAgents.name, TrackerError.Code.tooManyGoals.name: status = 429
        default: status = 400
        }
        return .error(status: status, message)
    }

    private func wirePeriod(_ period: AgentCostCore.BudgetPeriod) -> AgentCostWire.BudgetPeriod {
        switch period {
        case .lifetime: .lifetime
        case .daily: .daily
        case .weekly: .weekly
        case .monthly: .monthly
        }
    }
}

extension String {
    func dropPrefix(_ prefix: String) -> Substring? {
        guard hasPrefix(prefix), count > prefix.count else { return nil }
        return dropFirst(prefix.count)
    }

    func dropSuffix(_ suffix: String) -> String? {
        guard hasSuffix(suffix), count > suffix.count else { return nil }
        return String(dropLast(suffix.count))
    }
}

/// A query parameter whose value the operator API does not accept; the message names it and the accepted values.
struct QueryParameterError: Error, Sendable {
    let message: String

    init(_ message: String) {
        self.message = message
    }
}
