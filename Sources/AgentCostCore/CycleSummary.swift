/// Identifies one heartbeat cycle: the agent and the cycle's number within that agent (1, 2, 3, …).
///
/// Numbers are assigned in order, so ids are deterministic: replaying the same events yields the same ids.
public struct CycleID: Sendable, Hashable, CustomStringConvertible {
    public let agentID: String
    public let number: UInt64

    public init(agentID: String, number: UInt64) {
        self.agentID = agentID
        self.number = number
    }

    /// `agent-123/7`
    public var description: String { "\(agentID)/\(number)" }
}

/// Where a cycle stands.
public enum CycleStatus: String, Sendable, Hashable {
    /// Started and not yet ended.
    case active
    /// Ended at a normal cost.
    case completed
    /// Ended at a cost above the anomaly multiplier times the agent's rolling average.
    case anomaly
}

/// One cycle as the tracker reports it: what it cost, how many calls it made, how long it ran and how it ended.
public struct CycleSummary: Sendable, Hashable {
    public let id: CycleID
    public let startedAt: Timestamp
    /// Nil while the cycle is active.
    public let endedAt: Timestamp?
    public let cost: Money
    public let calls: Int
    public let status: CycleStatus
    /// For an anomaly, the rolling average the cycle was judged against, rounded to the nano-dollar.
    public let rollingAverage: Money?
    /// For an anomaly, how many times the rolling average the cycle cost, from the exact (unrounded) average.
    public let anomalyRatio: Double?

    public var agentID: String { id.agentID }

    /// Seconds between the cycle's start and end events (or 0 while active).
    public var durationSeconds: Double {
        endedAt.map { startedAt.seconds(until: $0) } ?? 0
    }

    /// `Cycle cost $0.50 is 5.0x the rolling average $0.10`, or nil for a cycle that is not an anomaly. An average
    /// below half a nano-dollar, which rounds to $0, reads `under $0.000000001`.
    public var anomalyReason: String? {
        guard status == .anomaly, let rollingAverage, let ratio = anomalyRatio else { return nil }
        let average = rollingAverage == .zero ? "under \(Money(nanos: 1))" : "\(rollingAverage)"
        return "Cycle cost \(cost) is \(ratio.formattedOneDecimal)x the rolling average \(average)"
    }
}

extension Double {
    /// `5.0`, `12.3`: one decimal, rounded half away from zero, without a formatting library.
    var formattedOneDecimal: String {
        let tenths = (self * 10).rounded()
        guard tenths.isFinite, abs(tenths) < 1e17 else { return String(self) }
        let whole = Int64(tenths)
        let sign = whole < 0 ? "-" : ""
        return "\(sign)\(whole.magnitude / 10).\(whole.magnitude % 10)"
    }
}
