import AgentCostCore
import AgentCostExposition
import AgentCostStore
import AgentCostSystem
import AgentCostWebhooks
import Synchronization

/// Everything `/metrics` shows, gathered from the tracker, the goals, the ingest counters and the exporter's own
/// histograms, and rendered in the format the scraper asked for.
public final class ExporterMetrics: Sendable {
    let cycleCost = Histogram(bounds: FleetFamilies.cycleCostBounds, sumScale: 1e9)
    let cycleDuration = Histogram(bounds: FleetFamilies.cycleDurationBounds, sumScale: 1e9)
    private let lastScrapeNanoseconds = Atomic<UInt64>(0)

    public init() {}

    /// Feeds the fleet-wide histograms from the tracker's events.
    public func observe(_ event: TrackerEvent) {
        guard case .cycleEnded(let cycle) = event else { return }
        cycleCost.observe(cycle.cost.dollars)
        cycleDuration.observe(cycle.durationSeconds)
    }

    /// Renders the whole exposition. Each tracker shard is locked only while its agents' numbers are copied.
    public func render(
        format: ExpositionFormat,
        tracker: HeartbeatTracker,
        goals: GoalService,
        ingest: IngestMetrics.Snapshot,
        storage: Durability? = nil,
        webhooks: WebhookMetrics? = nil
    ) -> [UInt8] {
        let started = Clock.monotonicNanoseconds()
        var agents: [AgentMetrics] = []
        agents.reserveCapacity(tracker.agentCount + 64)
        tracker.collectMetrics(into: &agents)
        let goalCosts = goals.allGoalCosts()

        var writer = MetricWriter(format: format, reservingCapacity: 4096 + agents.count * 1600)
        FleetFamilies.writeAgents(agents, into: &writer)
        FleetFamilies.writeGoals(goalCosts, into: &writer)
        FleetFamilies.writeCycleHistograms(cost: cycleCost, duration: cycleDuration, into: &writer)
        writeIngest(ingest, into: &writer)
        if let storage {
            writeStorage(storage, into: &writer)
        }
        if let webhooks {
            writeWebhooks(webhooks, into: &writer)
        }
        writeExporter(agents: agents.count, goals: goalCosts.count, into: &writer)

        let bytes = writer.finish()
        lastScrapeNanoseconds.store(Clock.monotonicNanoseconds() &- started, ordering: .relaxed)
        return bytes
    }

    private func writeIngest(_ ingest: IngestMetrics.Snapshot, into writer: inout MetricWriter) {
        writer.family(
            "agentcost_ingest_frames", type: .counter,
            help: "Frames received on the ingest port, by result; rejected ones by reason.")
        writer.sample("result", "applied", .integer(Int64(clamping: ingest.framesOK)))
        writer.sample("result", "duplicate", .integer(Int64(clamping: ingest.framesDuplicate)))
        for (reason, count) in ingest.framesRejected.sorted(by: { $0.key < $1.key }) {
            writer.sample("result", "rejected", "reason", reason, .integer(Int64(clamping: count)))
        }

        writer.family(
            "agentcost_ingest_events", type: .counter, help: "Events in applied batches, by result; rejected by reason."
        )
        writer.sample("result", "applied", .integer(Int64(clamping: ingest.eventsApplied)))
        for (reason, count) in ingest.eventsRejected.sorted(by: { $0.key < $1.key }) {
            writer.sample("result", "rejected", "reason", reason, .integer(Int64(clamping: count)))
        }

        writer.family(
            "agentcost_ingest_bytes", type: .counter,
            help: "Ingest bytes: as received on the wire, and batch payloads after inflating.", unit: "bytes")
        writer.sample("stage", "received", .integer(Int64(clamping: ingest.bytesReceived)))
        writer.sample("stage", "inflated", .integer(Int64(clamping: ingest.bytesInflated)))

        writer.family("agentcost_ingest_connections", type: .gauge, help: "Open ingest connections.")
        writer.sample(.count(ingest.connectionsOpen))

        writer.family("agentcost_ingest_connections_accepted", type: .counter, help: "Ingest connections accepted.")
        writer.sample(.integer(Int64(clamping: ingest.connectionsAccepted)))

        writer.family(
            "agentcost_ingest_connections_closed", type: .counter, help: "Ingest connections closed, by reason.")
        for (reason, count) in ingest.connectionsClosed.sorted(by: { $0.key < $1.key }) {
            writer.sample("reason", reason, .integer(Int64(clamping: count)))
        }

        writer.family(
            "agentcost_ingest_decode_seconds", type: .counter,
            help: "Time spent inflating and unpacking batches.", unit: "seconds")
        writer.sample(.number(ingest.decodeSeconds))
    }

