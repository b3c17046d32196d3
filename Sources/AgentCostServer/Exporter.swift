import AgentCostCore
import AgentCostExposition
import AgentCostLog
import AgentCostSystem
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
    private let logger: Logger
    private let clock = Mutex<OSThread?>(nil)
    private let stopping = Atomic<Bool>(false)

    /// How often budget periods are moved on for agents that send nothing.
    static let clockInterval = 10.0

    /// - Throws: `ConfigurationError` for settings that cannot be used (tracker settings, the token file).
    public init(configuration: ExporterConfiguration, logger: Logger) throws(ConfigurationError) {
        self.configuration = configuration
        self.logger = logger
        let metrics = ExporterMetrics()
        self.metrics = metrics
        do {
            tracker = try HeartbeatTracker(configuration: configuration.tracker, eventHandler: { metrics.observe($0) })
            goals = try GoalService(
                defaultWarningRatio: configuration.tracker.defaultWarningRatio,
                maximumGoals: configuration.maximumGoals
            )
        } catch {
            throw ConfigurationError(error.message)
        }
        ingestMetrics = IngestMetrics()
        applier = BatchApplier(tracker: tracker, goals: goals, metrics: ingestMetrics)
        ingest = IngestServer(
            configuration: try configuration.makeIngestConfiguration(),
            applier: applier,
            metrics: ingestMetrics,
            logger: logger
        )
    }

    /// Starts the budget clock and the ingest listener.
    ///
    /// - Returns: the ingest port actually bound.
    @discardableResult
    public func start() throws(SystemError) -> UInt16 {
        let thread = try OSThread { [self] in runClock() }
        clock.withLock { $0 = thread }
        do {
            return try ingest.start()
        } catch {
            stop()
            throw error
        }
    }

    /// The `/metrics` body in the given format.
    public func renderMetrics(format: ExpositionFormat) -> [UInt8] {
        metrics.render(format: format, tracker: tracker, goals: goals, ingest: ingestMetrics.snapshot())
    }

    /// Stops taking new work, finishes what is in flight, and stops the clock.
    public func stop() {
        ingest.shutdown()
        stopping.store(true, ordering: .releasing)
        clock.withLock { thread in
            thread?.join()
            thread = nil
        }
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
