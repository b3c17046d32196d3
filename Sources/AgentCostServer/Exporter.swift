import AgentCostCore
import AgentCostExposition
import AgentCostHTTP
import AgentCostLog
import AgentCostSystem
import AgentCostWebhooks
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
    /// Webhook delivery, when `--webhook.config-file` or `--webhook.orchestrator-url` is set.
    public let webhooks: WebhookDispatcher?
    private let logger: Logger
    private let clock = Mutex<OSThread?>(nil)
    private let stopping = Atomic<Bool>(false)
    private let ready = Atomic<Bool>(false)
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

        do {
            tracker = try HeartbeatTracker(
                configuration: configuration.tracker,
                eventHandler: { event in
                    metrics.observe(event)
                    webhooks?.handle(event)
                })
            goals = try GoalService(
                defaultWarningRatio: configuration.tracker.defaultWarningRatio,
                maximumGoals: configuration.maximumGoals,
                eventHandler: { event in webhooks?.handle(event) }
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
            logger: logger
        )
    }

    /// True once the exporter takes traffic: what `/-/ready` reports.
    public var isReady: Bool { ready.load(ordering: .acquiring) }

    /// The ports actually bound (useful with port 0).
    public struct BoundPorts: Sendable {
        public let ingest: UInt16
        public let web: UInt16
    }

    /// Starts the webhook delivery threads, the budget clock, the HTTP server and the ingest listener, in that
    /// order; on failure, stops what started.
    @discardableResult
    public func start() throws(ExporterStartError) -> BoundPorts {
        do {
            try webhooks?.start()
        } catch {
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

    /// The `/metrics` body in the given format.
    public func renderMetrics(format: ExpositionFormat) -> [UInt8] {
        metrics.render(
            format: format, tracker: tracker, goals: goals, ingest: ingestMetrics.snapshot(),
            webhooks: webhooks?.metrics)
    }

    /// Stops taking new work, finishes what is in flight, stops the clock, and then the webhook threads (events
    /// not yet delivered stay in the outbox for the next start).
    public func stop() {
        ready.store(false, ordering: .releasing)
        ingest.shutdown()
        web.withLock { server in
            server?.stop()
            server = nil
        }
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
