import AgentCostCore
import AgentCostLog
import AgentCostStore
import AgentCostSystem
import Dispatch
import Synchronization

/// Ties the write-ahead log and snapshots to the tracker: what makes an ack mean "stored".
///
/// Ingest appends each batch to the log, then applies and acknowledges it once the log says it is durable. A
/// snapshot needs a cut that matches a log position exactly: it rotates the log to a new generation, holds back
/// every batch of the new generation (the barrier), waits until every batch of the old one has been applied, captures
/// the state copy-on-write (milliseconds), lifts the barrier, and writes the file while ingest goes on.
public final class Durability: Sendable {
    public let wal: WriteAheadLog
    public let directory: String
    let snapshotInterval: Double
    let snapshotRecords: Int
    private let logger: Logger
    /// Batches of generations above this wait; `.max` when no snapshot is being cut.
    private let barrier = Atomic<UInt64>(.max)
    private let recordsSinceSnapshot = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private let snapshotter = Mutex<OSThread?>(nil)
    private let wakeSnapshotter = DispatchSemaphore(value: 0)
    private let listeners = Listeners()
    let lastSnapshotSeconds = Atomic<UInt64>(0)
    let snapshotsWritten = Atomic<UInt64>(0)
    let snapshotFailures = Atomic<UInt64>(0)

    public init(
        directory: String,
        generation: UInt64,
        syncPolicy: WriteAheadLog.SyncPolicy,
        snapshotInterval: Double,
        snapshotRecords: Int,
        logger: Logger
    ) {
        self.directory = directory
        self.snapshotInterval = snapshotInterval
        self.snapshotRecords = snapshotRecords
        self.logger = logger
        let listeners = listeners
        self.wal = WriteAheadLog(
            directory: directory, generation: generation, syncPolicy: syncPolicy, logger: logger,
            onResolved: { listeners.notify() })
    }

    /// Who to wake when log positions resolve or a snapshot's barrier lifts.
    private final class Listeners: Sendable {
        private let list = Mutex<[@Sendable () -> Void]>([])

        func add(_ listener: @escaping @Sendable () -> Void) {
            list.withLock { $0.append(listener) }
        }

        func notify() {
            for listener in list.withLock({ $0 }) { listener() }
        }
    }

    /// Calls `listener` (on the flusher or snapshot thread) whenever log positions resolve or the barrier lifts.
    func addListener(_ listener: @escaping @Sendable () -> Void) {
        listeners.add(listener)
    }

    private func notifyListeners() {
        listeners.notify()
    }

    /// Whether a batch of `generation` must wait for a snapshot's cut.
    func isHeld(_ generation: UInt64) -> Bool {
        generation > barrier.load(ordering: .acquiring)
    }

    /// Counts a finished record (applied, or answered RETRY_LATER when its write failed) toward the next snapshot.
    func recordFinished(_ position: WriteAheadLog.Position, applied: Bool) {
        wal.finished(position, applied: applied)
        if recordsSinceSnapshot.add(1, ordering: .relaxed).newValue == snapshotRecords {
            wakeSnapshotter.signal()
        }
    }

    /// Whether batches were applied since the latest snapshot (replayed ones included).
    var hasUnsnapshottedRecords: Bool { recordsSinceSnapshot.load(ordering: .relaxed) > 0 }

    /// Counts records replayed at start toward the next snapshot, so that a clean stop folds them in.
    func noteReplayed(_ count: Int) {
        recordsSinceSnapshot.add(count, ordering: .relaxed)
    }

    /// Whether the log and snapshot threads run (between `start` and `stop`).
    var isRunning: Bool { snapshotter.withLock { $0 != nil } }

    /// Starts the log's flusher and the snapshot thread; `capture` gathers the state at a cut, and `afterCut` learns
    /// that every record before the given coordinate has been applied (the start of the next generation).
    func start(
        capture: @escaping @Sendable () -> StateCapture,
        afterCut: @escaping @Sendable (LogCoordinate) -> Void = { _ in }
    ) throws(SystemError) {
        try wal.start()
        let thread = try OSThread { [self] in runSnapshots(capture: capture, afterCut: afterCut) }
        snapshotter.withLock { $0 = thread }
    }

    /// Stops the snapshot thread, then the log (after writing what is pending).
    func stop() {
        stopping.store(true, ordering: .releasing)
        wakeSnapshotter.signal()
        snapshotter.withLock { thread in
            thread?.join()
            thread = nil
        }
        wal.stop()
    }

    /// What a snapshot holds, captured at a cut.
    struct StateCapture: Sendable {
        let agents: TrackerCapture
        let goals: [GoalRecord]
        let producers: [String: UInt64]
    }

    private func runSnapshots(capture: @Sendable () -> StateCapture, afterCut: @Sendable (LogCoordinate) -> Void) {
        while !stopping.load(ordering: .acquiring) {
            _ = wakeSnapshotter.wait(timeout: .now() + .milliseconds(Int(snapshotInterval * 1000)))
            guard !stopping.load(ordering: .acquiring), recordsSinceSnapshot.load(ordering: .relaxed) > 0 else {
                continue
            }
            takeSnapshot(capture: capture, afterCut: afterCut)
        }
    }

    /// Cuts and writes one snapshot now.
    func takeSnapshot(capture: () -> StateCapture, afterCut: (LogCoordinate) -> Void = { _ in }) {
        let started = Clock.monotonicSeconds()

        // The cut: everything of the ended generation applied, nothing of the next one.
        let ended = wal.rotate()
        barrier.store(ended, ordering: .releasing)
        wal.waitUntilFinished(generation: ended)
        let state = capture()
        recordsSinceSnapshot.store(0, ordering: .relaxed)
        barrier.store(.max, ordering: .releasing)
        notifyListeners()
        let cutSeconds = Clock.monotonicSeconds() - started
        afterCut(LogCoordinate(generation: ended + 1, record: 0))

        do {
            let written = try SnapshotFile.write(
                directory: directory, generation: ended + 1,
                createdAt: Timestamp(nanosecondsSinceEpoch: Clock.realTimeNanoseconds()), agents: state.agents,
                goals: state.goals, producers: state.producers)
            Recovery.removeObsolete(directory: directory, before: ended + 1, logger: logger)
            let seconds = Clock.monotonicSeconds() - started
            snapshotsWritten.add(1, ordering: .relaxed)
            lastSnapshotSeconds.store(UInt64(seconds * 1e9), ordering: .relaxed)
            logger.info(
                "snapshot written",
                [
                    "file": written.path, "bytes": written.bytes, "agents": state.agents.agentCount,
                    "cut_ms": Int(cutSeconds * 1000), "seconds": seconds,
                ])
        } catch {
            snapshotFailures.add(1, ordering: .relaxed)
            logger.error("snapshot failed; the write-ahead log keeps everything until the next one", ["err": error])
        }
    }
}
