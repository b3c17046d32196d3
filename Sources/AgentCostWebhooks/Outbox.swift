// The durable outbox: an append-only log of queued deliveries and of their outcomes, so that an event queued
// survives a crash or a restart until it is delivered or abandoned.
//
// File: `<data.dir>/webhooks/outbox.log`, a sequence of records
//
//     [UInt32 LE payload length][UInt32 LE CRC-32 of the payload][payload]
//
// Payload: a kind byte, then the entry's UInt64 LE sequence number; an entry (kind 1) continues with its Int64 LE
// creation time (ns since the epoch) and five length-prefixed ([UInt32 LE count][bytes]) strings: target, event id,
// event type, path, body. Kinds 2 and 3 mark the entry with that sequence delivered or abandoned. Kind 4, the mark,
// holds the store id (in the sequence's place) and a write-ahead log coordinate (UInt64 LE generation and record):
// every log record before it had its events taken into the outbox. The last mark in the file counts.

import AgentCostLog
import AgentCostStore
import AgentCostWire
import Synchronization

/// One queued delivery: an event rendered for one target.
struct OutboxEntry: Sendable, Equatable {
    /// Order of queuing, across all targets; per target, deliveries go out in this order.
    var sequence: UInt64
    /// When it was queued (wall clock, ns since the epoch); its age decides abandonment.
    var createdAtNanoseconds: Int64
    var target: String
    /// Stable across retries and restarts: the `Idempotency-Key` header and the generic payload's `id`.
    var eventID: String
    var eventType: String
    /// Added to the target's URL (an orchestrator's pause path); empty for the other kinds.
    var path: String
    var body: [UInt8]
}

/// The outbox file and the entries in it that are still live (neither delivered nor abandoned).
final class Outbox: Sendable {
    private enum Kind: UInt8 {
        case entry = 1
        case delivered = 2
        case abandoned = 3
        case mark = 4
    }

    private struct State {
        var file: OutboxFile
        /// Encoded records of live entries, by sequence, for compaction.
        var live: [UInt64: [UInt8]] = [:]
        var liveBytes = 0
        var fileBytes: Int
        var nextSequence: UInt64
        /// Random, made with the outbox: the first half of event ids derived from log coordinates, so that ids of
        /// a data directory started afresh never repeat those of the old one.
        var storeID: UInt64
        /// Every write-ahead log record before this had its events taken into the outbox.
        var mark: LogCoordinate
        /// Target and event id of every entry the file held at start (live or finished), until replay ends.
        var known: Set<String>
    }

    /// What opening found.
    struct Opened {
        let outbox: Outbox
        /// Live entries, in queuing order.
        let pending: [OutboxEntry]
        /// Events of replayed log records from here on may be missing from the outbox; nil when the outbox was
        /// just created (webhooks were not configured before, so replayed events were never meant for them).
        let replayFrom: LogCoordinate?
    }

    let path: String
    private let compactionBytes: Int
    private let logger: Logger
    private let state: Mutex<State>

    /// Records larger than this are taken for corruption when loading.
    static let maxRecordBytes = 64 << 20

