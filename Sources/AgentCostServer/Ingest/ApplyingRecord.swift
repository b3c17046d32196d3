import AgentCostStore
import AgentCostWebhooks
import Synchronization

/// The write-ahead log record being applied on this thread, while it is. The tracker and the goals call their event
/// handlers on the applying thread, deep inside the apply; this lets the handler trace each event to its record,
/// for webhook event ids that come out the same when the record is replayed after a crash.
///
/// Bound with `ApplyingRecord.$current.withValue(_:operation:)` around one record's apply. On a thread that runs no
/// Swift task (the ingest loops, the HTTP workers, recovery), a task-local lives in thread-local storage.
final class ApplyingRecord: Sendable {
    @TaskLocal static var current: ApplyingRecord?

    let coordinate: LogCoordinate
    let replayed: Bool
    private let events = Atomic<UInt64>(0)

    init(_ coordinate: LogCoordinate, replayed: Bool) {
        self.coordinate = coordinate
        self.replayed = replayed
    }

    /// The origin of the next event the record sets off; every event counts, wanted by a webhook target or not, so
    /// that the numbering does not depend on the configuration.
    func nextOrigin(appliedBefore: LogCoordinate) -> EventOrigin {
        EventOrigin(
            record: coordinate, event: events.add(1, ordering: .relaxed).oldValue, appliedBefore: appliedBefore,
            replayed: replayed)
    }
}
