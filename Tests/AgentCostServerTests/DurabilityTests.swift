import AgentCostClient
import AgentCostCore
import AgentCostLog
import AgentCostStore
import AgentCostSystem
import AgentCostWire
import Testing

@testable import AgentCostServer

#if canImport(Glibc)
    import Glibc
#endif

/// An exporter on a data directory the test chooses, so that it can be restarted on the same one.
func makeExporter(dataDirectory: String, logSink: Logger.Sink? = nil) throws -> (Exporter, Exporter.BoundPorts) {
    var configuration = ExporterConfiguration()
    configuration.webListenAddress = ListenAddress(host: "127.0.0.1", port: 0)
    configuration.ingestListenAddress = ListenAddress(host: "127.0.0.1", port: 0)
    configuration.dataDirectory = dataDirectory
    let exporter = try Exporter(
        configuration: configuration, logger: Logger(component: "test", level: .info, sink: logSink ?? { _ in }))
    return (exporter, try exporter.start())
}

/// `agentcost_storage_wal_failures_total{reason=…}` as the exporter's `/metrics` shows it.
func walFailures(_ api: OperatorClient, reason: String) throws -> Int {
    let prefix = "agentcost_storage_wal_failures_total{reason=\"\(reason)\"} "
    let line = try #require(try api.metrics().text.split(separator: "\n").first { $0.hasPrefix(prefix) })
    return try #require(Int(line.dropFirst(prefix.count)))
}

