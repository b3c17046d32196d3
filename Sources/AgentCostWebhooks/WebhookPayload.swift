// The three payload shapes (docs/webhooks.md), rendered once when an event is queued, and the request headers,
// computed for each attempt (the generic signature covers the attempt's timestamp).

import AgentCostCore
import AgentCostJSON

/// Renders tracker events as request bodies and delivery attempts as headers.
enum WebhookPayload {
    /// The path (added to an orchestrator's base URL; empty for the other kinds) and the body of `event` for
    /// `target`.
    ///
    /// - Parameter pauseStartedAt: for an Alertmanager resolve, when the agent's pause fired (if known).
    static func render(
        _ event: TrackerEvent, for target: WebhookTarget, eventID: String, pauseStartedAt: Timestamp? = nil
    ) -> (path: String, body: [UInt8]) {
        switch target.kind {
        case .orchestrator:
            return orchestrator(event, target: target, eventID: eventID)
        case .generic:
            return ("", generic(event, eventID: eventID))
        case .alertmanager:
            return ("", alertmanager(event, target: target, pauseStartedAt: pauseStartedAt))
        }
    }

    /// Headers of one attempt.
    ///
    /// - Parameters:
    ///   - unixSeconds: the attempt's wall-clock time, signed into the generic signature.
    static func headers(
        for entry: OutboxEntry, target: WebhookTarget, unixSeconds: Int64
    ) -> [(name: String, value: String)] {
        var headers: [(name: String, value: String)] = [
            ("Content-Type", "application/json"),
            ("User-Agent", "agentcost-exporter"),
            ("Idempotency-Key", entry.eventID),
            ("X-Agentcost-Event", entry.eventType),
        ]
        if let authorization = target.authorization {
            headers.append((target.authorizationHeader, authorization))
        }
        if target.kind == .generic, let secret = target.secret {
            let timestamp = String(unixSeconds)
            headers.append(("X-Agentcost-Timestamp", timestamp))
            headers.append(("X-Agentcost-Signature", "sha256=" + signature(secret: secret, timestamp, entry.body)))
        }
        return headers
    }

    /// `hex(HMAC-SHA256(secret, "<timestamp>." + body))`: the generic target's signature.
    static func signature(secret: [UInt8], _ timestamp: String, _ body: [UInt8]) -> String {
        HMACSHA256.hexSignature(key: secret, message: Array((timestamp + ".").utf8) + body)
    }

    // MARK: Orchestrator

    private static func orchestrator(
        _ event: TrackerEvent, target: WebhookTarget, eventID: String
    ) -> (path: String, body: [UInt8]) {
        var json = JSONWriter()
        json.beginObject()
        let path: String
        switch event {
        case .paused(let notice):
            path = target.pausePath.replacing("{agent_id}", with: percentEncoded(notice.agentID))
            json.field("agent_id", notice.agentID)
            json.field("reason", notice.reason)
            money(&json, "spend", notice.spend)
            money(&json, "budget", notice.budget)
            json.field("period", notice.period.rawValue)
            json.field("time", notice.time.description)
        case .resumed(let notice):
            path = target.resumePath.replacing("{agent_id}", with: percentEncoded(notice.agentID))
            json.field("agent_id", notice.agentID)
            json.field("reason", "Resumed: \(notice.cause.rawValue)")
            json.field("cause", notice.cause.rawValue)
            json.field("time", notice.time.description)
        default:
            // Configuration validation keeps other events away from orchestrators.
            path = "/"
        }
        json.field("event_id", eventID)
        json.field("source", "agentcost-exporter")
        json.endObject()
        return (path, Array(json.text.utf8))
    }

    // MARK: Generic