    /// Opens the outbox under `directory` and returns the live entries in order. A damaged record in the middle
    /// is skipped (reading resumes at the next intact record); a torn or corrupt tail is cut off. Both are logged.
    ///
    /// - Throws: `WebhookError` with code `outboxIO` when the directory or file cannot be created, read or written.
    static func open(directory: String, compactionBytes: Int, logger: Logger) throws(WebhookError) -> Opened {
        try OutboxFile.makeDirectories(directory)
        let path = directory + "/outbox.log"

        // Read what is there, skipping damaged records.
        let existing = try OutboxFile.read(path)
        let bytes = existing ?? []
        var entries: [UInt64: (entry: OutboxEntry, record: [UInt8])] = [:]
        var known: Set<String> = []
        var mark: (storeID: UInt64, coordinate: LogCoordinate)?
        var offset = 0
        var highest: UInt64 = 0
        var records = 0
        while offset < bytes.count {
            guard let (payload, next) = frame(in: bytes, at: offset), let record = decode(payload) else {
                guard let resume = nextIntactRecord(in: bytes, after: offset) else {
                    logger.warn(
                        "outbox tail is torn or corrupt; cutting it off",
                        [
                            "path": path, "offset": offset, "dropped_bytes": bytes.count - offset,
                            "records_kept": records,
                        ])
                    break
                }
                logger.error(
                    "outbox record damaged; skipped to the next intact record (an event in the skipped bytes is lost)",
                    ["path": path, "offset": offset, "skipped_bytes": resume - offset, "resumed_at": resume])
                offset = resume
                continue
            }
            switch record {
            case .entry(let entry):
                entries[entry.sequence] = (entry, Array(bytes[offset..<next]))
                known.insert(knownKey(entry.target, entry.eventID))
                highest = max(highest, entry.sequence)
            case .finished(let sequence):
                entries[sequence] = nil
                highest = max(highest, sequence)
            case .mark(let storeID, let coordinate):
                mark = (storeID, coordinate)
            }
            records += 1
            offset = next
        }

        // Rewrite the file with the mark and the live entries when anything else is in it (damage, markers).
        var generator = SystemRandomNumberGenerator()
        let storeID = mark?.storeID ?? generator.next()
        let coordinate = mark?.coordinate ?? LogCoordinate(generation: 0, record: 0)
        let pending = entries.values.sorted { $0.entry.sequence < $1.entry.sequence }
        let liveRecords = pending.map(\.record)
        let liveBytes = liveRecords.reduce(0) { $0 + $1.count }
        let contents = encodeMark(storeID: storeID, coordinate) + Array(liveRecords.joined())
        if contents != bytes {
            try OutboxFile.replace(path, with: contents)
        }
        let file = try OutboxFile(appendingTo: path)
        var state = State(
            file: file, fileBytes: contents.count, nextSequence: highest + 1, storeID: storeID, mark: coordinate,
            known: known)
        for item in pending {
            state.live[item.entry.sequence] = item.record
        }
        state.liveBytes = liveBytes
        let outbox = Outbox(path: path, compactionBytes: compactionBytes, logger: logger, state: Mutex(state))
        return Opened(outbox: outbox, pending: pending.map(\.entry), replayFrom: existing == nil ? nil : coordinate)
    }

    /// Where the next intact record after the damaged one at `offset` starts, if any.
    private static func nextIntactRecord(in bytes: [UInt8], after offset: Int) -> Int? {
        var candidate = offset + 1
        while candidate + 8 < bytes.count {
            if let (payload, _) = frame(in: bytes, at: candidate), decode(payload) != nil {
                return candidate
            }
            candidate += 1
        }
        return nil
    }

    private static func knownKey(_ target: String, _ eventID: String) -> String {
        target + "\u{0}" + eventID
    }

    private init(path: String, compactionBytes: Int, logger: Logger, state: consuming Mutex<State>) {
        self.path = path
        self.compactionBytes = compactionBytes
        self.logger = logger
        self.state = state
    }

    /// Appends entries (their sequence numbers are assigned here) and syncs them to disk, then hands them to
    /// `queued` while still holding the outbox's lock, so that concurrent appends reach the delivery queues in
    /// sequence order. A write or sync failure is logged, and the entries are handed over anyway (not durable).
    ///
    /// - Parameter mark: every write-ahead log record before this has had its events taken (written first, in
    ///   the same sync, when it moves the outbox's mark on).
    /// - Returns: whether the entries are durable.
    @discardableResult
    func append(_ drafts: [OutboxEntry], mark: LogCoordinate? = nil, queued: ([OutboxEntry]) -> Void) -> Bool {
        state.withLock { state in
            var entries = drafts
            var bytes: [UInt8] = []
            if let mark, mark > state.mark {
                state.mark = mark
                bytes = Self.encodeMark(storeID: state.storeID, mark)
            }
            for index in entries.indices {
                entries[index].sequence = state.nextSequence
                state.nextSequence += 1
                let record = Self.encode(entries[index])
                state.live[entries[index].sequence] = record
                state.liveBytes += record.count
                bytes += record
            }
            do throws(WebhookError) {
                try state.file.append(bytes)
                try state.file.sync()
                state.fileBytes += bytes.count
                queued(entries)
                return true
            } catch {
                logger.error(
                    "cannot write webhook events to the outbox; they will be delivered but not survive a restart",
                    ["path": path, "error": error.message])
                queued(entries)
                return false
            }
        }
    }

    /// Records that an entry is finished (delivered or abandoned). Not synced: a marker lost in a crash only means
    /// the entry is delivered again, which at-least-once allows. Compacts the file when it has grown mostly dead.
    func finish(_ sequence: UInt64, delivered: Bool) {
        state.withLock { state in
            guard let record = state.live.removeValue(forKey: sequence) else { return }
            state.liveBytes -= record.count
            let marker = Self.encodeMarker(sequence, kind: delivered ? .delivered : .abandoned)
            do throws(WebhookError) {
                try state.file.append(marker)
                state.fileBytes += marker.count
            } catch {
                logger.warn(
                    "cannot mark a webhook event finished in the outbox; it may be sent again after a restart",
                    ["path": path, "error": error.message])
            }
            if state.fileBytes > compactionBytes, state.fileBytes > 2 * state.liveBytes {
                compact(&state)
            }
        }
    }