@Suite("Durable state through the whole exporter")
struct DurabilityTests {
    @Test("after a crash, batches, budgets, pauses, goals and producer sequences come back through log replay")
    func restart() throws {
        let directory = temporaryDirectory()
        defer { FileSystem.removeTree(directory) }

        let (first, ports) = try makeExporter(dataDirectory: directory)
        let connection = try TestConnection(port: ports.ingest)
        #expect(
            try connection.exchange(Batch(producerID: "fleet", sequence: 1, events: [budget("a", 1), spend("a", 0.6)]))
                .applied == 2)
        #expect(
            try connection.exchange(
                Batch(producerID: "fleet", sequence: 2, events: [spend("a", 0.5), spend("b", 0.25, goal: "g")])
            ).pausedAgents == ["a"])
        _ = try OperatorClient(address: ListenAddress(host: "127.0.0.1", port: ports.web)).createGoal(
            "launch", budgetDollars: "9")
        let before = first.tracker.agentSummary("a")
        first.abandon()
        #expect(!(try FileSystem.list(directory)).contains { $0.hasPrefix("snapshot-") })

        let lines = LogCapture()
        let (second, secondPorts) = try makeExporter(dataDirectory: directory, logSink: lines.sink)
        defer { second.stop() }
        // No snapshot: two batches and the goal's creation came back from the log alone, the pause with them.
        #expect(second.recovery?.snapshot == nil)
        #expect(second.recovery?.recordsReplayed == 3)
        #expect(second.tracker.agentSummary("a") == before)
        #expect(second.tracker.isPaused("a"))
        #expect(second.goals.goalCost("g")?.directCost == Money(nanos: 250_000_000))
        #expect(second.goals.goalCost("launch")?.budget == Money(nanos: 9_000_000_000))
        #expect(
            lines.lines.contains {
                $0.contains("msg=\"state recovered\"") && $0.contains("records_replayed=3") && $0.contains("seconds=")
            })

        // The producer's sequences came back too: a resend of batch 2 is a duplicate.
        let again = try TestConnection(port: secondPorts.ingest).exchange(
            Batch(producerID: "fleet", sequence: 2, events: [spend("a", 0.5), spend("b", 0.25, goal: "g")]))
        #expect(again.applied == 0)
        #expect(second.tracker.cumulativeSpend("a") == Money(nanos: 1_100_000_000))
    }

    @Test("a snapshot and the log after it are replayed exactly, and old log files go away")
    func snapshotThenLog() throws {
        let directory = temporaryDirectory()
        defer { FileSystem.removeTree(directory) }
        let (first, ports) = try makeExporter(dataDirectory: directory)
        let connection = try TestConnection(port: ports.ingest)
        for sequence in 1...30 {
            let events = [
                cycleStart("a", at: Int64(sequence) * 1_000_000_000),
                spend("a", 0.01, at: Int64(sequence) * 1_000_000_000),
                cycleEnd("a", at: Int64(sequence) * 1_000_000_000 + 5),
            ]
            #expect(
                try connection.exchange(Batch(producerID: "p", sequence: UInt64(sequence), events: events)).applied == 3
            )
            if sequence == 20 {
                first.writeSnapshot()
            }
        }
        let before = first.tracker.agentCycles("a", limit: 100)
        first.abandon()

        let files = try FileSystem.list(directory).sorted()
        #expect(files.contains(SnapshotFile.fileName(generation: 2)))
        #expect(!files.contains(WriteAheadLog.fileName(generation: 1)))
        #expect(files.contains(WriteAheadLog.fileName(generation: 2)))

        let (second, _) = try makeExporter(dataDirectory: directory)
        defer { second.stop() }
        // Batches 1…20 came from the snapshot, 21…30 from the log after it.
        #expect(second.recovery?.snapshot == directory + "/" + SnapshotFile.fileName(generation: 2))
        #expect(second.recovery?.recordsReplayed == 10)
        #expect(second.tracker.agentCycles("a", limit: 100) == before)
        #expect(second.tracker.agentSummary("a")?.totalCycles == 30)
    }

    @Test("a full disk: ingest answers RETRY_LATER, the exporter stays up, says why in its log and a metric")
    func fullDisk() throws {
        let directory = temporaryDirectory()
        defer { FileSystem.removeTree(directory) }
        let lines = LogCapture()
        let (exporter, ports) = try makeExporter(dataDirectory: directory, logSink: lines.sink)
        defer { exporter.stop() }
        // The log file opens at the first write: make it a device where every write fails with ENOSPC.
        #expect(symlink("/dev/full", directory + "/" + WriteAheadLog.fileName(generation: 1)) == 0)

        let connection = try TestConnection(port: ports.ingest)
        let refused = try connection.exchange(Batch(producerID: "p", sequence: 1, events: [spend("a", 1)]))
        #expect(refused.status == .retryLater)
        #expect(refused.message.contains("No space left on device"))
        let later = try connection.exchange(Batch(producerID: "p", sequence: 2, events: [spend("a", 1)]))
        #expect(later.status == .retryLater)
        // Refused unread because of the earlier RETRY_LATER, but still answered with its own sequence.
        #expect(refused.sequence == 1 && later.sequence == 2)
        #expect(exporter.tracker.cumulativeSpend("a") == .zero)

        let api = OperatorClient(address: ListenAddress(host: "127.0.0.1", port: ports.web))
        #expect(try api.send("GET", "/-/healthy").status == 200)
        #expect(try api.metrics().text.contains("\nagentcost_storage_writable 0\n"))
        #expect(try walFailures(api, reason: "enospc") >= 1)
        #expect(try walFailures(api, reason: "erofs") == 0)
        #expect(lines.lines.contains { $0.contains("write-ahead log failed") && $0.contains("reason=enospc") })
        #expect(try api.setBudget("a", dollars: "5").status == 503)

        // Still full after the probe delay: the probes fail, so nothing is accepted and the metric stays 0.
        Clock.sleep(for: .milliseconds(2300))
        #expect(try api.metrics().text.contains("\nagentcost_storage_writable 0\n"))
        #expect(try walFailures(api, reason: "enospc") >= 2)
        let stillFull = try TestConnection(port: ports.ingest).exchange(
            Batch(producerID: "p", sequence: 1, events: [spend("a", 1)]))
        #expect(stillFull.status == .retryLater)
        #expect(exporter.tracker.cumulativeSpend("a") == .zero)

        // Space again: a probe succeeds on its own, then a new connection's batches are stored and applied.
        try FileSystem.remove(directory + "/" + WriteAheadLog.fileName(generation: 1))
        Clock.sleep(for: .milliseconds(1700))
        #expect(try api.metrics().text.contains("\nagentcost_storage_writable 1\n"))
        #expect(lines.lines.contains { $0.contains("the write-ahead log can be written again") })
        let fresh = try TestConnection(port: ports.ingest)
        let stored = try fresh.exchange(Batch(producerID: "p", sequence: 1, events: [spend("a", 1)]))
        #expect(stored.status == .ok && stored.applied == 1)
        #expect(try api.metrics().text.contains("\nagentcost_storage_writable 1\n"))
    }

    @Test("a read-only data directory: RETRY_LATER until it is writable again")
    func readOnlyDirectory() throws {
        let directory = temporaryDirectory()
        defer {
            _ = system("chattr -i '\(directory)' 2>/dev/null")
            FileSystem.removeTree(directory)
        }
        let (exporter, ports) = try makeExporter(dataDirectory: directory)
        defer { exporter.stop() }
        // chattr +i makes the directory read-only even for root (who ignores permission bits).
        guard system("chattr +i '\(directory)' 2>/dev/null") == 0 else {
            Issue.record("chattr +i is not supported on this file system; cannot make the directory read-only")
            return
        }
        let refused = try TestConnection(port: ports.ingest).exchange(
            Batch(producerID: "p", sequence: 1, events: [spend("a", 1)]))
        #expect(refused.status == .retryLater)
        #expect(refused.message.contains("Operation not permitted"))
        let api = OperatorClient(address: ListenAddress(host: "127.0.0.1", port: ports.web))
        #expect(try walFailures(api, reason: "eperm") >= 1)
        #expect(try walFailures(api, reason: "enospc") == 0)

        _ = system("chattr -i '\(directory)'")
        Clock.sleep(for: .milliseconds(1700))
        let stored = try TestConnection(port: ports.ingest).exchange(
            Batch(producerID: "p", sequence: 1, events: [spend("a", 1)]))
        #expect(stored.status == .ok)
        #expect(try api.metrics().text.contains("\nagentcost_storage_writable 1\n"))
    }

    @Test("state is recovered before the HTTP and ingest ports open")
    func recoveryComesBeforeServing() throws {
        let directory = temporaryDirectory()
        defer { FileSystem.removeTree(directory) }
        let (first, ports) = try makeExporter(dataDirectory: directory)
        #expect(
            try TestConnection(port: ports.ingest).exchange(
                Batch(producerID: "p", sequence: 1, events: [budget("a", 1), spend("a", 2)])
            ).pausedAgents == ["a"])
        first.abandon()

        let lines = LogCapture()
        let (second, _) = try makeExporter(dataDirectory: directory, logSink: lines.sink)
        defer { second.stop() }
        let log = lines.lines
        let recovered = try #require(log.firstIndex { $0.contains("msg=\"state recovered\"") })
        let http = try #require(log.firstIndex { $0.contains("component=http msg=listening ") })
        let ingest = try #require(log.firstIndex { $0.contains("msg=\"ingest listening\"") })
        #expect(log[recovered].contains("records_replayed=1"))
        #expect(recovered < http, "HTTP served before the state was recovered")
        #expect(recovered < ingest, "ingest listened before the state was recovered")
        #expect(second.tracker.isPaused("a"))
    }

    @Test("a corrupted snapshot stops the start with an error naming the file")
    func corruptSnapshotStopsStart() throws {
        let directory = temporaryDirectory()
        defer { FileSystem.removeTree(directory) }
        let (first, ports) = try makeExporter(dataDirectory: directory)
        _ = try TestConnection(port: ports.ingest).exchange(
            Batch(producerID: "p", sequence: 1, events: [spend("a", 1)]))
        first.writeSnapshot()
        first.stop()
        let name = try #require(try FileSystem.list(directory).first { $0.hasPrefix("snapshot-") })
        let path = directory + "/" + name
        var bytes = try DataFile.open(path, .read).readAll()
        bytes[bytes.count - 12] ^= 0x55
        let file = try DataFile.open(path, .create)
        try file.write(bytes)
        file.close()

        let error = #expect(throws: ExporterStartError.self) { try makeExporter(dataDirectory: directory) }
        #expect(error?.message.contains(path) == true)
        #expect(error?.message.contains("corrupt") == true)
    }
}
