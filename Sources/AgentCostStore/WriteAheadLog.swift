import AgentCostCore
import AgentCostLog
import AgentCostSystem
import Dispatch
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The write-ahead log: every accepted batch is appended here before it is applied and acknowledged.
///
/// Appending only copies the record into memory and returns its position; a flusher thread writes what has
/// gathered and syncs it with one `fdatasync` for the whole group (group commit), then reports the positions
/// durable. Ingest applies and acknowledges a batch only once its position is durable, so an ack always means
/// "on disk". When a write or sync fails (a full disk, a read-only directory), its positions are reported failed
/// (their batches are answered RETRY_LATER and never applied) and new appends are refused. They stay refused until
/// the group has been cut off the file again and a probe record has been written and synced; the flusher tries
/// that every second. docs/storage.md describes the files.
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

    /// Why a write or sync failed, as the `reason` label of `agentcost_storage_wal_failures_total`.
    public enum FailureReason: String, Sendable, CaseIterable {
        /// The file system (or the quota: EDQUOT) is full.
        case enospc
        /// The file system is mounted read-only.
        case erofs
        /// Permission denied: the data directory's owner or mode.
        case eacces
        /// Operation not permitted: an immutable or append-only file or directory (chattr).
        case eperm
        /// The device reported an I/O error.
        case eio
        case other

        public init(_ error: SystemError) {
            switch error.errno {
            case ENOSPC, EDQUOT: self = .enospc
            case EROFS: self = .erofs
            case EACCES: self = .eacces
            case EPERM: self = .eperm
            case EIO: self = .eio
            default: self = .other
            }
        }
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
        /// Batch records of `generation` appended and not failed: the index of the next one.
        var recordsInGeneration: UInt64 = 0
        /// Durable batch records of the latest generations, to take back the indexes of a failed group.
        var durableRecords: [UInt64: UInt64] = [:]
        var nextPosition: UInt64 = 1
        var pending: [Chunk] = []
        /// Positions up to here have been written (durable) or failed.
        var resolvedThrough: UInt64 = 0
        var failedRanges: [ClosedRange<UInt64>] = []
        /// Why appends are refused, while they are.
        var failure: String?
        var failureReason: FailureReason?
        var failedAt = 0.0
        /// Appended records per generation not yet applied or answered; a snapshot waits for its generation's to end.
        var outstanding: [UInt64: Int] = [:]
        var stopping = false
        var failures: [FailureReason: UInt64] = [:]
        var recordsWritten: UInt64 = 0
        var groupsWritten: UInt64 = 0
        /// Positions up to here are finished (applied or answered); `finishedAhead` holds those finished past it.
        var finishedThrough: UInt64 = 0
        var finishedAhead: [UInt64: Finished] = [:]
        /// Every durable record before this coordinate has been applied.
        var appliedBefore = LogCoordinate(generation: 0, record: 0)
    }

    private struct Finished: Sendable {
        let coordinate: LogCoordinate
        let applied: Bool
    }

    /// The log's counters, for `/metrics`.
    public struct Statistics: Sendable {
        public let recordsWritten: UInt64
        public let groupsWritten: UInt64
        /// Failed writes, syncs and probes, by reason (every reason present, zero included).
        public let failuresByReason: [(reason: FailureReason, count: UInt64)]
        public let writable: Bool
        /// Why the log cannot be written, while it cannot.
        public let failureReason: FailureReason?

        public var failures: UInt64 { failuresByReason.reduce(0) { $0 + $1.count } }
    }

    public var statistics: Statistics {
        state.withLock { state in
            Statistics(
                recordsWritten: state.recordsWritten, groupsWritten: state.groupsWritten,
                failuresByReason: FailureReason.allCases.map { ($0, state.failures[$0] ?? 0) },
                writable: state.failure == nil, failureReason: state.failureReason)
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

    /// A record's place in the log: its position in this process's order of appends, the generation (file) it
    /// belongs to, and its index among that file's batch records (what recovery will see).
    public struct Position: Sendable, Equatable {
        public let position: UInt64
        public let generation: UInt64
        public let record: UInt64

        public var coordinate: LogCoordinate { LogCoordinate(generation: generation, record: record) }
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
            let record = state.recordsInGeneration
            state.recordsInGeneration += 1
            state.outstanding[state.generation, default: 0] += 1
            if let last = state.pending.last, last.generation == state.generation {
                RecordFraming.append(payload[...], to: &state.pending[state.pending.count - 1].bytes)
                state.pending[state.pending.count - 1].last = position
            } else {
                var bytes: [UInt8] = []
                RecordFraming.append(payload[...], to: &bytes)
                state.pending.append(Chunk(generation: state.generation, bytes: bytes, first: position, last: position))
            }
            return Position(position: position, generation: state.generation, record: record)
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

    /// Marks a record as applied (`applied`) or answered without being applied (its write failed), so that a
    /// snapshot waiting for its generation can go on and `appliedBefore` can move.
    public func finished(_ position: Position, applied: Bool) {
        state.withLock { state in
            state.outstanding[position.generation, default: 1] -= 1
            let finished = Finished(coordinate: position.coordinate, applied: applied)
            guard position.position == state.finishedThrough + 1 else {
                state.finishedAhead[position.position] = finished
                return
            }
            // The next in line (the common case): move on through it and whatever finished ahead of it.
            var next: Finished? = finished
            while let record = next {
                state.finishedThrough += 1
                if record.applied {
                    state.appliedBefore = max(
                        state.appliedBefore,
                        LogCoordinate(generation: record.coordinate.generation, record: record.coordinate.record + 1))
                }
                next =
                    state.finishedAhead.isEmpty
                    ? nil : state.finishedAhead.removeValue(forKey: state.finishedThrough + 1)
            }
        }
    }

    /// Every durable record before this coordinate has been applied: records finish out of order (each ingest
    /// thread applies its own connections'), so this is the end of the unbroken run of finished ones. Whatever
    /// applying them set off (webhook events into the outbox) is done too.
    public var appliedBefore: LogCoordinate {
        state.withLock { $0.appliedBefore }
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

    /// Sets the generation to append to and how many batch records its file already holds, as recovery found
    /// them (and replayed them, so they count as applied); call before `start()`.
    public func begin(generation: UInt64, records: UInt64) {
        state.withLock { state in
            state.generation = generation
            state.recordsInGeneration = records
            state.durableRecords = [generation: records]
            state.appliedBefore = LogCoordinate(generation: generation, record: records)
        }
    }

    /// Starts a new generation: records appended from now on go to a new file. Returns the generation that ended.
    public func rotate() -> UInt64 {
        state.withLock { state in
            state.generation += 1
            state.recordsInGeneration = 0
            state.durableRecords = state.durableRecords.filter { $0.key + 1 >= state.generation }
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
        var fileLength = 0
        /// Files a failed group wrote to, with the length each must be cut back to before appends resume.
        var repairs: [UInt64: Int] = [:]
        /// The size of the latest failed group: a probe must fit that much before appends resume.
        var probeSize = 0
        defer { file?.close() }

        while true {
            _ = wakeFlusher.wait(timeout: .now() + .milliseconds(500))
            let (chunks, stopping) = state.withLock { state in
                defer { state.pending.removeAll() }
                return (state.pending, state.stopping)
            }
            if chunks.isEmpty {
                if stopping { return }
                probeAfterFailure(repairs: &repairs, size: probeSize)
                continue
            }

            let first = chunks[0].first
            let last = chunks[chunks.count - 1].last
            // Each file's length before this group: where a failure cuts it back to.
            var lengthsBefore: [UInt64: Int] = [:]
            do throws(SystemError) {
                for chunk in chunks {
                    if chunk.generation != fileGeneration {
                        try file?.sync()
                        file?.close()
                        file = nil
                        fileGeneration = .max
                        let opened = try openForAppend(generation: chunk.generation)
                        file = opened.file
                        fileGeneration = chunk.generation
                        fileLength = opened.size
                    }
                    if lengthsBefore[chunk.generation] == nil {
                        lengthsBefore[chunk.generation] = fileLength
                    }
                    try file?.write(chunk.bytes)
                    fileLength += chunk.bytes.count
                }
                if syncPolicy == .group {
                    try file?.sync()
                }
                state.withLock { state in
                    state.resolvedThrough = last
                    state.recordsWritten += last - first + 1
                    state.groupsWritten += 1
                    for chunk in chunks {
                        state.durableRecords[chunk.generation, default: 0] += chunk.last - chunk.first + 1
                    }
                }
            } catch {
                // Nothing of this group may count: cut it off its files again, and refuse appends until that has
                // worked and a probe has been written (the next group must not follow torn bytes).
                file?.close()
                file = nil
                fileGeneration = .max
                for (generation, length) in lengthsBefore {
                    repairs[generation] = min(repairs[generation] ?? length, length)
                }
                let repairFailure = cutBack(&repairs)
                probeSize = chunks.reduce(0) { $0 + $1.bytes.count }
                let reason = FailureReason(error)
                logger.error(
                    "write-ahead log failed; answering RETRY_LATER until it can be written again",
                    ["err": error, "reason": reason.rawValue, "records": last - first + 1])
                if let repairFailure {
                    logger.error(
                        "cannot cut the failed group off the write-ahead log; appends stay refused until it can be",
                        ["err": repairFailure])
                }
                state.withLock { state in
                    // Records queued behind the failed group fail with it: a later batch of a producer must never
                    // be on disk when an earlier one was refused, or replaying it would make the refused one a
                    // duplicate when it is sent again.
                    let queuedLast = state.pending.last?.last ?? last
                    state.pending.removeAll()
                    state.resolvedThrough = queuedLast
                    state.failedRanges.append(first...queuedLast)
                    if state.failedRanges.count > 1024 { state.failedRanges.removeFirst(512) }
                    // The failed records' indexes go to the next records, as they will be in the file.
                    state.recordsInGeneration = state.durableRecords[state.generation] ?? 0
                    state.failure = "cannot write the write-ahead log: \(error)"
                    state.failureReason = reason
                    state.failedAt = Clock.monotonicSeconds()
                    state.failures[reason, default: 0] += 1
                }
            }
            onResolved()
        }
    }

    private func openForAppend(generation: UInt64) throws(SystemError) -> (file: DataFile, size: Int) {
        let path = path(generation: generation)
        let existed = FileSystem.exists(path)
        let file = try DataFile.open(path, .append)
        do throws(SystemError) {
            if !existed {
                try FileSystem.syncDirectory(directory)
            }
            return (file, try file.size())
        } catch {
            file.close()
            throw error
        }
    }

    /// Cuts each file in `repairs` back to its length, removing those done; returns the first failure.
    private func cutBack(_ repairs: inout [UInt64: Int]) -> SystemError? {
        for (generation, length) in repairs.sorted(by: { $0.key < $1.key }) {
            let path = path(generation: generation)
            guard FileSystem.exists(path) else {
                repairs[generation] = nil
                continue
            }
            do throws(SystemError) {
                let file = try DataFile.open(path, .append)
                defer { file.close() }
                if try file.size() > length {
                    try file.truncate(to: length)
                    try file.sync()
                }
                repairs[generation] = nil
            } catch {
                return error
            }
        }
        return nil
    }

    /// After a failure, once a second has passed: cuts the failed group off its files if that is still to do, then
    /// writes a probe record as large as the failed group (capped at 4 MiB) to the current generation's file, syncs
    /// it, and cuts it off again. Appends are accepted again only when all of that worked (so a disk with room for
    /// a few bytes but not for the batches does not count as writable); otherwise the failure is counted again and
    /// its reason updated. A crash in the middle leaves at most a probe record, which recovery skips.
    private func probeAfterFailure(repairs: inout [UInt64: Int], size: Int) {
        let generation = state.withLock { state -> UInt64? in
            guard state.failure != nil, Clock.monotonicSeconds() - state.failedAt >= 1 else { return nil }
            return state.generation
        }
        guard let generation else { return }

        do throws(SystemError) {
            if let error = cutBack(&repairs) { throw error }
            let probe = try openForAppend(generation: generation)
            defer { probe.file.close() }
            var payload = LogRecord.probePayload(at: Clock.realTimeNanoseconds())
            payload += [UInt8](repeating: 0, count: max(0, min(size, 4 << 20) - payload.count - 8))
            var bytes: [UInt8] = []
            RecordFraming.append(payload[...], to: &bytes)
            // From here on a failure leaves bytes to cut off before the next record.
            repairs[generation] = probe.size
            try probe.file.write(bytes)
            try probe.file.sync()
            try probe.file.truncate(to: probe.size)
            try probe.file.sync()
            repairs[generation] = nil
        } catch {
            let reason = FailureReason(error)
            state.withLock { state in
                state.failure = "cannot write the write-ahead log: \(error)"
                state.failureReason = reason
                state.failedAt = Clock.monotonicSeconds()
                state.failures[reason, default: 0] += 1
            }
            logger.debug("the write-ahead log is still not writable", ["err": error, "reason": reason.rawValue])
            return
        }

        state.withLock { state in
            state.failure = nil
            state.failureReason = nil
        }
        logger.info("the write-ahead log can be written again; accepting batches", ["generation": generation])
    }
}

/// Where a batch record sits in the write-ahead log, the same in every run: its generation (file) and its index
/// among that file's batch records. Ordered as the log is.
public struct LogCoordinate: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let generation: UInt64
    public let record: UInt64

    public init(generation: UInt64, record: UInt64) {
        self.generation = generation
        self.record = record
    }

    public static func < (lhs: LogCoordinate, rhs: LogCoordinate) -> Bool {
        (lhs.generation, lhs.record) < (rhs.generation, rhs.record)
    }

    public var description: String { "\(generation):\(record)" }
}

/// A record of the write-ahead log: a batch as received, and when.
public struct LogRecord: Sendable {
    static let batchKind: UInt8 = 1
    /// A record written only to prove that the file can be written again after a failure; recovery skips it.
    static let probeKind: UInt8 = 2

    public let receivedAt: Timestamp
    /// The agentcost.v1.Batch protobuf bytes.
    public let batch: ArraySlice<UInt8>
    /// Where the record sits in the log.
    public let coordinate: LogCoordinate

    init?(_ payload: ArraySlice<UInt8>, coordinate: LogCoordinate) {
        self.coordinate = coordinate
        guard payload.count >= 9, payload.first == Self.batchKind else { return nil }
        var time: UInt64 = 0
        for byte in payload.dropFirst().prefix(8) {
            time = time << 8 | UInt64(byte)
        }
        receivedAt = Timestamp(nanosecondsSinceEpoch: Int64(bitPattern: time))
        batch = payload.dropFirst(9)
    }

    static func isProbe(_ payload: ArraySlice<UInt8>) -> Bool {
        payload.first == probeKind
    }

    static func probePayload(at nanoseconds: Int64) -> [UInt8] {
        var payload: [UInt8] = [probeKind]
        let time = UInt64(bitPattern: nanoseconds)
        for shift in stride(from: 56, through: 0, by: -8) {
            payload.append(UInt8((time >> UInt64(shift)) & 0xff))
        }
        return payload
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
