// Where a webhook event came from in the exporter's write-ahead log. Events set off by applying a log record get an
// id derived from the record's coordinate, so that applying it again (replaying it after a crash) gives the same id,
// and the outbox learns which records have had their events taken.

import AgentCostStore

/// The log record whose application set an event off, and how far the log has been applied.
public struct EventOrigin: Sendable, Equatable {
    /// The record being applied.
    public var record: LogCoordinate
    /// The event's place among the events that applying the record set off (0 for the first).
    public var event: UInt64
    /// Every log record before this has been applied and has had its events handed over.
    public var appliedBefore: LogCoordinate
    /// Whether the record is replayed at start rather than applied for the first time.
    public var replayed: Bool

    public init(record: LogCoordinate, event: UInt64, appliedBefore: LogCoordinate, replayed: Bool) {
        self.record = record
        self.event = event
        self.appliedBefore = appliedBefore
        self.replayed = replayed
    }
}
