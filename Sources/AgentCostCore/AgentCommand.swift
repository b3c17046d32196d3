/// One cycle or spend event for an agent, for `HeartbeatTracker.apply(_:to:)`, which applies a run of them under a
/// single lock.
public enum AgentCommand: Sendable, Hashable {
    /// As `startCycle(_:at:)`.
    case startCycle(at: Timestamp)
    /// As `recordSpend(_:_:at:)`.
    case spend(Money, at: Timestamp)
    /// As `endCycle(_:at:)`; fails with `noOpenCycle` when no cycle is open.
    case endCycle(at: Timestamp)

    /// A command of a run that was not applied, by its position in the run.
    public struct Failure: Sendable, Equatable {
        public let index: Int
        public let error: TrackerError
    }
}
