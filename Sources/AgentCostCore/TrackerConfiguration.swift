/// The tracker's tunable settings, with the original tracker's defaults.
public struct TrackerConfiguration: Sendable, Hashable {
    /// A cycle is an anomaly when it costs strictly more than this many times the rolling average.
    public var anomalyMultiplier: Double = 2.0
    /// How many of the agent's latest normal, completed cycles make up the rolling average (W).
    public var rollingWindow: Int = 10
    /// How many such cycles must exist before a cycle can be judged an anomaly.
    public var minimumHistory: Int = 1
    /// How many completed cycles each agent keeps for `agentCycles` (which lists the open cycle as well).
    public var retainedCycles: Int = 20
    /// The share of a budget at which a warning fires, when `setBudget` names none.
    public var defaultWarningRatio: Double = 0.8
    /// The cardinality guard: events that would create an agent beyond this many are refused (`tooManyAgents`).
    public var maximumAgents: Int = 1_000_000

    public init(
        anomalyMultiplier: Double = 2.0,
        rollingWindow: Int = 10,
        minimumHistory: Int = 1,
        retainedCycles: Int = 20,
        defaultWarningRatio: Double = 0.8,
        maximumAgents: Int = 1_000_000
    ) {
        self.anomalyMultiplier = anomalyMultiplier
        self.rollingWindow = rollingWindow
        self.minimumHistory = minimumHistory
        self.retainedCycles = retainedCycles
        self.defaultWarningRatio = defaultWarningRatio
        self.maximumAgents = maximumAgents
    }

    /// Checks every setting, naming the first one out of range.
    public func validate() throws(TrackerError) {
        guard anomalyMultiplier.isFinite, anomalyMultiplier >= 1 else {
            throw TrackerError(
                .invalidConfiguration,
                "anomaly multiplier \(anomalyMultiplier) must be a finite number of at least 1.0"
            )
        }
        guard (1...10_000).contains(rollingWindow) else {
            throw TrackerError(
                .invalidConfiguration, "rolling window \(rollingWindow) must be between 1 and 10000 cycles")
        }
        guard (1...rollingWindow).contains(minimumHistory) else {
            throw TrackerError(
                .invalidConfiguration,
                "minimum history \(minimumHistory) must be between 1 and the rolling window (\(rollingWindow))"
            )
        }
        guard (1...100_000).contains(retainedCycles) else {
            throw TrackerError(
                .invalidConfiguration,
                "retained cycles \(retainedCycles) must be between 1 and 100000"
            )
        }
        try Self.validateWarningRatio(defaultWarningRatio)
        guard maximumAgents >= 1 else {
            throw TrackerError(.invalidConfiguration, "maximum agents \(maximumAgents) must be at least 1")
        }
    }

    static func validateWarningRatio(_ ratio: Double) throws(TrackerError) {
        guard ratio.isFinite, ratio > 0, ratio <= 1 else {
            throw TrackerError(.invalidAmount, "warning ratio \(ratio) must be above 0 and at most 1 (e.g. 0.8)")
        }
    }
}
