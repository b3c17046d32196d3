import AgentCostExposition
import Synchronization

/// Delivery counters per target and the queue-to-delivery latency, read by `/metrics`.
public final class WebhookMetrics: Sendable {
    /// Why an attempt failed: the `reason` label of `agentcost_webhook_failures_total`.
    public enum FailureReason: String, Sendable, CaseIterable {
        /// A 5xx status: retried.
        case http5xx = "http_5xx"
        /// 429 Too Many Requests: retried.
        case http429 = "http_429"
        /// Any other 4xx status: abandoned at once.
        case http4xx = "http_4xx"
        /// A 1xx or 3xx status (webhooks do not follow redirects): abandoned at once.
        case httpOther = "http_other"
        /// The connect or request timeout passed: retried.
        case timeout
        /// Refused, reset, closed without a response, TLS failure: retried.
        case connection
        /// A URL or header that cannot be sent: abandoned at once.
        case invalidRequest = "invalid_request"
    }

    /// One target's counters.
    final class Counters: Sendable {
        let delivered = Atomic<UInt64>(0)
        let abandoned = Atomic<UInt64>(0)
        let retries = Atomic<UInt64>(0)
        let queueDepth = Atomic<Int>(0)
        let failures = FailureReason.allCases.map { _ in Counter() }

        func fail(_ reason: FailureReason) {
            let index = FailureReason.allCases.firstIndex(of: reason) ?? 0
            failures[index].value.add(1, ordering: .relaxed)
        }
    }

    final class Counter: Sendable {
        let value = Atomic<UInt64>(0)
    }

    /// Seconds from queuing an event to its delivery (2xx), all targets.
    public let deliverySeconds = Histogram(
        bounds: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600], sumScale: 1e9)
    private let targets: [(name: String, counters: Counters)]

    init(targetNames: [String]) {
        targets = targetNames.map { ($0, Counters()) }
    }

    func counters(_ target: String) -> Counters? {
        targets.first { $0.name == target }?.counters
    }

    /// A consistent-enough copy of one target's counters.
    public struct TargetSnapshot: Sendable, Equatable {
        public let target: String
        public let delivered: UInt64
        public let abandoned: UInt64
        public let retries: UInt64
        public let queueDepth: Int
        /// Every reason, in `FailureReason.allCases` order, zero included.
        public let failures: [(reason: String, count: UInt64)]

        public static func == (lhs: TargetSnapshot, rhs: TargetSnapshot) -> Bool {
            lhs.target == rhs.target && lhs.delivered == rhs.delivered && lhs.abandoned == rhs.abandoned
                && lhs.retries == rhs.retries && lhs.queueDepth == rhs.queueDepth
                && lhs.failures.map(\.reason) == rhs.failures.map(\.reason)
                && lhs.failures.map(\.count) == rhs.failures.map(\.count)
        }
    }

    /// Every target's counters, in configuration order.
    public func snapshot() -> [TargetSnapshot] {
        targets.map { name, counters in
            TargetSnapshot(
                target: name,
                delivered: counters.delivered.load(ordering: .relaxed),
                abandoned: counters.abandoned.load(ordering: .relaxed),
                retries: counters.retries.load(ordering: .relaxed),
                queueDepth: counters.queueDepth.load(ordering: .relaxed),
                failures: zip(FailureReason.allCases, counters.failures).map {
                    ($0.rawValue, $1.value.load(ordering: .relaxed))
                }
            )
        }
    }

    /// One target's counters; nil for an unknown target.
    public func snapshot(target: String) -> TargetSnapshot? {
        snapshot().first { $0.target == target }
    }
}
