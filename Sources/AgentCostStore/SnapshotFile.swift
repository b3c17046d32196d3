import AgentCostCore
import AgentCostLog
import AgentCostSystem

/// Snapshot files: `snapshot-<generation>.pb` in the data directory, the whole state at the moment the
/// write-ahead log moved on to `generation`. Written atomically: a temporary file is written and synced, renamed
/// into place, and the directory synced, so a crash leaves either the old snapshot or the new one.
public enum SnapshotFile {
    static let prefix = "snapshot-"
    static let suffix = ".pb"

    public static func fileName(generation: UInt64) -> String {
        prefix + String(generation).leftPadded(to: 20) + suffix
    }

    /// What a snapshot holds, besides the agents (which are streamed, to keep memory flat).
    public struct Contents: Sendable {
        public var generation: UInt64
        public var createdAt: Timestamp
        public var goals: [GoalRecord] = []
        public var producers: [String: UInt64] = [:]
        public var agentCount = 0
    }

    /// Writes a snapshot of `agents`, `goals` and `producers` that continues with log `generation`.
    ///
    /// - Returns: the file's path and size.
    public static func write(
        directory: String,
        generation: UInt64,
        createdAt: Timestamp,
        agents: TrackerCapture,
        goals: [GoalRecord],
        producers: [String: UInt64]
    ) throws(StoreError) -> (path: String, bytes: Int) {
        let path = directory + "/" + fileName(generation: generation)
        let temporary = path + ".tmp"
        do {
            let file = try DataFile.open(temporary, .create)
            var written = 0
            var buffer: [UInt8] = []
            buffer.reserveCapacity(1 << 20)
            func emit(_ entry: SnapshotEntry) throws(StoreError) {
                RecordFraming.append(try SnapshotCodec.encode(entry)[...], to: &buffer)
                if buffer.count >= 1 << 20 {
                    do { try file.write(buffer) } catch { throw StoreError(.io, "\(error)") }
                    written += buffer.count
                    buffer.removeAll(keepingCapacity: true)
                }
            }

            do {
                try emit(.header(generation: generation, createdAt: createdAt))
                try agents.forEachAgent { (record) throws(StoreError) in try emit(.agent(record)) }
                for goal in goals { try emit(.goal(goal)) }
                for (id, sequence) in producers.sorted(by: { $0.key < $1.key }) {
                    try emit(.producer(id: id, sequence: sequence))
                }
                try emit(
                    .end(
                        agents: UInt64(agents.agentCount), goals: UInt64(goals.count),
                        producers: UInt64(producers.count)))
                try file.write(buffer)
                written += buffer.count
                try file.sync()
            } catch {
                file.close()
                try? FileSystem.remove(temporary)
                throw error
            }
            file.close()
            try FileSystem.rename(temporary, to: path)
            try FileSystem.syncDirectory(directory)
            return (path, written)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.io, "cannot write snapshot \(path): \(error)")
        }
    }

    /// Reads the snapshot at `path`, handing each agent to `restore`.
    ///
    /// - Throws: `corruptSnapshot` naming the file when any record fails its checksum, does not decode, or the end
    ///   entry is missing or disagrees with what was read: the exporter must not start from a partial state.
    public static func read(
        _ path: String,
        restore: (AgentRecord) throws(StoreError) -> Void
    ) throws(StoreError) -> Contents {
        let bytes: [UInt8]
        do {
            let file = try DataFile.open(path, .read)
            defer { file.close() }
            bytes = try file.readAll()
        } catch {
            throw StoreError(.io, "cannot read snapshot \(path): \(error)")
        }

        let framed = RecordFraming.read(bytes)
        if let problem = framed.problem {
            throw corrupt(path, "it holds \(problem)")
        }
        guard let first = framed.records.first,
            case .header(let generation, let createdAt)? = SnapshotCodec.decode(first)
        else {
            throw corrupt(path, "it does not start with a snapshot header")
        }

        var contents = Contents(generation: generation, createdAt: createdAt)
        var ended = false
        for (index, record) in framed.records.enumerated().dropFirst() {
            guard !ended, let entry = SnapshotCodec.decode(record) else {
                throw corrupt(path, "record \(index) is not a valid snapshot entry")
            }
            switch entry {
            case .agent(let agent):
                try restore(agent)
                contents.agentCount += 1
            case .goal(let goal):
                contents.goals.append(goal)
            case .producer(let id, let sequence):
                contents.producers[id] = sequence
            case .end(let agents, let goals, let producers):
                guard agents == contents.agentCount, goals == contents.goals.count,
                    producers == contents.producers.count
                else {
                    throw corrupt(
                        path, "its end record counts \(agents) agents, \(goals) goals and \(producers) producers")
                }
                ended = true
            case .header:
                throw corrupt(path, "record \(index) is a second header")
            }
        }
        guard ended else { throw corrupt(path, "it has no end record: it was cut short") }
        return contents
    }

    private static func corrupt(_ path: String, _ detail: String) -> StoreError {
        StoreError(
            .corruptSnapshot,
            "snapshot \(path) is corrupt: \(detail). The exporter will not start from a partial state. Restore the "
                + "whole data directory from a backup; or, to start empty knowingly (every agent, budget, pause, goal "
                + "and producer sequence is lost), move the whole data directory away. Do not remove the snapshot "
                + "alone: the logs before it were deleted when it was written, so starting from the remaining logs "
                + "would silently lose state and let retried batches count twice")
    }
}
