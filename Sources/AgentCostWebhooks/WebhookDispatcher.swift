// The exporter's webhooks: tracker and goal events in, durable outbox entries out, delivered by one thread per
// target. docs/webhooks.md describes the payloads, the signature, the retry policy and the guarantees.

import AgentCostCore
import AgentCostLog
import AgentCostStore
import AgentCostSystem
import Synchronization

/// Turns tracker events into webhook deliveries, at least once and in order per target.
///
///     let webhooks = try WebhookDispatcher(configuration: configuration, dataDirectory: "data", logger: logger)
///     let tracker = try HeartbeatTracker(configuration: trackerConfiguration) { webhooks.handle($0) }
///     try webhooks.start()
///     ...
///     webhooks.stop()
///
/// `handle` runs on the thread that caused the event (an ingest thread): it renders the event for each target that
/// wants it, appends the results to the outbox and syncs it, queues them and wakes the targets' threads. A pause is
/// on its way to the orchestrator as soon as `handle` returns.
///
/// Events set off by a write-ahead log record carry its `EventOrigin`: their ids derive from the record, and the
/// outbox keeps a mark of the records whose events it has taken. When the exporter replays its log after a crash,
/// events of records before the mark were taken before the crash and are not queued again; those at or after it
/// may have been lost between the log's sync and the outbox's, so they are queued, unless the outbox already held
/// that id. docs/webhooks.md ("After a crash") has the whole argument.
public final class WebhookDispatcher: Sendable {
    public let configuration: WebhookConfiguration
    public let metrics: WebhookMetrics
    private let outbox: Outbox
    private let workers: [DeliveryWorker]
    private let wanted: Set<WebhookEventType>
    private let logger: Logger
    /// When each paused agent's pause fired, so that an Alertmanager resolve can carry the alert's `startsAt`.
    private let pauseStarts = Mutex<[String: Timestamp]>([:])
    private let started = Atomic<Bool>(false)
    /// Events of replayed log records from here on are queued; nil when the outbox was created by this start.
    public let replayFrom: LogCoordinate?

    /// Opens the outbox under `<dataDirectory>/webhooks` and queues the events it still holds; delivery begins with
    /// `start()`.
    ///
    /// - Parameters:
    ///   - configuration: the targets and retry policy.
    ///   - dataDirectory: the exporter's `--data.dir`.
    ///   - logger: where failed and abandoned deliveries and outbox repairs are reported.
    /// - Throws: `WebhookError` for an invalid configuration (`invalidConfiguration`) or an outbox that cannot be
    ///   opened (`outboxIO`).
    public init(configuration: WebhookConfiguration, dataDirectory: String, logger: Logger) throws(WebhookError) {
        try configuration.validate()
        self.configuration = configuration
        self.logger = logger
        let metrics = WebhookMetrics(targetNames: configuration.targets.map(\.name))
        self.metrics = metrics
        wanted = configuration.targets.reduce(into: []) { $0.formUnion($1.events) }

        let opened = try Outbox.open(
            directory: dataDirectory + "/webhooks", compactionBytes: configuration.compactionBytes, logger: logger)
        let outbox = opened.outbox
        let pending = opened.pending
        self.outbox = outbox
        replayFrom = opened.replayFrom
        var workers: [DeliveryWorker] = []
        for target in configuration.targets {
            guard let counters = metrics.counters(target.name) else { continue }
            workers.append(
                try DeliveryWorker(
                    target: target, configuration: configuration, outbox: outbox, counters: counters,
                    latency: metrics.deliverySeconds, logger: logger))
        }
        self.workers = workers

        // Events left from the previous run go out first, in their original order.
        for entry in pending {
            if let worker = workers.first(where: { $0.target.name == entry.target }) {
                worker.enqueue(entry)
            } else {
                outbox.finish(entry.sequence, delivered: false)
                logger.warn(
                    "webhook event abandoned: its target is no longer configured",
                    ["target": entry.target, "event_id": entry.eventID, "event": entry.eventType])
            }
        }
        for worker in workers {
            logger.info("webhook target", ["target": worker.target, "queued": worker.depth])
        }
    }

    /// Starts one delivery thread per target.
    ///
    /// - Throws: `WebhookError` with code `threadFailed` when a thread cannot be started (those started are stopped).
    public func start() throws(WebhookError) {
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        for worker in workers {
            do {
                try worker.start()
            } catch {
                stop()
                throw error
            }
        }
    }