    private func writeStorage(_ storage: Durability, into writer: inout MetricWriter) {
        let log = storage.wal.statistics
        writer.family(
            "agentcost_storage_writable", type: .gauge,
            help:
                "1 while the write-ahead log can be written; 0 means ingest answers RETRY_LATER (reason: wal_failures)."
        )
        writer.sample(.flag(log.writable))

        writer.family(
            "agentcost_storage_wal_records", type: .counter, help: "Batches written to the write-ahead log.")
        writer.sample(.integer(Int64(clamping: log.recordsWritten)))

        writer.family(
            "agentcost_storage_wal_syncs", type: .counter,
            help: "Groups of batches written and synced together (group commit).")
        writer.sample(.integer(Int64(clamping: log.groupsWritten)))

        writer.family(
            "agentcost_storage_wal_failures", type: .counter,
            help: "Failed writes, syncs and recovery probes of the write-ahead log, by reason (errno).")
        for (reason, count) in log.failuresByReason {
            writer.sample("reason", reason.rawValue, .integer(Int64(clamping: count)))
        }

        writer.family("agentcost_storage_snapshots", type: .counter, help: "Snapshots written, by result.")
        writer.sample("result", "written", .integer(Int64(clamping: storage.snapshotsWritten.load(ordering: .relaxed))))
        writer.sample("result", "failed", .integer(Int64(clamping: storage.snapshotFailures.load(ordering: .relaxed))))

        writer.family(
            "agentcost_storage_last_snapshot_duration_seconds", type: .gauge,
            help: "How long the latest snapshot took to cut and write.", unit: "seconds")
        writer.sample(.number(Double(storage.lastSnapshotSeconds.load(ordering: .relaxed)) / 1e9))
    }

    private func writeWebhooks(_ webhooks: WebhookMetrics, into writer: inout MetricWriter) {
        let targets = webhooks.snapshot()
        writer.family(
            "agentcost_webhook_deliveries", type: .counter,
            help: "Webhook events finished per target: delivered (2xx) or abandoned (4xx, too old, out of attempts).")
        for target in targets {
            writer.sample("target", target.target, "result", "delivered", .integer(Int64(clamping: target.delivered)))
            writer.sample("target", target.target, "result", "abandoned", .integer(Int64(clamping: target.abandoned)))
        }

        writer.family(
            "agentcost_webhook_failures", type: .counter,
            help: "Failed webhook delivery attempts, by target and reason.")
        for target in targets {
            for (reason, count) in target.failures {
                writer.sample("target", target.target, "reason", reason, .integer(Int64(clamping: count)))
            }
        }

        writer.family("agentcost_webhook_retries", type: .counter, help: "Webhook delivery retries scheduled.")
        for target in targets {
            writer.sample("target", target.target, .integer(Int64(clamping: target.retries)))
        }

        writer.family(
            "agentcost_webhook_queue_depth", type: .gauge, help: "Webhook events waiting for delivery, per target.")
        for target in targets {
            writer.sample("target", target.target, .count(target.queueDepth))
        }

        writer.family(
            "agentcost_webhook_delivery_seconds", type: .histogram,
            help: "Time from queuing a webhook event to its successful delivery, all targets.", unit: "seconds")
        let latency = webhooks.deliverySeconds.snapshot()
        writer.histogram(
            bounds: webhooks.deliverySeconds.bounds, cumulativeCounts: latency.cumulativeCounts,
            sum: .number(latency.sum), count: latency.count)
    }

    private func writeExporter(agents: Int, goals: Int, into writer: inout MetricWriter) {
        writer.family("agentcost_agents", type: .gauge, help: "Agents tracked.")
        writer.sample(.count(agents))

        writer.family("agentcost_goals", type: .gauge, help: "Goals tracked.")
        writer.sample(.count(goals))

        writer.family(
            "agentcost_scrape_duration_seconds", type: .gauge,
            help: "Time the previous scrape took to gather and render the metrics.", unit: "seconds")
        writer.sample(.number(Double(lastScrapeNanoseconds.load(ordering: .relaxed)) / 1e9))

        writer.family("agentcost_build", type: .info, help: "The exporter's version; the value is always 1.")
        writer.sample("version", BuildInfo.version, "language", "swift", .integer(1))
    }
}
