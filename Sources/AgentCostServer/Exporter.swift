import AgentCostCore
import AgentCostExposition
import AgentCostHTTP
import AgentCostLog
import AgentCostStore
import AgentCostSystem
import AgentCostWebhooks
import AgentCostWire
import Synchronization

/// The whole service, assembled from its configuration: the tracker and goals, the ingest listener that feeds
/// them, and the clock that moves budget periods on. Started and stopped as one, in dependency order.
public final class Exporter: Sendable {
    public let configuration: ExporterConfiguration
    public let tracker: HeartbeatTracker
    public let goals: GoalService
    public let ingestMetrics: IngestMetrics
    public let applier: BatchApplier
    public let ingest: IngestServer
    public let metrics: ExporterMetrics
    public let durability: Durability
    /// Webhook delivery, when `--webhook.config-file` or `--webhook.orchestrator-url` is set.
    public let webhooks: WebhookDispatcher?
    private let logger: Logger
    private let clock = Mutex<OSThread?>(nil)
    private let stopping = Atomic<Bool>(false)
    private let ready = Atomic<Bool>(false)
    private let replaying = Atomic<Bool>(false)
    private let recovered = Mutex<Recovery.Outcome?>(nil)
    private let web = Mutex<HTTPServer?>(nil)
    private let apiToken: String?

    /// How often budget periods are moved on for agents that send nothing.
    static let clockInterval = 10.0

    /// - Throws: `ConfigurationError` for settings that cannot be used (tracker settings, the token file, the
    ///   webhook configuration or its outbox).
    public init(configuration: ExporterConfiguration, logger: Logger) throws(ConfigurationError) {
        self.configuration = configuration
        self.logger = logger
        let metrics = ExporterMetrics()
        self.metrics = metrics

        // Webhooks first: the tracker's and the goals' events feed them from the ingest threads.
        let webhooks: WebhookDispatcher?
        if let webhookConfiguration = try configuration.makeWebhookConfiguration() {
            do {
                webhooks = try WebhookDispatcher(
                    configuration: webhookConfiguration, dataDirectory: configuration.dataDirectory,
                    logger: logger.child("webhooks"))
            } catch {
                throw ConfigurationError(error.message)
            }
        } else {
            webhooks = nil
        }
        self.webhooks = webhooks

        // Every tracker and goal event feeds the webhooks; one set off by applying a write-ahead log record (live,
        // or replayed at start) carries the record's coordinate, so that the dispatcher can give it an id that is
        // the same on every replay and knows whether a replayed one may have been lost in a crash.
        let durability = Durability(
            directory: configuration.dataDirectory, generation: 1, syncPolicy: configuration.walSync,
            snapshotInterval: configuration.snapshotIntervalSeconds, snapshotRecords: configuration.snapshotRecords,
            logger: logger.child("storage"))
        self.durability = durability
        let wal = durability.wal
        @Sendable func origin() -> EventOrigin? {
            ApplyingRecord.current?.nextOrigin(appliedBefore: wal.appliedBefore)
        }
        do {
            tracker = try HeartbeatTracker(
                configuration: configuration.tracker,
                eventHandler: { event in
                    metrics.observe(event)
                    webhooks?.handle(event, origin: origin())
                })
            goals = try GoalService(
                defaultWarningRatio: configuration.tracker.defaultWarningRatio,
                maximumGoals: configuration.maximumGoals,
                eventHandler: { event in
                    webhooks?.handle(event, origin: origin())
                }
            )
        } catch {
            throw ConfigurationError(error.message)
        }
        ingestMetrics = IngestMetrics()
        applier = BatchApplier(tracker: tracker, goals: goals, metrics: ingestMetrics)
        apiToken = try configuration.readAPIToken()
        ingest = IngestServer(
            configuration: try configuration.makeIngestConfiguration(),
            applier: applier,
            metrics: ingestMetrics,
            logger: logger,
            durability: durability,
            tracesEventOrigins: webhooks != nil
        )
    }

    /// True once the exporter takes traffic: what `/-/ready` reports.
    public var isReady: Bool { ready.load(ordering: .acquiring) }

    /// The ports actually bound (useful with port 0).
    public struct BoundPorts: Sendable {
        public let ingest: UInt16
        public let web: UInt16
    }

