import AgentCostCore
import AgentCostLog
import AgentCostServer
import AgentCostStore
import AgentCostSystem
import AgentCostWire
import Synchronization

/// The cost of an ack meaning "on disk": ingest through the write-ahead log with group commit against the same
/// with syncing off (same run), the ack latency of a lone client, and the restart time of 100,000 agents.
func benchmarkStorage(framesPerConnection: Int) throws {
    let streams = try makeStreams(connections: 4, frames: framesPerConnection, eventsPerFrame: 1000)
    let events = Double(4 * framesPerConnection * 1000)
    print("storage: ingest through the write-ahead log, 4 connections x \(framesPerConnection) frames x 1000 events")

    let durable = try measureExporterIngest(streams: streams, frames: framesPerConnection, sync: .group)
    let unsynced = try measureExporterIngest(streams: streams, frames: framesPerConnection, sync: .off)
    print("  durable acks (fdatasync per group): \(rate(events / durable.seconds)) events/s, \(durable.syncs) syncs")
    print("  fsync off:                          \(rate(events / unsynced.seconds)) events/s")
    print("  ratio durable / fsync off: \(fixed(unsynced.seconds / durable.seconds, 2))")

    let latencies = try measureAckLatency(batches: 400)
    print(
        "  ack latency, one client, 100-event batches, durable: p50 \(fixed(latencies.p50 * 1000, 2)) ms, "
            + "p99 \(fixed(latencies.p99 * 1000, 2)) ms"
    )

    let restart = try measureRestart(agents: 100_000)
    print(
        "  restart with \(restart.agents) agents after a crash: \(fixed(restart.seconds, 2)) s (snapshot of "
            + "\(fixed(Double(restart.snapshotBytes) / 1_048_576, 1)) MiB, plus \(restart.recordsReplayed) log records "
            + "replayed)"
    )
}

private func temporaryDataDirectory() -> String {
    "/tmp/agentcost-bench-\(UInt64.random(in: 0...UInt64.max))"
}

private func startExporter(directory: String, sync: WriteAheadLog.SyncPolicy) throws -> (Exporter, Exporter.BoundPorts)
{
    var configuration = ExporterConfiguration()
    configuration.webListenAddress = ListenAddress(host: "127.0.0.1", port: 0)
    configuration.ingestListenAddress = ListenAddress(host: "127.0.0.1", port: 0)
    configuration.dataDirectory = directory
    configuration.walSync = sync
    let exporter = try Exporter(configuration: configuration, logger: benchLogger)
    return (exporter, try exporter.start())
}

private func measureExporterIngest(
    streams: [[UInt8]], frames: Int, sync: WriteAheadLog.SyncPolicy
) throws -> (seconds: Double, syncs: UInt64) {
    let directory = temporaryDataDirectory()
    defer { FileSystem.removeTree(directory) }
    let (exporter, ports) = try startExporter(directory: directory, sync: sync)
    defer { exporter.stop() }

    let address = ListenAddress(host: "127.0.0.1", port: ports.ingest)
    let sockets = try streams.map { _ in try Socket.connect(to: address) }
    let failures = Mutex<[String]>([])
    let start = Clock.monotonicSeconds()
    var threads: [OSThread] = []
    for (socket, stream) in zip(sockets, streams) {
        threads.append(
            try OSThread {
                do { try socket.writeAll(stream, to: address) } catch { failures.withLock { $0.append("\(error)") } }
            })
        threads.append(
            try OSThread {
                do { _ = try readAcks(from: socket, count: frames) } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            })
    }
    for thread in threads { thread.join() }
    let seconds = Clock.monotonicSeconds() - start
    for socket in sockets { socket.close() }
    if let failure = failures.withLock({ $0.first }) { throw BenchmarkError(failure) }
    return (seconds, exporter.durability.wal.statistics.groupsWritten)
}

private func measureAckLatency(batches: Int) throws -> (p50: Double, p99: Double) {
    let directory = temporaryDataDirectory()
    defer { FileSystem.removeTree(directory) }
    let (exporter, ports) = try startExporter(directory: directory, sync: .group)
    defer { exporter.stop() }
    let address = ListenAddress(host: "127.0.0.1", port: ports.ingest)
    let socket = try Socket.connect(to: address)
    defer { socket.close() }

    var latencies: [Double] = []
    for sequence in 1...batches {
        let events = (0..<100).map {
            Event(timeUnixNano: 0, .spend(Spend(agentID: "latency-\($0 % 10)", costUSD: 0.001)))
        }
        let frame = try Batch(producerID: "latency", sequence: UInt64(sequence), events: events).makeFrame()
            .serialized()
        let start = Clock.monotonicSeconds()
        try socket.writeAll(frame, to: address)
        _ = try readAcks(from: socket, count: 1)
        latencies.append(Clock.monotonicSeconds() - start)
    }
    latencies.sort()
    return (latencies[latencies.count / 2], latencies[latencies.count * 99 / 100])
}

private func measureRestart(agents: Int) throws -> (
    agents: Int, seconds: Double, snapshotBytes: Int, recordsReplayed: Int
) {
    let directory = temporaryDataDirectory()
    defer { FileSystem.removeTree(directory) }

    // A fleet written into a snapshot, then more batches in the log after it, then a crash: stopped without the
    // final snapshot a clean stop writes, so that the restart has the log to replay.
    let (first, _) = try startExporter(directory: directory, sync: .group)
    try populate(first.tracker, agents: agents)
    first.writeSnapshot()
    let records = 2_000
    for index in 0..<records {
        _ = try first.applyOperatorEvent(
            Event(timeUnixNano: 0, .spend(Spend(agentID: "agent-\(index)", costUSD: 0.01))))
    }
    first.abandon()
    let snapshotBytes = try FileSystem.list(directory).filter { $0.hasPrefix("snapshot-") }.reduce(0) {
        $0 + ((try? DataFile.open(directory + "/" + $1, .read).size()) ?? 0)
    }

    let start = Clock.monotonicSeconds()
    let (second, _) = try startExporter(directory: directory, sync: .group)
    let seconds = Clock.monotonicSeconds() - start
    guard second.tracker.agentCount == agents else {
        throw BenchmarkError("restart found \(second.tracker.agentCount) agents, expected \(agents)")
    }
    let replayed = second.recovery?.recordsReplayed ?? 0
    second.stop()
    guard replayed == records else {
        throw BenchmarkError(
            "restart replayed \(replayed) log records, expected the \(records) written after the snapshot")
    }
    return (agents, seconds, snapshotBytes, replayed)
}
