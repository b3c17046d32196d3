import AgentCostCore
import AgentCostLog
import AgentCostSystem

/// Rebuilds the state at start: the latest snapshot, then every write-ahead log record written after it.
public enum Recovery {
    /// What recovery found and did, for the start-up log line.
    public struct Outcome: Sendable {
        /// The log generation to keep appending to.
        public var generation: UInt64
        /// Batch records already in that generation's file: the index of the next one.
        public var recordsInGeneration: UInt64 = 0
        public var snapshot: String?
        public var agentsRestored = 0
        public var goalsRestored = 0
        public var producersRestored = 0
        public var recordsReplayed = 0
        public var logFiles = 0
        public var tailsCut = 0
    }

    /// Recovers `directory` (created when missing).
    ///
    /// - Parameters:
    ///   - restoreAgent: adds one agent from the snapshot.
    ///   - restoreRest: adds the snapshot's goals and producer sequences.
    ///   - replay: applies one log record, in log order (its `coordinate` says where it sits).
    /// - Throws: `corruptSnapshot` or `corruptLog` naming the file (the exporter must not start), `io`.
    public static func recover(
        directory: String,
        logger: Logger,
        restoreAgent: (AgentRecord) throws(StoreError) -> Void,
        restoreRest: ([GoalRecord], [String: UInt64]) -> Void,
        replay: (LogRecord) -> Void
    ) throws(StoreError) -> Outcome {
        let names: [String]
        do {
            try FileSystem.createDirectories(directory)
            names = try FileSystem.list(directory)
        } catch {
            throw StoreError(
                .io, "cannot use data directory \(directory): \(error); check --data.dir and its permissions")
        }

        // Leftovers of a snapshot interrupted by a crash are incomplete by definition.
        for name in names where name.hasSuffix(".tmp") {
            try? FileSystem.remove(directory + "/" + name)
            logger.info("removed an unfinished snapshot", ["file": name])
        }

        var outcome = Outcome(generation: 1)
        let snapshots = generations(in: names, prefix: SnapshotFile.prefix, suffix: SnapshotFile.suffix)
        var firstGeneration: UInt64 = 0
        if let latest = snapshots.last {
            let path = directory + "/" + SnapshotFile.fileName(generation: latest)
            let contents = try SnapshotFile.read(path, restore: restoreAgent)
            restoreRest(contents.goals, contents.producers)
            outcome.snapshot = path
            outcome.agentsRestored = contents.agentCount
            outcome.goalsRestored = contents.goals.count
            outcome.producersRestored = contents.producers.count
            firstGeneration = contents.generation
            outcome.generation = max(outcome.generation, contents.generation)
        }

        let logs = generations(in: names, prefix: "wal-", suffix: ".log").filter { $0 >= firstGeneration }
        for (index, generation) in logs.enumerated() {
            let path = directory + "/" + WriteAheadLog.fileName(generation: generation)
            let isLast = index == logs.count - 1
            let records = try readLog(
                path, generation: generation, repairTail: isLast, logger: logger, outcome: &outcome)
            for record in records {
                replay(record)
            }
            outcome.recordsReplayed += records.count
            outcome.logFiles += 1
            if generation >= outcome.generation {
                outcome.generation = generation
                outcome.recordsInGeneration = UInt64(records.count)
            }
        }
        return outcome
    }

    /// Removes log files and snapshots made obsolete by the snapshot of `generation`.
    public static func removeObsolete(directory: String, before generation: UInt64, logger: Logger) {
        guard let names = try? FileSystem.list(directory) else { return }
        for old in generations(in: names, prefix: "wal-", suffix: ".log") where old < generation {
            try? FileSystem.remove(directory + "/" + WriteAheadLog.fileName(generation: old))
        }
        for old in generations(in: names, prefix: SnapshotFile.prefix, suffix: SnapshotFile.suffix)
        where old < generation {
            try? FileSystem.remove(directory + "/" + SnapshotFile.fileName(generation: old))
        }
        try? FileSystem.syncDirectory(directory)
    }

    private static func readLog(
        _ path: String, generation: UInt64, repairTail: Bool, logger: Logger, outcome: inout Outcome
    ) throws(StoreError) -> [LogRecord] {
        let bytes: [UInt8]
        do {
            let file = try DataFile.open(path, .read)
            defer { file.close() }
            bytes = try file.readAll()
        } catch {
            throw StoreError(.io, "cannot read write-ahead log \(path): \(error)")
        }

        let framed = RecordFraming.read(bytes)
        if let problem = framed.problem {
            guard repairTail else {
                throw StoreError(
                    .corruptLog,
                    "write-ahead log \(path) is damaged before its end (\(problem)), and later logs depend on it; "
                        + "restore it from a backup")
            }
            // A crash in the middle of a write leaves a torn last record: it was never acknowledged, so it goes.
            do {
                let file = try DataFile.open(path, .append)
                defer { file.close() }
                try file.truncate(to: framed.validLength)
                try file.sync()
            } catch {
                throw StoreError(.io, "cannot cut the damaged tail of \(path): \(error)")
            }
            logger.warn(
                "cut a damaged tail off the write-ahead log",
                [
                    "file": path, "problem": problem, "kept_bytes": framed.validLength,
                    "cut_bytes": bytes.count - framed.validLength,
                ])
            outcome.tailsCut += 1
        }

        var records: [LogRecord] = []
        records.reserveCapacity(framed.records.count)
        for (index, payload) in framed.records.enumerated() where !LogRecord.isProbe(payload) {
            let coordinate = LogCoordinate(generation: generation, record: UInt64(records.count))
            guard let record = LogRecord(payload, coordinate: coordinate) else {
                throw StoreError(.corruptLog, "record \(index) of write-ahead log \(path) is not a batch record")
            }
            records.append(record)
        }
        return records
    }

    private static func generations(in names: [String], prefix: String, suffix: String) -> [UInt64] {
        names.compactMap { name -> UInt64? in
            guard name.hasPrefix(prefix), name.hasSuffix(suffix) else { return nil }
            return UInt64(name.dropFirst(prefix.count).dropLast(suffix.count))
        }.sorted()
    }
}