    /// Recovers the state from `--data.dir` first (the latest snapshot, then the write-ahead log after it), and
    /// only then starts the log, the webhook delivery threads, the budget clock, the HTTP server and the ingest
    /// listener, in that order: nothing is served from a half-rebuilt state, and the clock cannot move a budget
    /// period on before the records that belong to the old one are replayed. On failure, stops what started.
    @discardableResult
    public func start() throws(ExporterStartError) -> BoundPorts {
        do {
            try recover()
            try durability.start(
                capture: { [self] in captureState() },
                afterCut: { [webhooks] cut in webhooks?.markApplied(before: cut) })
        } catch let error as StoreError {
            stop()
            throw ExporterStartError(error.message)
        } catch {
            stop()
            throw ExporterStartError(
                "cannot start the write-ahead log in --data.dir=\(configuration.dataDirectory): \(error)")
        }

        do {
            try webhooks?.start()
        } catch {
            stop()
            throw ExporterStartError("cannot start webhook delivery: \(error.message)")
        }

        do {
            let thread = try OSThread { [self] in runClock() }
            clock.withLock { $0 = thread }
        } catch {
            stop()
            throw ExporterStartError("cannot start the budget clock thread: \(error)")
        }

        let service = WebService(exporter: self, apiToken: apiToken, logger: logger.child("web"))
        let server: HTTPServer
        do {
            server = try HTTPServer.start(
                on: configuration.webListenAddress,
                configuration: configuration.webServer,
                logger: logger.child("http"),
                handler: { service.handle($0) }
            )
        } catch {
            stop()
            throw ExporterStartError(
                "cannot serve HTTP on --web.listen-address=\(configuration.webListenAddress): \(error)")
        }
        web.withLock { $0 = server }

        let ingestPort: UInt16
        do {
            ingestPort = try ingest.start()
        } catch {
            stop()
            throw ExporterStartError(
                "cannot listen for ingest on --ingest.listen-address=\(configuration.ingestListenAddress): \(error)")
        }
        ready.store(true, ordering: .releasing)
        return BoundPorts(ingest: ingestPort, web: server.port)
    }

    /// Loads the latest snapshot and replays the write-ahead log after it, before any traffic is taken.
    private func recover() throws(StoreError) {
        let started = Clock.monotonicSeconds()
        logger.info("recovering state", ["data_dir": configuration.dataDirectory])
        let decoder = BatchDecoder(limits: configuration.ingestLimits)
        replaying.store(true, ordering: .releasing)
        defer { replaying.store(false, ordering: .releasing) }
        let outcome = try Recovery.recover(
            directory: configuration.dataDirectory,
            logger: logger.child("storage"),
            restoreAgent: { (record) throws(StoreError) in
                do throws(TrackerError) {
                    try tracker.restore(record)
                } catch {
                    throw StoreError(.corruptSnapshot, "agent \(record.agentID) of the snapshot: \(error.message)")
                }
            },
            restoreRest: { goalRecords, producers in
                goals.restore(goalRecords)
                applier.ledger.restore(producers)
            },
            replay: { record in
                guard let batch = try? decoder.decodeMessage(record.batch) else {
                    logger.error("skipped a write-ahead log record that does not decode", ["bytes": record.batch.count])
                    return
                }
                if webhooks != nil {
                    ApplyingRecord.$current.withValue(ApplyingRecord(record.coordinate, replayed: true)) {
                        _ = applier.apply(batch, receivedAt: record.receivedAt)
                    }
                } else {
                    _ = applier.apply(batch, receivedAt: record.receivedAt)
                }
            })
        durability.wal.begin(generation: outcome.generation, records: outcome.recordsInGeneration)
        durability.noteReplayed(outcome.recordsReplayed)
        webhooks?.replayEnded(appliedBefore: durability.wal.appliedBefore)
        recovered.withLock { $0 = outcome }
        logger.info(
            "state recovered",
            [
                "snapshot": outcome.snapshot ?? "none", "agents": outcome.agentsRestored,
                "goals": outcome.goalsRestored,
                "log_files": outcome.logFiles, "records_replayed": outcome.recordsReplayed,
                "tails_cut": outcome.tailsCut, "seconds": Clock.monotonicSeconds() - started,
            ])
    }

    /// What recovery found and did at the latest start; nil before it ran.
    package var recovery: Recovery.Outcome? {
        recovered.withLock { $0 }
    }