    private static func generic(_ event: TrackerEvent, eventID: String) -> [UInt8] {
        var json = JSONWriter()
        json.beginObject()
        json.field("id", eventID)
        json.field("type", WebhookEventType(event).rawValue)
        json.field("time", time(of: event).description)
        json.key("data")
        json.beginObject()
        switch event {
        case .cycleEnded(let cycle), .anomaly(let cycle):
            json.field("agent_id", cycle.agentID)
            json.key("cycle")
            json.number(Int(clamping: cycle.id.number))
            json.field("status", cycle.status.rawValue)
            money(&json, "cost", cycle.cost)
            json.field("calls", cycle.calls)
            json.field("started_at", cycle.startedAt.description)
            json.field("ended_at", cycle.endedAt?.description)
            json.field("duration_seconds", cycle.durationSeconds)
            if let average = cycle.rollingAverage { money(&json, "rolling_average", average) }
            if let reason = cycle.anomalyReason { json.field("reason", reason) }
        case .budgetWarning(let notice):
            json.field("agent_id", notice.agentID)
            money(&json, "spend", notice.spend)
            money(&json, "budget", notice.budget)
            json.field("period", notice.period.rawValue)
        case .paused(let notice):
            json.field("agent_id", notice.agentID)
            json.field("reason", notice.reason)
            money(&json, "spend", notice.spend)
            money(&json, "budget", notice.budget)
            json.field("period", notice.period.rawValue)
        case .resumed(let notice):
            json.field("agent_id", notice.agentID)
            json.field("cause", notice.cause.rawValue)
        case .goalWarning(let notice), .goalExceeded(let notice):
            json.field("goal_id", notice.goalID)
            money(&json, "cost", notice.cost)
            money(&json, "budget", notice.budget)
        }
        json.endObject()
        json.endObject()
        return Array(json.text.utf8)
    }

    // MARK: Alertmanager

    /// One-shot events fire with an `endsAt` this far after they happened, so that receivers resolve them.
    static let oneShotAlertSeconds = 3600.0

    /// What an event looks like as an alert.
    private struct Alert {
        var status = "firing"
        var labels: [String: String]
        var annotations: [String: String]
        var startsAt: Timestamp
        var endsAt: Timestamp?
    }

    private static func alert(for event: TrackerEvent, pauseStartedAt: Timestamp?) -> Alert {
        switch event {
        case .paused(let notice):
            return Alert(
                labels: ["alertname": "AgentPaused", "agent_id": notice.agentID, "severity": "critical"],
                annotations: [
                    "summary": "Agent \(notice.agentID) paused: over its \(notice.period.rawValue) budget",
                    "description": notice.reason, "spend": notice.spend.exactDecimal,
                    "budget": notice.budget.exactDecimal, "period": notice.period.rawValue,
                ],
                startsAt: notice.time)
        case .resumed(let notice):
            return Alert(
                status: "resolved",
                labels: ["alertname": "AgentPaused", "agent_id": notice.agentID, "severity": "critical"],
                annotations: [
                    "summary": "Agent \(notice.agentID) resumed (\(notice.cause.rawValue))",
                    "description": "Resumed: \(notice.cause.rawValue)",
                ],
                startsAt: pauseStartedAt ?? notice.time, endsAt: notice.time)
        case .anomaly(let cycle), .cycleEnded(let cycle):
            return Alert(
                labels: ["alertname": "AgentCycleCostAnomaly", "agent_id": cycle.agentID, "severity": "warning"],
                annotations: [
                    "summary": "Agent \(cycle.agentID) cycle \(cycle.id.number) cost \(cycle.cost)",
                    "description": cycle.anomalyReason ?? "Cycle cost \(cycle.cost)",
                    "cycle": String(cycle.id.number), "cost": cycle.cost.exactDecimal,
                ],
                startsAt: cycle.endedAt ?? cycle.startedAt)
        case .budgetWarning(let notice):
            return Alert(
                labels: ["alertname": "AgentBudgetWarning", "agent_id": notice.agentID, "severity": "warning"],
                annotations: [
                    "summary": "Agent \(notice.agentID) has used \(notice.spend) of its \(notice.budget) budget",
                    "description": "Spend \(notice.spend) of \(notice.budget) this \(notice.period.rawValue) period",
                    "spend": notice.spend.exactDecimal, "budget": notice.budget.exactDecimal,
                    "period": notice.period.rawValue,
                ],
                startsAt: notice.time)
        case .goalWarning(let notice), .goalExceeded(let notice):
            let exceeded = WebhookEventType(event) == .goalExceeded
            return Alert(
                labels: [
                    "alertname": exceeded ? "GoalBudgetExceeded" : "GoalBudgetWarning", "goal_id": notice.goalID,
                    "severity": exceeded ? "critical" : "warning",
                ],
                annotations: [
                    "summary": "Goal \(notice.goalID) cost \(notice.cost) of its \(notice.budget) budget",
                    "description": exceeded ? "Goal budget exceeded (advisory)" : "Goal budget nearly used",
                    "cost": notice.cost.exactDecimal, "budget": notice.budget.exactDecimal,
                ],
                startsAt: notice.time)
        }
    }

