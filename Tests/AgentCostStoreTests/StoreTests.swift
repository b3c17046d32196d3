import AgentCostCore
import AgentCostLog
import AgentCostSystem
import AgentCostWire
import Synchronization
import Testing

@testable import AgentCostStore

#if canImport(Glibc)
    import Glibc
#endif

/// A temporary data directory, removed when the test ends.
final class TemporaryDirectory {
    let path = "/tmp/agentcost-store-test-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"

    init() throws {
        try FileSystem.createDirectories(path)
    }

    deinit {
        FileSystem.removeTree(path)
    }
}

final class Lines: Sendable {
    private let storage = Mutex<[String]>([])
    var all: [String] { storage.withLock { $0 } }
    var sink: Logger.Sink { { line in self.storage.withLock { $0.append(line) } } }
}

func batchBytes(_ agent: String, cost: Double, sequence: UInt64) throws -> [UInt8] {
    try Batch(
        producerID: "p", sequence: sequence,
        events: [Event(timeUnixNano: 1_796_299_200_000_000_000, .spend(Spend(agentID: agent, costUSD: cost)))]
    ).protobufBytes()
}

/// Appends `count` batches and waits until the flusher has made them durable.
func writeLog(_ directory: String, count: Int, sync: WriteAheadLog.SyncPolicy = .group) throws {
    let log = WriteAheadLog(
        directory: directory, generation: 1, syncPolicy: sync, logger: Logger(component: "test", level: .error),
        onResolved: {})
    try log.start()
    var last: WriteAheadLog.Position?
    for index in 0..<count {
        last = log.append(
            batch: try batchBytes("agent-\(index % 3)", cost: 0.01, sequence: UInt64(index + 1))[...],
            receivedAt: Timestamp(nanosecondsSinceEpoch: Int64(index)))
    }
    if let last { #expect(log.waitUntilResolved(last) == .durable) }
    log.stop()
}

func replayAll(_ directory: String, logger: Logger = Logger(component: "test", level: .error)) throws
    -> (Recovery.Outcome, [LogRecord])
{
    var records: [LogRecord] = []
    let outcome = try Recovery.recover(
        directory: directory, logger: logger, restoreAgent: { _ in }, restoreRest: { _, _ in },
        replay: { records.append($0) })
    return (outcome, records)
}

@Suite("Write-ahead log and snapshots")
struct StoreTests {
    @Test("every durable record is replayed, in order, with its receive time")
    func logRoundTrip() throws {
        let directory = try TemporaryDirectory()
        try writeLog(directory.path, count: 250)

        let (outcome, records) = try replayAll(directory.path)
        #expect(outcome.recordsReplayed == 250)
        #expect(outcome.tailsCut == 0)
        #expect(records.map(\.receivedAt.nanosecondsSinceEpoch) == (0..<250).map { Int64($0) })
        let decoder = BatchDecoder()
        #expect(try decoder.decodeMessage(records[7].batch).sequence == 8)
    }

    @Test(
        "a torn or corrupted tail is cut off with a log line, and the intact records are kept",
        arguments: ["cut", "garbage", "flipped"]
    )
    func tornTail(damage: String) throws {
        let directory = try TemporaryDirectory()
        try writeLog(directory.path, count: 20)
        let path = directory.path + "/" + WriteAheadLog.fileName(generation: 1)
        var bytes = try DataFile.open(path, .read).readAll()
        let intact = bytes.count
        switch damage {
        case "cut": bytes.removeLast(5)  // the last record loses its end
        case "garbage": bytes += [0, 0, 1, 0, 9, 9, 9, 9, 1, 2, 3]  // a header promising more than follows
        default: bytes[bytes.count - 2] ^= 0xff  // the last record's checksum no longer matches
        }
        let file = try DataFile.open(path, .create)
        try file.write(bytes)
        file.close()

        let lines = Lines()
        let (outcome, records) = try replayAll(directory.path, logger: Logger(component: "test", sink: lines.sink))
        #expect(outcome.tailsCut == 1)
        #expect(records.count == (damage == "garbage" ? 20 : 19))
        #expect(lines.all.contains { $0.contains("cut a damaged tail off the write-ahead log") && $0.contains(path) })
        let repaired = try DataFile.open(path, .read).readAll().count
        #expect(damage == "garbage" ? repaired == intact : repaired < intact)

        // Repaired once, the log reads clean the next time.
        #expect(try replayAll(directory.path).0.tailsCut == 0)
    }

    @Test("a snapshot and the log after it rebuild the whole state")
    func snapshotRoundTrip() throws {
        let directory = try TemporaryDirectory()
        let tracker = try HeartbeatTracker()
        let time = Timestamp(secondsSinceEpoch: 1_796_299_200)
        try tracker.setBudget("a", budget: 1, period: .daily, at: time)
        for index in 0..<30 {
            try tracker.startCycle("a", at: time.advanced(bySeconds: Double(index) * 60))
            try tracker.recordSpend("a", 0.01 * Double(index % 7), at: time.advanced(bySeconds: Double(index) * 60 + 1))
            tracker.endCycle("a", at: time.advanced(bySeconds: Double(index) * 60 + 30))
        }
        try tracker.recordSpend("b \"odd\" ✓", 0.5, at: time)
        // An anomaly judged against an average below half a nano-dollar keeps its exact ratio across the restart.
        for (index, nanos) in [1, 0, 0, 0, 1].enumerated() {
            try tracker.startCycle("tiny", at: time.advanced(bySeconds: Double(index)))
            try tracker.recordSpend("tiny", Money(nanos: Int64(nanos)), at: time.advanced(bySeconds: Double(index)))
        }
        tracker.endCycle("tiny", at: time.advanced(bySeconds: 10))
        let tinyReason = "Cycle cost $0.000000001 is 4.0x the rolling average under $0.000000001"
        #expect(tracker.agentCycles("tiny", limit: 1).first?.anomalyReason == tinyReason)
        let goals = [
            GoalRecord(
                goalID: "g", name: "G", parentID: nil, childIDs: ["h"], directCost: Money(nanos: 5),
                totalCost: Money(nanos: 9),
                directCalls: 1, totalCalls: 2, budget: Money(nanos: 100), warningRatio: 0.8, isImplicit: false,
                warned: true, exceeded: false)
        ]

        let written = try SnapshotFile.write(
            directory: directory.path, generation: 7, createdAt: time, agents: tracker.capture(), goals: goals,
            producers: ["fleet-a": 42, "fleet-b": 7])
        #expect(written.path.hasSuffix("snapshot-00000000000000000007.pb"))

        let restored = try HeartbeatTracker()
        let contents = try SnapshotFile.read(written.path) { (record) throws(StoreError) in
            do throws(TrackerError) { try restored.restore(record) } catch { Issue.record("\(error)") }
        }
        #expect(contents.generation == 7)
        #expect(contents.agentCount == 3)
        #expect(contents.goals == goals)
        #expect(contents.producers == ["fleet-a": 42, "fleet-b": 7])
        for agent in ["a", "b \"odd\" ✓", "tiny"] {
            #expect(restored.agentSummary(agent) == tracker.agentSummary(agent))
            #expect(restored.agentCycles(agent, limit: 50) == tracker.agentCycles(agent, limit: 50))
        }
        #expect(restored.agentCycles("tiny", limit: 1).first?.anomalyReason == tinyReason)
        let records = { (tracker: HeartbeatTracker) in
            var records: [String: AgentRecord] = [:]
            tracker.capture().forEachAgent { records[$0.agentID] = $0 }
            return records
        }
        #expect(records(restored) == records(tracker))
        #expect(records(restored)["tiny"]?.history.last?.baselineSum == Money(nanos: 1))
        #expect(records(restored)["tiny"]?.history.last?.baselineCycles == 4)
    }

    @Test("a corrupted snapshot stops recovery with an error naming the file", arguments: ["flip", "cut"])
    func corruptSnapshot(damage: String) throws {
        let directory = try TemporaryDirectory()
        let tracker = try HeartbeatTracker()
        try tracker.recordSpend("a", 0.5, at: Timestamp(secondsSinceEpoch: 1_796_299_200))
        let written = try SnapshotFile.write(
            directory: directory.path, generation: 2, createdAt: .epoch, agents: tracker.capture(), goals: [],
            producers: [:])
        var bytes = try DataFile.open(written.path, .read).readAll()
        if damage == "flip" { bytes[bytes.count / 2] ^= 0x40 } else { bytes.removeLast(10) }
        let file = try DataFile.open(written.path, .create)
        try file.write(bytes)
        file.close()

        let error = #expect(throws: StoreError.self) { try replayAll(directory.path) }
        #expect(error?.code == .corruptSnapshot)
        #expect(error?.message.contains(written.path) == true)
        // The advice is what is safe: the logs before a snapshot are gone, so removing it alone would lose state.
        #expect(error?.message.contains("Restore the whole data directory from a backup") == true)
        #expect(error?.message.contains("Do not remove the snapshot alone") == true)
    }

    @Test("a full disk fails the group: its records are reported failed, appends are refused, then it recovers")
    func fullDisk() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/" + WriteAheadLog.fileName(generation: 1)
        #expect(symlink("/dev/full", path) == 0)  // every write there fails with ENOSPC, as on a full disk

        let lines = Lines()
        let log = WriteAheadLog(
            directory: directory.path, generation: 1, syncPolicy: .group,
            logger: Logger(component: "test", sink: lines.sink), onResolved: {})
        try log.start()
        defer { log.stop() }
        let position = try #require(
            log.append(batch: try batchBytes("a", cost: 1, sequence: 1)[...], receivedAt: .epoch))
        #expect(log.waitUntilResolved(position) == .failed)
        #expect(log.failure?.contains("No space left on device") == true)
        #expect(log.statistics.failureReason == .enospc)
        #expect(log.append(batch: try batchBytes("a", cost: 1, sequence: 2)[...], receivedAt: .epoch) == nil)
        #expect(lines.all.contains { $0.contains("write-ahead log failed") && $0.contains("reason=enospc") })

        // Still full: the probes a second apart fail too, so appends stay refused and the log stays unwritable.
        Clock.sleep(for: .milliseconds(2300))
        #expect(!log.statistics.writable)
        #expect(log.append(batch: try batchBytes("a", cost: 1, sequence: 2)[...], receivedAt: .epoch) == nil)
        let failures = log.statistics.failuresByReason
        #expect(failures.first { $0.reason == .enospc }?.count ?? 0 >= 2)
        #expect(failures.filter { $0.reason != .enospc }.allSatisfy { $0.count == 0 })

        // Space again: the next generation's file is an ordinary one, and the probe there succeeds.
        _ = log.rotate()
        Clock.sleep(for: .milliseconds(1600))
        #expect(log.statistics.writable)
        #expect(log.statistics.failureReason == nil)
        let later = try #require(log.append(batch: try batchBytes("a", cost: 1, sequence: 3)[...], receivedAt: .epoch))
        #expect(log.waitUntilResolved(later) == .durable)
    }

    @Test("a group torn by a full file system is cut off before anything else is appended, and replays clean")
    func tornGroupIsCutBack() throws {
        // A 64 KiB tmpfs: writes fail part way through with ENOSPC, leaving torn bytes, as on a real full disk.
        let mountPoint = try TemporaryDirectory()
        guard system("mount -t tmpfs -o size=64k tmpfs '\(mountPoint.path)' 2>/dev/null") == 0 else {
            Issue.record("cannot mount a tmpfs (needs root); cannot fill a file system")
            return
        }
        defer { #expect(system("umount '\(mountPoint.path)'") == 0, "the tmpfs is still busy: a file left open") }
        let directory = mountPoint.path + "/data"
        let filler = mountPoint.path + "/filler"
        #expect(system("head -c 40960 /dev/zero > '\(filler)' 2>/dev/null") == 0)

        let lines = Lines()
        let log = WriteAheadLog(
            directory: directory, generation: 1, syncPolicy: .group,
            logger: Logger(component: "test", sink: lines.sink), onResolved: {})
        try log.start()
        defer { log.stop() }
        let big = try Batch(
            producerID: "p", sequence: 1,
            events: (0..<60).map { Event(timeUnixNano: 1, .spend(Spend(agentID: "agent-\($0)", costUSD: 0.01))) }
        ).protobufBytes()

        // Append one record at a time until the file system is full.
        var durable: [UInt64] = []
        while durable.count < 100 {
            guard let position = log.append(batch: big[...], receivedAt: .epoch) else { break }
            if log.waitUntilResolved(position) == .failed { break }
            #expect(position.record == UInt64(durable.count))
            durable.append(position.record)
        }
        #expect(log.statistics.failureReason == .enospc)
        try #require(durable.count > 2 && durable.count < 100)
        let path = directory + "/" + WriteAheadLog.fileName(generation: 1)
        let file = try DataFile.open(path, .read)
        let framed = RecordFraming.read(try file.readAll())
        file.close()
        #expect(framed.problem == nil, "the failed group was left in the file: \(framed.problem ?? "")")
        #expect(framed.records.count == durable.count)

        // Still full a while later: refused. Then space again: the probe succeeds, and appending goes on with the
        // failed record's index.
        Clock.sleep(for: .milliseconds(1300))
        #expect(log.append(batch: big[...], receivedAt: .epoch) == nil)
        try FileSystem.remove(filler)
        Clock.sleep(for: .milliseconds(1300))
        let next = try #require(log.append(batch: big[...], receivedAt: Timestamp(nanosecondsSinceEpoch: 7)))
        #expect(next.record == UInt64(durable.count))
        #expect(log.waitUntilResolved(next) == .durable)
        log.stop()

        let (outcome, records) = try replayAll(directory)
        #expect(outcome.tailsCut == 0)
        #expect(outcome.recordsReplayed == durable.count + 1)
        #expect(outcome.recordsInGeneration == UInt64(durable.count + 1))
        #expect(records.map(\.coordinate.record) == (0...UInt64(durable.count)).map { $0 })
        #expect(records.last?.receivedAt.nanosecondsSinceEpoch == 7)
    }
}