    /// Applies an operator's change (a budget, a resume, a goal) the way ingest applies a batch: logged and durable
    /// first, so that it survives a restart, then applied.
    ///
    /// - Returns: the ack, whose rejections say why the change was refused.
    /// - Throws: `OperatorWriteError` when the write-ahead log cannot take it now (answer 503 and retry).
    public func applyOperatorEvent(_ event: Event) throws(OperatorWriteError) -> Ack {
        guard durability.isRunning else {
            throw OperatorWriteError("the exporter is not running; start it first")
        }
        let batch = Batch(producerID: "", sequence: 0, events: [event])
        let decoder = BatchDecoder(limits: configuration.ingestLimits)
        let receivedAt = Timestamp(nanosecondsSinceEpoch: Clock.realTimeNanoseconds())
        let bytes: [UInt8]
        let decoded: DecodedBatch
        do {
            bytes = try batch.protobufBytes()
            decoded = try decoder.decodeMessage(bytes[...])
        } catch {
            throw OperatorWriteError("cannot encode the change: \(error.message)")
        }
        guard let position = durability.wal.append(batch: bytes[...], receivedAt: receivedAt) else {
            throw OperatorWriteError(durability.wal.failure ?? "the write-ahead log is not accepting records")
        }
        var applied = false
        defer { durability.recordFinished(position, applied: applied) }
        guard durability.wal.waitUntilResolved(position) == .durable else {
            throw OperatorWriteError(durability.wal.failure ?? "the write-ahead log could not be written")
        }
        while durability.isHeld(position.generation) {
            Clock.sleep(for: .milliseconds(1))
        }
        applied = true
        guard webhooks != nil else {
            return applier.apply(decoded, receivedAt: receivedAt)
        }
        return ApplyingRecord.$current.withValue(ApplyingRecord(position.coordinate, replayed: false)) {
            applier.apply(decoded, receivedAt: receivedAt)
        }
    }

    /// Cuts and writes a snapshot now (the snapshot thread does this on its own schedule).
    public func writeSnapshot() {
        durability.takeSnapshot(
            capture: { captureState() }, afterCut: { [webhooks] cut in webhooks?.markApplied(before: cut) })
    }

    private func captureState() -> Durability.StateCapture {
        Durability.StateCapture(agents: tracker.capture(), goals: goals.records(), producers: applier.ledger.snapshot())
    }

    /// True while the write-ahead log is being replayed at start.
    public var isReplaying: Bool { replaying.load(ordering: .acquiring) }

    /// The `/metrics` body in the given format.
    public func renderMetrics(format: ExpositionFormat) -> [UInt8] {
        metrics.render(
            format: format, tracker: tracker, goals: goals, ingest: ingestMetrics.snapshot(), storage: durability,
            webhooks: webhooks?.metrics)
    }

    /// Stops taking new work, finishes what is in flight, writes a snapshot (so the next start replays nothing),
    /// stops the clock, and then the webhook threads (events not yet delivered stay in the outbox for the next
    /// start).
    public func stop() {
        stop(writingSnapshot: true)
    }

    /// Stops like a crash would leave the data directory: no final snapshot, so the next start replays the
    /// write-ahead log. For tests and benchmarks of recovery.
    package func abandon() {
        stop(writingSnapshot: false)
    }

    private func stop(writingSnapshot: Bool) {
        ready.store(false, ordering: .releasing)
        ingest.shutdown()
        if writingSnapshot, durability.isRunning, durability.hasUnsnapshottedRecords {
            writeSnapshot()
        }
        web.withLock { server in
            server?.stop()
            server = nil
        }
        durability.stop()
        stopping.store(true, ordering: .releasing)
        clock.withLock { thread in
            thread?.join()
            thread = nil
        }
        webhooks?.stop()
    }

    private func runClock() {
        var next = Clock.monotonicSeconds()
        while !stopping.load(ordering: .acquiring) {
            if Clock.monotonicSeconds() >= next {
                tracker.advanceClock(to: Timestamp(nanosecondsSinceEpoch: Clock.realTimeNanoseconds()))
                next += Self.clockInterval
            }
            Clock.sleep(for: .milliseconds(100))
        }
    }
}

/// Why the exporter could not start: which listener or thread, and the system's reason.
public struct ExporterStartError: Error, Sendable, CustomStringConvertible {
    public let message: String

    init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// An operator change that could not be made durable now; the caller should retry.
public struct OperatorWriteError: Error, Sendable, CustomStringConvertible {
    public let message: String

    init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