    private static func alertmanager(_ event: TrackerEvent, target: WebhookTarget, pauseStartedAt: Timestamp?)
        -> [UInt8]
    {
        let alert = alert(for: event, pauseStartedAt: pauseStartedAt)
        let endsAt: String
        if let end = alert.endsAt {
            endsAt = end.description
        } else if WebhookEventType(event) == .paused {
            // Firing until resolved, as Alertmanager writes an unset time.
            endsAt = "0001-01-01T00:00:00Z"
        } else {
            endsAt = alert.startsAt.advanced(bySeconds: oneShotAlertSeconds).description
        }
        let groupLabels = alert.labels.filter { $0.key != "severity" }

        var json = JSONWriter()
        json.beginObject()
        json.field("version", "4")
        json.field("groupKey", "{}:" + labelSetText(groupLabels))
        json.field("truncatedAlerts", 0)
        json.field("status", alert.status)
        json.field("receiver", target.receiver)
        stringMap(&json, "groupLabels", groupLabels)
        stringMap(&json, "commonLabels", alert.labels)
        stringMap(&json, "commonAnnotations", alert.annotations)
        json.field("externalURL", target.externalURL)
        json.key("alerts")
        json.beginArray()
        json.beginObject()
        json.field("status", alert.status)
        stringMap(&json, "labels", alert.labels)
        stringMap(&json, "annotations", alert.annotations)
        json.field("startsAt", alert.startsAt.description)
        json.field("endsAt", endsAt)
        json.field("generatorURL", target.externalURL)
        json.field("fingerprint", fingerprint(alert.labels))
        json.endObject()
        json.endArray()
        json.endObject()
        return Array(json.text.utf8)
    }

    /// Prometheus' label-set fingerprint: FNV-1a 64 over the labels sorted by name, each name and value followed by
    /// the byte 0xff, as 16 hexadecimal digits; the same alert always gets the same fingerprint.
    static func fingerprint(_ labels: [String: String]) -> String {
        var hash: UInt64 = 14_695_981_039_346_656_037
        func add(_ byte: UInt8) {
            hash ^= UInt64(byte)
            hash = hash &* 1_099_511_628_211
        }
        for (name, value) in labels.sorted(by: { $0.key < $1.key }) {
            name.utf8.forEach(add)
            add(0xff)
            value.utf8.forEach(add)
            add(0xff)
        }
        let digits = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// `{agent_id="a", alertname="AgentPaused"}`, as Alertmanager writes group keys.
    private static func labelSetText(_ labels: [String: String]) -> String {
        let pairs = labels.sorted { $0.key < $1.key }.map { pair in
            "\(pair.key)=\"\(pair.value.replacing("\\", with: "\\\\").replacing("\"", with: "\\\""))\""
        }
        return "{" + pairs.joined(separator: ", ") + "}"
    }

    // MARK: Helpers

    private static func stringMap(_ json: inout JSONWriter, _ key: String, _ map: [String: String]) {
        json.key(key)
        json.beginObject()
        for (name, value) in map.sorted(by: { $0.key < $1.key }) {
            json.field(name, value)
        }
        json.endObject()
    }

    /// Money as an exact JSON number of dollars.
    private static func money(_ json: inout JSONWriter, _ key: String, _ amount: Money) {
        json.key(key)
        json.number(literal: amount.exactDecimal)
    }

    static func time(of event: TrackerEvent) -> Timestamp {
        switch event {
        case .cycleEnded(let cycle), .anomaly(let cycle): cycle.endedAt ?? cycle.startedAt
        case .budgetWarning(let notice): notice.time
        case .paused(let notice): notice.time
        case .resumed(let notice): notice.time
        case .goalWarning(let notice), .goalExceeded(let notice): notice.time
        }
    }

    /// Percent-encodes everything but RFC 3986's unreserved characters, for an agent id in a URL path.
    static func percentEncoded(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            let unreserved =
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
                || byte == 0x2d || byte == 0x2e || byte == 0x5f || byte == 0x7e
            if unreserved {
                result.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = String(byte, radix: 16, uppercase: true)
                result += "%" + (hex.count == 1 ? "0" : "") + hex
            }
        }
        return result
    }
}
