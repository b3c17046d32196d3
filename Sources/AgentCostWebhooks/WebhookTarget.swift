import AgentCostCore

/// The kinds of tracker events a webhook can carry, by the names used in the configuration and in payloads.
public enum WebhookEventType: String, Sendable, Hashable, CaseIterable, Comparable, CustomStringConvertible {
    case cycleEnded = "cycle_ended"
    case anomaly
    case budgetWarning = "budget_warning"
    case paused
    case resumed
    case goalWarning = "goal_warning"
    case goalExceeded = "goal_exceeded"

    /// The type of a tracker event.
    public init(_ event: TrackerEvent) {
        switch event {
        case .cycleEnded: self = .cycleEnded
        case .anomaly: self = .anomaly
        case .budgetWarning: self = .budgetWarning
        case .paused: self = .paused
        case .resumed: self = .resumed
        case .goalWarning: self = .goalWarning
        case .goalExceeded: self = .goalExceeded
        }
    }

    public var description: String { rawValue }

    public static func < (lhs: WebhookEventType, rhs: WebhookEventType) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// One receiver of webhooks: where they go, in which shape, and which events it wants.
public struct WebhookTarget: Sendable, Equatable, CustomStringConvertible {
    /// The payload shape and request a target gets.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// The orchestrator's own pause (and resume) call, e.g. Paperclip's `POST /api/agents/{id}/pause`.
        case orchestrator
        /// `{"id","type","time","data"}` signed with HMAC-SHA256.
        case generic
        /// Alertmanager's webhook payload, version 4.
        case alertmanager

        /// The events a target of this kind gets when its configuration lists none.
        public var defaultEvents: Set<WebhookEventType> {
            switch self {
            case .orchestrator: [.paused]
            case .generic, .alertmanager: [.paused, .resumed, .anomaly, .budgetWarning, .goalExceeded]
            }
        }

        /// The events a target of this kind can carry at all.
        public var allowedEvents: Set<WebhookEventType> {
            switch self {
            case .orchestrator: [.paused, .resumed]
            case .generic: Set(WebhookEventType.allCases)
            case .alertmanager: Set(WebhookEventType.allCases).subtracting([.cycleEnded])
            }
        }
    }

    /// Unique among targets; the `target` label of the metrics and the name in log lines and the outbox.
    public var name: String
    public var kind: Kind
    /// The receiver's URL; for an orchestrator, its base URL, to which the pause and resume paths are added.
    public var url: String
    public var events: Set<WebhookEventType>
    /// For an orchestrator: the pause call's path; `{agent_id}` is replaced by the percent-encoded agent id.
    public var pausePath = "/api/agents/{agent_id}/pause"
    /// For an orchestrator: the resume call's path, used when the target wants `resumed` events.
    public var resumePath = "/api/agents/{agent_id}/resume"
    /// The header that carries `authorization` (when set).
    public var authorizationHeader = "Authorization"
    /// The header's whole value, e.g. `Bearer sk-…`; never logged.
    public var authorization: String?
    /// For a generic target: the HMAC-SHA256 key; never logged.
    public var secret: [UInt8]?
    /// For an Alertmanager-shaped target: the payload's `receiver`.
    public var receiver: String
    /// For an Alertmanager-shaped target: the payload's `externalURL` (where the exporter can be reached).
    public var externalURL = ""

    /// A target with the kind's default events.
    public init(name: String, kind: Kind, url: String, events: Set<WebhookEventType>? = nil) {
        self.name = name
        self.kind = kind
        self.url = url
        self.events = events ?? kind.defaultEvents
        self.receiver = name
    }

    /// Whether the target wants events of `type`.
    public func wants(_ type: WebhookEventType) -> Bool {
        events.contains(type)
    }

    /// `name (kind) url events=…`, without secrets, for the start-up log.
    public var description: String {
        "\(name) (\(kind.rawValue)) \(url) events=\(events.sorted().map(\.rawValue).joined(separator: ","))"
    }
}
