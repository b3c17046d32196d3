import AgentCostCore
import AgentCostLog
import AgentCostSystem
import Dispatch
import Synchronization

/// The write-ahead log: every accepted batch is appended here before it is applied and acknowledged.
///
/// Appending only copies the record into memory and returns its position; a flusher thread writes what has
/// gathered and syncs it with one `fdatasync` for the whole group (group commit), then reports the positions
/// durable. Ingest applies and acknowledges a batch only once its position is durable, so an ack always means
/// "on disk". When a write or sync fails (a full disk, a read-only directory), the group is cut off the file again,
/// its positions are reported failed (their batches are answered RETRY_LATER and never applied), and new appends
/// are refused until a probe a second later succeeds. docs/storage.md describes the files.
public final class WriteAheadLog: Sendable {
    /// When a group is made durable.
    public enum SyncPolicy: String, Sendable, CaseIterable {
        /// Write and fdatasync each group before acknowledging it: an ack survives a machine crash. The default.
        case group
        /// Write each group but do not sync: an ack survives the exporter crashing, not the machine.
        case off
    }

    /// Where a position stands.
    public enum Status: Sendable, Equatable {
        case pending
        case durable
        case failed
    }

    public let directory: String
    public let syncPolicy: SyncPolicy
    private let logger: Logger
    private let state: Mutex<State>
    private let wakeFlusher = DispatchSemaphore(value: 0)
    private let flusher = Mutex<OSThread?>(nil)
    private let onResolved: @Sendable () -> Void

    private struct State: Sendable {
        var generation: UInt64
        var nextPosition: UInt64 = 1
        var pending: [Chunk] = []
        /// Positions up to here have been written (durable) or failed.
        var resolvedThrough: UInt64 = 0
        var failedRanges: [ClosedRange<UInt64>] = []
        /// Why appends are refused, while they are.
        var failure: String?
        var failedAt = 0.0
        /// Appended records per generation not yet applied or answered; a snapshot waits for its generation's to end.
        var outstanding: [UInt64: Int] = [:]
        var stopping = false
        var durableBytes = 0
        var failures: UInt64 = 0
        var recordsWritten: UInt64 = 0
        var groupsWritten: UInt64 = 0
    }

    /// The log's counters, for `/metrics`.
    public struct Statistics: Sendable {
        public let recordsWritten: UInt64
        public let groupsWritten: UInt64
        public let failures: UInt64
        public let writable: Bool
    }

    public var statistics: Statistics {
        state.withLock {
            Statistics(
                recordsWritten: $0.recordsWritten, groupsWritten: $0.groupsWritten, failures: $0.failures,
                writable: $0.failure == nil)
        }
    }

    private struct Chunk: Sendable {
        let generation: UInt64
        var bytes: [UInt8]
        var first: UInt64
        var last: UInt64
    }

    /// Opens the log for appending at the end of `generation`'s file (created when missing).
    ///
    /// - Parameter onResolved: called on the flusher thread after each group is durable or failed.
    public init(
        directory: String,
        generation: UInt64,
        syncPolicy: SyncPolicy,
        logger: Logger,
        onResolved: @escaping @Sendable () -> Void
    ) {
        self.directory = directory
        self.syncPolicy = syncPolicy
        self.logger = logger
        self.onResolved = onResolved
        self.state = Mutex(State(generation: generation))
    }

    /// The file name of a generation's log: `wal-<generation, 20 digits>.log`.
    public static func fileName(generation: UInt64) -> String {
        "wal-" + String(generation).leftPadded(to: 20) + ".log"
    }

    func path(generation: UInt64) -> String {
        directory + "/" + Self.fileName(generation: generation)
    }

    // MARK: Appending

    /// A record's place in the log: its position and the generation (file) it belongs to.
    public struct Position: Sendable, Equatable {
        public let position: UInt64
        public let generation: UInt64
    }

    /// Appends a batch (its protobuf bytes) received at `receivedAt`; nil while the log cannot be written, with
    /// the reason in `failure`.
    public func append(batch: ArraySlice<UInt8>, receivedAt: Timestamp) -> Position? {
        var payload: [UInt8] = []
        payload.reserveCapacity(9 + batch.count)
        payload.append(LogRecord.batchKind)
        let time = UInt64(bitPattern: receivedAt.nanosecondsSinceEpoch)
        for shift in stride(from: 56, through: 0, by: -8) {
            payload.append(UInt8((time >> UInt64(shift)) & 0xff))
        }
        payload += batch

        let position: Position? = state.withLock { state in
            guard state.failure == nil, !state.stopping else { return nil }
            let position = state.nextPosition
            state.nextPosition += 1
            state.outstanding[state.generation, default: 0] += 1
            if let last = state.pending.last, last.generation == state.generation {
                RecordFraming.append(payload[...], to: &state.pending[state.pending.count - 1].bytes)
                state.pending[state.pending.count - 1].last = position
            } else {
                var bytes: [UInt8] = []
                RecordFraming.append(payload[...], to: &bytes)
                state.pending.append(Chunk(generation: state.generation, bytes: bytes, first: position, last: position))
            }
            return Position(position: position, generation: state.generation)
        }
        if position != nil {
            wakeFlusher.signal()
        }
        return position
    }

    /// Why appends are refused right now, or nil.
    public var failure: String? {
        state.withLock { $0.failure }
    }

    public func status(of position: Position) -> Status {
        state.withLock { state in
            guard position.position <= state.resolvedThrough else { return .pending }
            return state.failedRanges.contains { $0.contains(position.position) } ? .failed : .durable
        }
    }