    /// Moves the mark on to `coordinate` (not synced: a lost mark only means more events are queued again after a
    /// crash, with the same ids). A coordinate behind the mark means the write-ahead log was started afresh or
    /// restored: its coordinates will repeat, so event ids get a new store id.
    func recordMark(_ coordinate: LogCoordinate) {
        state.withLock { state in
            guard coordinate != state.mark else { return }
            if coordinate < state.mark {
                var generator = SystemRandomNumberGenerator()
                state.storeID = generator.next()
                logger.info(
                    "the write-ahead log is behind the outbox's mark (a new or restored data directory); "
                        + "event ids get a new store id",
                    ["path": path, "mark": state.mark, "log": coordinate])
            }
            state.mark = coordinate
            let record = Self.encodeMark(storeID: state.storeID, coordinate)
            do throws(WebhookError) {
                try state.file.append(record)
                state.fileBytes += record.count
            } catch {
                logger.warn(
                    "cannot write the outbox's mark; more events may be queued again after a crash",
                    ["path": path, "error": error.message])
            }
        }
    }

    /// The event id for the `event`th event set off by applying the log record at `coordinate`: the same each time
    /// the record is applied, live or replayed. `evt_`, the store id and a hash of the three numbers, in hex.
    func eventID(for coordinate: LogCoordinate, event: UInt64) -> String {
        let storeID = state.withLock { $0.storeID }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for value in [coordinate.generation, coordinate.record, event] {
            for shift in stride(from: 0, to: 64, by: 8) {
                hash = (hash ^ ((value >> UInt64(shift)) & 0xff)) &* 0x100_0000_01b3
            }
        }
        // A final mix (SplitMix64's), so that neighbouring records get unrelated ids.
        hash = (hash ^ (hash >> 30)) &* 0xbf58_476d_1ce4_e5b9
        hash = (hash ^ (hash >> 27)) &* 0x94d0_49bb_1331_11eb
        hash ^= hash >> 31
        return "evt_" + hexadecimal(storeID) + hexadecimal(hash)
    }

    /// Whether the file held an entry with this target and event id at start (queued or already finished).
    func knew(target: String, eventID: String) -> Bool {
        state.withLock { $0.known.contains(Self.knownKey(target, eventID)) }
    }

    /// Frees the start-up list of known events once replay is over.
    func forgetKnownEvents() {
        state.withLock { $0.known = [] }
    }

    /// Live entries in the file (queued, not finished).
    var liveCount: Int {
        state.withLock { $0.live.count }
    }

    /// Size of the file in bytes as written by this process.
    var fileBytes: Int {
        state.withLock { $0.fileBytes }
    }

    /// Rewrites the file with only the mark and the live entries, in sequence order.
    private func compact(_ state: inout State) {
        let records = state.live.sorted { $0.key < $1.key }.map(\.value)
        let contents = Self.encodeMark(storeID: state.storeID, state.mark) + Array(records.joined())
        do throws(WebhookError) {
            try OutboxFile.replace(path, with: contents)
            state.file.close()
            state.file = try OutboxFile(appendingTo: path)
            logger.debug("outbox compacted", ["path": path, "from_bytes": state.fileBytes, "to_bytes": contents.count])
            state.fileBytes = contents.count
        } catch {
            logger.warn("cannot compact the outbox; it keeps growing", ["path": path, "error": error.message])
        }
    }

    func close() {
        state.withLock { $0.file.close() }
    }

    // MARK: Encoding

    private enum Record {
        case entry(OutboxEntry)
        case finished(UInt64)
        case mark(storeID: UInt64, LogCoordinate)
    }

    static func encode(_ entry: OutboxEntry) -> [UInt8] {
        var payload: [UInt8] = [Kind.entry.rawValue]
        payload.reserveCapacity(64 + entry.body.count)
        appendInteger(entry.sequence, to: &payload)
        appendInteger(UInt64(bitPattern: entry.createdAtNanoseconds), to: &payload)
        for field in [Array(entry.target.utf8), Array(entry.eventID.utf8), Array(entry.eventType.utf8)] {
            appendField(field, to: &payload)
        }
        appendField(Array(entry.path.utf8), to: &payload)
        appendField(entry.body, to: &payload)
        return framed(payload)
    }