    /// Stops the delivery threads, each after its attempt in flight; undelivered events stay in the outbox and go
    /// out on the next start.
    public func stop() {
        for worker in workers {
            worker.stop()
        }
    }

    /// Queues `event` for every target that wants it; for the tracker's and the goal service's event handlers.
    /// Returns once the event is synced to the outbox (or, if the disk fails, queued in memory with an error log).
    ///
    /// - Parameter origin: the write-ahead log record whose application set the event off, when there is one: the
    ///   event id then derives from it, and a replayed record's event is queued only when it may have been lost.
    public func handle(_ event: TrackerEvent, origin: EventOrigin? = nil) {
        let type = WebhookEventType(event)
        guard wanted.contains(type) else { return }

        // Remember pauses for the resolve of an Alertmanager alert (replayed ones too).
        var pauseStartedAt: Timestamp?
        switch event {
        case .paused(let notice): pauseStarts.withLock { $0[notice.agentID] = notice.time }
        case .resumed(let notice): pauseStartedAt = pauseStarts.withLock { $0.removeValue(forKey: notice.agentID) }
        default: break
        }
        if let origin, origin.replayed {
            // Taken before the crash (or webhooks were not configured then): history, not news.
            guard let replayFrom, origin.record >= replayFrom else { return }
        }

        // Render for each target that wants it and has room.
        let eventID = origin.map { outbox.eventID(for: $0.record, event: $0.event) } ?? Self.makeEventID()
        let now = Clock.realTimeNanoseconds()
        var drafts: [OutboxEntry] = []
        var receivers: [DeliveryWorker] = []
        for worker in workers where worker.target.wants(type) {
            if origin?.replayed == true, outbox.knew(target: worker.target.name, eventID: eventID) {
                continue
            }
            guard worker.hasRoom else {
                metrics.counters(worker.target.name)?.abandoned.add(1, ordering: .relaxed)
                logger.warn(
                    "webhook event abandoned: the target's queue is full (max_queue)",
                    ["target": worker.target.name, "event_id": eventID, "event": type.rawValue])
                continue
            }
            let (path, body) = WebhookPayload.render(
                event, for: worker.target, eventID: eventID, pauseStartedAt: pauseStartedAt)
            drafts.append(
                OutboxEntry(
                    sequence: 0, createdAtNanoseconds: now, target: worker.target.name, eventID: eventID,
                    eventType: type.rawValue, path: path, body: body))
            receivers.append(worker)
        }
        guard !drafts.isEmpty else { return }
        if let origin, origin.replayed {
            logger.info(
                "webhook event of a replayed log record queued: it may have been lost in a crash",
                ["event_id": eventID, "event": type.rawValue, "record": origin.record])
        }

        // Durable first, then queued (under the outbox lock, so queues stay in sequence order), then woken.
        outbox.append(drafts, mark: origin?.appliedBefore) { entries in
            for (worker, entry) in zip(receivers, entries) {
                worker.enqueue(entry)
            }
        }
    }

    /// Records that every write-ahead log record before `coordinate` has been applied and had its events handed
    /// over (after recovery, and at each snapshot's cut), so that a replay after a crash queues fewer events again.
    public func markApplied(before coordinate: LogCoordinate) {
        outbox.recordMark(coordinate)
    }

    /// Ends the replay at start: marks `coordinate` (see `markApplied`) and frees what replay needed.
    public func replayEnded(appliedBefore coordinate: LogCoordinate) {
        outbox.recordMark(coordinate)
        outbox.forgetKnownEvents()
    }

    /// Events not yet delivered or abandoned, all targets.
    public var queuedCount: Int {
        workers.reduce(0) { $0 + $1.depth }
    }

    /// `evt_` and 32 random hexadecimal digits: unique per event, the same for all its targets and retries.
    static func makeEventID() -> String {
        var generator = SystemRandomNumberGenerator()
        let high = generator.next() as UInt64
        let low = generator.next() as UInt64
        func hex(_ value: UInt64) -> String {
            let digits = String(value, radix: 16)
            return String(repeating: "0", count: 16 - digits.count) + digits
        }
        return "evt_" + hex(high) + hex(low)
    }
}