    /// Marks a record as applied or answered, so that a snapshot waiting for its generation can go on.
    public func finished(_ position: Position) {
        state.withLock { $0.outstanding[position.generation, default: 1] -= 1 }
    }

    /// Blocks until `position` is durable or failed (for the operator API, whose callers wait anyway).
    public func waitUntilResolved(_ position: Position) -> Status {
        while true {
            let status = status(of: position)
            if status != .pending { return status }
            Clock.sleep(for: .microseconds(200))
        }
    }

    // MARK: Generations

    /// Sets the generation to append to, as recovery found it; call before `start()`.
    public func begin(generation: UInt64) {
        state.withLock { $0.generation = generation }
    }

    /// Starts a new generation: records appended from now on go to a new file. Returns the generation that ended.
    public func rotate() -> UInt64 {
        state.withLock { state in
            state.generation += 1
            return state.generation - 1
        }
    }

    /// Waits until every record of `generation` has been applied or answered.
    public func waitUntilFinished(generation: UInt64) {
        while state.withLock({ ($0.outstanding[generation] ?? 0) > 0 }) {
            Clock.sleep(for: .microseconds(500))
        }
        state.withLock { _ = $0.outstanding.removeValue(forKey: generation) }
    }

    // MARK: Flushing

    /// Starts the flusher thread.
    public func start() throws(SystemError) {
        try FileSystem.createDirectories(directory)
        let thread = try OSThread { [self] in runFlusher() }
        flusher.withLock { $0 = thread }
    }

    /// Writes what is pending, then stops the flusher.
    public func stop() {
        state.withLock { $0.stopping = true }
        wakeFlusher.signal()
        flusher.withLock { thread in
            thread?.join()
            thread = nil
        }
    }

    private func runFlusher() {
        var file: DataFile?
        var fileGeneration: UInt64 = .max
        defer { file?.close() }

        while true {
            _ = wakeFlusher.wait(timeout: .now() + .milliseconds(500))
            let (chunks, stopping) = state.withLock { state in
                defer { state.pending.removeAll() }
                return (state.pending, state.stopping)
            }
            if chunks.isEmpty {
                if stopping { return }
                clearFailureAfterProbeDelay()
                continue
            }

            let first = chunks[0].first
            let last = chunks[chunks.count - 1].last
            do {
                for chunk in chunks {
                    if chunk.generation != fileGeneration {
                        try file?.sync()
                        file?.close()
                        file = try openForAppend(generation: chunk.generation)
                        fileGeneration = chunk.generation
                    }
                    try file?.write(chunk.bytes)
                }
                if syncPolicy == .group {
                    try file?.sync()
                }
                let size = (try? file?.size()) ?? 0
                state.withLock { state in
                    state.resolvedThrough = last
                    state.durableBytes = size
                    state.recordsWritten += last - first + 1
                    state.groupsWritten += 1
                }
            } catch {
                // Nothing of this group may count: cut it off the file again and refuse appends for a while.
                let durableBytes = state.withLock { $0.durableBytes }
                try? file?.truncate(to: durableBytes)
                file?.close()
                file = nil
                fileGeneration = .max
                let reason = "cannot write the write-ahead log: \(error)"
                logger.error(
                    "write-ahead log failed; answering RETRY_LATER until it can be written again",
                    ["err": error, "records": last - first + 1])
                state.withLock { state in
                    // Records queued behind the failed group fail with it: a later batch of a producer must never
                    // be on disk when an earlier one was refused, or replaying it would make the refused one a
                    // duplicate when it is sent again.
                    let queuedLast = state.pending.last?.last ?? last
                    state.pending.removeAll()
                    state.resolvedThrough = queuedLast
                    state.failedRanges.append(first...queuedLast)
                    if state.failedRanges.count > 1024 { state.failedRanges.removeFirst(512) }
                    state.failure = reason
                    state.failedAt = Clock.monotonicSeconds()
                    state.failures += 1
                }
            }
            onResolved()
        }
    }

    private func openForAppend(generation: UInt64) throws(SystemError) -> DataFile {
        let path = path(generation: generation)
        let existed = FileSystem.exists(path)
        let file = try DataFile.open(path, .append)
        if !existed {
            try FileSystem.syncDirectory(directory)
        }
        let size = try file.size()
        state.withLock { $0.durableBytes = size }
        return file
    }

    /// After a failure, lets appends try again once a second has passed; the next group's write is the probe.
    private func clearFailureAfterProbeDelay() {
        let cleared = state.withLock { state -> Bool in
            guard state.failure != nil, Clock.monotonicSeconds() - state.failedAt >= 1 else { return false }
            state.failure = nil
            return true
        }
        if cleared {
            logger.info("retrying the write-ahead log")
        }
    }
}

/// A record of the write-ahead log: a batch as received, and when.
public struct LogRecord: Sendable {
    static let batchKind: UInt8 = 1

    public let receivedAt: Timestamp
    /// The agentcost.v1.Batch protobuf bytes.
    public let batch: ArraySlice<UInt8>

    init?(_ payload: ArraySlice<UInt8>) {
        guard payload.count >= 9, payload.first == Self.batchKind else { return nil }
        var time: UInt64 = 0
        for byte in payload.dropFirst().prefix(8) {
            time = time << 8 | UInt64(byte)
        }
        receivedAt = Timestamp(nanosecondsSinceEpoch: Int64(bitPattern: time))
        batch = payload.dropFirst(9)
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
