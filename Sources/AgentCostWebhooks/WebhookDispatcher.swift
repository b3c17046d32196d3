// The exporter's webhooks: tracker and goal events in, durable outbox entries out, delivered by one thread per
// target. docs/webhooks.md describes the payloads, the signature, the retry policy and the guarantees.

import AgentCostCore
import AgentCostLog
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

        let (outbox, pending) = try Outbox.open(
            directory: dataDirectory + "/webhooks", compactionBytes: configuration.compactionBytes, logger: logger)
        self.outbox = outbox
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
    public func handle(_ event: TrackerEvent) {
        let type = WebhookEventType(event)
        guard wanted.contains(type) else { return }

        // Remember pauses for the resolve of an Alertmanager alert.
        var pauseStartedAt: Timestamp?
        switch event {
        case .paused(let notice): pauseStarts.withLock { $0[notice.agentID] = notice.time }
        case .resumed(let notice): pauseStartedAt = pauseStarts.withLock { $0.removeValue(forKey: notice.agentID) }
        default: break
        }

        // Render for each target that wants it and has room.
        let eventID = Self.makeEventID()
        let now = Clock.realTimeNanoseconds()
        var drafts: [OutboxEntry] = []
        var receivers: [DeliveryWorker] = []
        for worker in workers where worker.target.wants(type) {
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

        // Durable first, then queued (under the outbox lock, so queues stay in sequence order), then woken.
        outbox.append(drafts) { entries in
            for (worker, entry) in zip(receivers, entries) {
                worker.enqueue(entry)
            }
        }
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
