// Events in, batches out: the client's buffering and sequence numbering, without any I/O.

import AgentCostWire

/// Buffers events and cuts them into batches with consecutive sequence numbers.
///
/// A batch is cut when the buffer reaches `maxEvents`, when its oldest event has waited `flushInterval`, or on
/// request. Time is passed in, so the thresholds are deterministic to test. Not thread-safe: `SpendClient` keeps it
/// under its lock.
public struct BatchAssembler: Sendable {
    /// The producer id every batch carries.
    public let producerID: String
    /// The number of events at which a batch is cut.
    public let maxEvents: Int
    /// How long the oldest buffered event may wait before its batch is cut; `nil` for no time threshold.
    public let flushInterval: Duration?
    /// The sequence the next batch gets.
    public private(set) var nextSequence: UInt64
    /// The events not yet cut into a batch, oldest first.
    public private(set) var pendingEvents: [Event] = []

    private var oldestPendingSince: ContinuousClock.Instant?

    /// Creates an assembler.
    ///
    /// - Throws: `SpendClientError` with code `invalidConfiguration` when `producerID` is empty, `maxEvents` is
    ///   below 1, `firstSequence` is 0 or `flushInterval` is not positive.
    public init(
        producerID: String, maxEvents: Int, flushInterval: Duration?, firstSequence: UInt64 = 1
    ) throws(SpendClientError) {
        guard !producerID.isEmpty else {
            throw SpendClientError(
                .invalidConfiguration, "producer id is empty; set a stable id unique to this sender, e.g. fleet-a-1")
        }
        guard maxEvents >= 1 else {
            throw SpendClientError(
                .invalidConfiguration,
                "batch size \(maxEvents) is below 1; use at least 1 event per batch (1000 is usual)")
        }
        guard firstSequence >= 1 else {
            throw SpendClientError(
                .invalidConfiguration, "first sequence 0 is reserved for hellos; start sequences at 1 or above")
        }
        if let flushInterval, flushInterval <= .zero {
            throw SpendClientError(
                .invalidConfiguration, "flush interval \(flushInterval) is not positive; use e.g. 1 second, or nil")
        }
        self.producerID = producerID
        self.maxEvents = maxEvents
        self.flushInterval = flushInterval
        self.nextSequence = firstSequence
    }

    /// Buffers `event`; returns the batch it completes when the buffer reaches `maxEvents`.
    public mutating func append(_ event: Event, now: ContinuousClock.Instant) -> Batch? {
        if pendingEvents.isEmpty {
            oldestPendingSince = now
            pendingEvents.reserveCapacity(maxEvents)
        }
        pendingEvents.append(event)
        return pendingEvents.count >= maxEvents ? cut() : nil
    }

    /// Whether the oldest buffered event has waited the flush interval at `now`.
    public func isDue(now: ContinuousClock.Instant) -> Bool {
        guard let flushInterval, let oldestPendingSince else { return false }
        return now - oldestPendingSince >= flushInterval
    }

    /// Cuts the buffered events into a batch when they have waited the flush interval.
    public mutating func cutIfDue(now: ContinuousClock.Instant) -> Batch? {
        isDue(now: now) ? cut() : nil
    }

    /// Cuts every buffered event into a batch with the next sequence; `nil` when nothing is buffered.
    public mutating func cut() -> Batch? {
        guard !pendingEvents.isEmpty else { return nil }
        let batch = Batch(producerID: producerID, sequence: nextSequence, events: pendingEvents)
        nextSequence += 1
        pendingEvents.removeAll(keepingCapacity: true)
        oldestPendingSince = nil
        return batch
    }
}