    private static func encodeMarker(_ sequence: UInt64, kind: Kind) -> [UInt8] {
        var payload: [UInt8] = [kind.rawValue]
        appendInteger(sequence, to: &payload)
        return framed(payload)
    }

    private static func encodeMark(storeID: UInt64, _ coordinate: LogCoordinate) -> [UInt8] {
        var payload: [UInt8] = [Kind.mark.rawValue]
        for value in [storeID, coordinate.generation, coordinate.record] {
            appendInteger(value, to: &payload)
        }
        return framed(payload)
    }

    private static func framed(_ payload: [UInt8]) -> [UInt8] {
        var record: [UInt8] = []
        record.reserveCapacity(8 + payload.count)
        appendInteger(UInt32(payload.count), to: &record)
        appendInteger(Zlib.crc32(payload), to: &record)
        return record + payload
    }

    /// The payload of the record at `offset` and where the next record starts; nil when torn or corrupt.
    private static func frame(in bytes: [UInt8], at offset: Int) -> (ArraySlice<UInt8>, Int)? {
        guard bytes.count - offset >= 8 else { return nil }
        let length = Int(readInteger(UInt32.self, bytes, offset))
        let checksum = readInteger(UInt32.self, bytes, offset + 4)
        guard length > 0, length <= maxRecordBytes, bytes.count - offset - 8 >= length else { return nil }
        let payload = bytes[(offset + 8)..<(offset + 8 + length)]
        guard Zlib.crc32(payload) == checksum else { return nil }
        return (payload, offset + 8 + length)
    }

    private static func decode(_ payload: ArraySlice<UInt8>) -> Record? {
        var reader = Reader(bytes: payload)
        guard let kindByte = reader.byte(), let kind = Kind(rawValue: kindByte), let sequence = reader.integer()
        else { return nil }
        switch kind {
        case .entry: break
        case .delivered, .abandoned: return .finished(sequence)
        case .mark:
            guard let generation = reader.integer(), let record = reader.integer(), reader.isAtEnd else { return nil }
            return .mark(storeID: sequence, LogCoordinate(generation: generation, record: record))
        }
        guard let created = reader.integer(), let target = reader.field(), let eventID = reader.field(),
            let eventType = reader.field(), let path = reader.field(), let body = reader.field(), reader.isAtEnd
        else { return nil }
        return .entry(
            OutboxEntry(
                sequence: sequence, createdAtNanoseconds: Int64(bitPattern: created),
                target: String(decoding: target, as: UTF8.self), eventID: String(decoding: eventID, as: UTF8.self),
                eventType: String(decoding: eventType, as: UTF8.self), path: String(decoding: path, as: UTF8.self),
                body: body))
    }

    private func hexadecimal(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    private static func appendInteger<Value: FixedWidthInteger>(_ value: Value, to bytes: inout [UInt8]) {
        for shift in stride(from: 0, to: Value.bitWidth, by: 8) {
            bytes.append(UInt8(truncatingIfNeeded: value >> shift))
        }
    }

    private static func appendField(_ field: [UInt8], to bytes: inout [UInt8]) {
        appendInteger(UInt32(field.count), to: &bytes)
        bytes += field
    }

    private static func readInteger<Value: FixedWidthInteger>(_: Value.Type, _ bytes: [UInt8], _ offset: Int) -> Value {
        var value: Value = 0
        for index in 0..<(Value.bitWidth / 8) {
            value |= Value(bytes[offset + index]) << (index * 8)
        }
        return value
    }

    /// Reads fields from a payload, returning nil past its end.
    private struct Reader {
        let bytes: ArraySlice<UInt8>
        var position: Int

        init(bytes: ArraySlice<UInt8>) {
            self.bytes = bytes
            position = bytes.startIndex
        }

        var isAtEnd: Bool { position == bytes.endIndex }

        mutating func byte() -> UInt8? {
            guard position < bytes.endIndex else { return nil }
            defer { position += 1 }
            return bytes[position]
        }

        mutating func integer() -> UInt64? {
            guard bytes.endIndex - position >= 8 else { return nil }
            var value: UInt64 = 0
            for index in 0..<8 {
                value |= UInt64(bytes[position + index]) << (index * 8)
            }
            position += 8
            return value
        }

        mutating func field() -> [UInt8]? {
            guard bytes.endIndex - position >= 4 else { return nil }
            var count = 0
            for index in 0..<4 {
                count |= Int(bytes[position + index]) << (index * 8)
            }
            position += 4
            guard bytes.endIndex - position >= count else { return nil }
            defer { position += count }
            return Array(bytes[position..<(position + count)])
        }
    }
}
