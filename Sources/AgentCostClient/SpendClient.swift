// The Swift client of the ingest protocol: buffers events, sends them in batches, and keeps every batch until it is
// acknowledged, reconnecting and resending as often as it takes (within a deadline).

import AgentCostLog
import AgentCostSystem
import AgentCostWire
import Synchronization

/// Sends spend events to an agentcost exporter, exactly once.
///
/// Events given to `send(_:)` are buffered and cut into batches of `maxBatchEvents`, or after `flushInterval`, or
/// on `flush()`. Each batch gets the producer id and the next sequence, is compressed and sent; up to
/// `maxUnackedBatches` are sent before the first ack is awaited. A batch stays with the client until its ack
/// arrives: on `RETRY_LATER`, a broken connection or a timeout the client reconnects, with exponential backoff and
/// jitter, and resends the same batches with the same sequences (the server applies a sequence once). A batch the
/// server `REJECTED` (e.g. too large, or a payload it cannot read) is dropped, not resent, and its ack reported. The
/// agents the acks report as paused are in `pausedAgents`.
///
/// Acks arrive in the order of the batches on a connection, so an ack is matched to the oldest batch in flight. The
/// server answers with sequence 0 when it could not read a batch's sequence; such an ack is reported with the
/// sequence of the batch it answers. Only a REJECTED ack whose reason is `unauthenticated` or `bad_token` refuses
/// the connection itself (`helloRejected`).
///
/// Pipelining relies on the server's rule that after a `RETRY_LATER` it refuses every later batch of the connection
/// (docs/protocol.md); otherwise a later batch applied first would make the refused one look like a duplicate.
///
/// All methods are synchronous and may be called from any thread. Sending and waiting for acks happen on the
/// calling thread, one thread at a time; `send(_:)` only blocks when it completes a batch.
public final class SpendClient: Sendable {
    /// The settings the client was created with.
    public let configuration: SpendClientConfiguration

    private let buffer: Mutex<Buffer>
    private let link: Mutex<Link>
    private let paused = Mutex<Set<String>>([])

    /// Creates a client; it connects when it first has a batch to send (or on `connect()`).
    ///
    /// With a `flushInterval`, a background thread cuts batches whose oldest event has waited that long and
    /// collects their acks, until `close()`.
    ///
    /// - Throws: `SpendClientError` with code `invalidConfiguration` naming the bad setting.
    public init(configuration: SpendClientConfiguration) throws(SpendClientError) {
        try configuration.validate()
        let assembler = try BatchAssembler(
            producerID: configuration.producerID, maxEvents: configuration.maxBatchEvents,
            flushInterval: configuration.flushInterval, firstSequence: configuration.firstSequence)
        self.configuration = configuration
        self.buffer = Mutex(Buffer(assembler: assembler))
        self.link = Mutex(Link(limits: configuration.limits))

        if let interval = configuration.flushInterval {
            let tick = max(.milliseconds(1), min(interval / 4, .milliseconds(50)))
            do {
                try OSThread.detach { [weak self] in
                    while let client = self, client.flushIfDue() {
                        Clock.sleep(for: tick)
                    }
                }
            } catch {
                throw SpendClientError(
                    .invalidConfiguration,
                    "cannot start the flush thread: \(error); raise the process's thread limit or set flushInterval "
                        + "to nil")
            }
        }
    }

    deinit {
        link.withLock { $0.connection?.close() }
    }

    /// The agents that the latest acks reported as paused: add one when an ack lists it, remove it when an ack of
    /// a batch naming it does not.
    public var pausedAgents: Set<String> {
        paused.withLock { $0 }
    }

    /// The sequence the next batch will get; persist it to continue from there after a restart.
    public var nextSequence: UInt64 {
        buffer.withLock { $0.assembler.nextSequence }
    }

    /// The batches cut but not yet acknowledged, oldest first (sent ones, then ones waiting to be sent).
    public var unacknowledgedBatches: [Batch] {
        let sent = link.withLock { $0.inFlight.map(\.batch) }
        return sent + buffer.withLock { $0.outbox }
    }

    /// Connects now (and sends the hello, when configured), retrying within the deadline.
    ///
    /// - Throws: `SpendClientError` with code `helloRejected`, `deadlineExceeded` or `closed`.
    public func connect() throws(SpendClientError) {
        try buffer.withLock { buffer throws(SpendClientError) in try buffer.checkOpen() }
        try link.withLock { link throws(SpendClientError) in
            try withRetries(&link) { link throws(SpendClientError) in try establish(&link) }
        }
    }

    /// Buffers one event; when it completes a batch, sends that batch (and waits for acks if the window is full).
    ///
    /// - Throws: `SpendClientError` with code `invalidEvent` when a string of the event holds a NUL byte (nothing is
    ///   buffered), `closed` after `close()`, or the error of sending a completed batch, which stays buffered.
    public func send(_ event: Event) throws(SpendClientError) {
        try validateForSending(event)
        let completed = try buffer.withLock { buffer throws(SpendClientError) -> Bool in
            try buffer.checkOpen()
            guard let batch = buffer.assembler.append(event, now: .now) else { return false }
            buffer.outbox.append(batch)
            return true
        }
        if completed {
            try link.withLock { link throws(SpendClientError) in try pump(&link, waitForAllAcks: false) }
        }
    }

    /// Sends every buffered event and waits until every batch sent so far is acknowledged.
    ///
    /// - Returns: every ack that arrived since the previous `flush()` (including acks read while sending), in
    ///   order.
    /// - Throws: `SpendClientError` with code `deadlineExceeded` (the batches are kept; call again),
    ///   `helloRejected` or `closed`.
    @discardableResult
    public func flush() throws(SpendClientError) -> [Ack] {
        try buffer.withLock { buffer throws(SpendClientError) in
            try buffer.checkOpen()
            if let batch = buffer.assembler.cut() {
                buffer.outbox.append(batch)
            }
        }
        return try link.withLock { link throws(SpendClientError) -> [Ack] in
            try pump(&link, waitForAllAcks: true)
            defer { link.acksSinceFlush.removeAll() }
            return link.acksSinceFlush
        }
    }

    /// Flushes, then closes the connection; later calls throw `closed`.
    ///
    /// - Returns: the acks `flush()` returns.
    /// - Throws: the error of the final flush; the connection is closed anyway and unacknowledged batches are
    ///   abandoned (read `unacknowledgedBatches` first to keep them).
    @discardableResult
    public func close() throws(SpendClientError) -> [Ack] {
        defer {
            buffer.withLock { $0.isClosed = true }
            link.withLock { link in
                link.connection?.close()
                link.connection = nil
            }
        }
        return try flush()
    }

    // MARK: - Sending

    /// The flush thread's tick: cuts a batch that waited long enough and collects outstanding acks.
    /// Returns false once the client is closed.
    private func flushIfDue() -> Bool {
        let (isOpen, hasWork) = buffer.withLock { buffer -> (Bool, Bool) in
            guard !buffer.isClosed else { return (false, false) }
            if let batch = buffer.assembler.cutIfDue(now: .now) {
                buffer.outbox.append(batch)
            }
            return (true, !buffer.outbox.isEmpty)
        }
        guard isOpen else { return false }
        let hasUnacked = link.withLock { !$0.inFlight.isEmpty }
        guard hasWork || hasUnacked else { return true }
        do {
            try link.withLock { link throws(SpendClientError) in try pump(&link, waitForAllAcks: true) }
        } catch {
            configuration.logger?.warn(
                "background flush failed; batches kept", ["err": error.message, "address": configuration.address])
        }
        return true
    }

    /// Sends the outbox in order, within the window, then reads acks: until the window has room again, or until
    /// nothing is unacknowledged when `waitForAllAcks`. Retries failures within the deadline.
    private func pump(_ link: inout Link, waitForAllAcks: Bool) throws(SpendClientError) {
        try withRetries(&link) { link throws(SpendClientError) in
            try establish(&link)
            while true {
                while link.inFlight.count < configuration.maxUnackedBatches,
                    let batch = buffer.withLock({ $0.outbox.isEmpty ? nil : $0.outbox.removeFirst() })
                {
                    let pending = try encode(batch)
                    link.inFlight.append(pending)
                    try link.connection?.write(pending.frame)
                }
                let outboxIsEmpty = buffer.withLock { $0.outbox.isEmpty }
                let windowIsFull = link.inFlight.count >= configuration.maxUnackedBatches
                let mustRead = waitForAllAcks ? !link.inFlight.isEmpty : windowIsFull && !outboxIsEmpty
                guard mustRead else { return }
                try receiveAck(&link)
            }
        }
    }

    /// Runs `step` until it succeeds, reconnecting with backoff after each retryable failure, until the deadline.
    private func withRetries(
        _ link: inout Link, _ step: (inout Link) throws(SpendClientError) -> Void
    ) throws(SpendClientError) {
        var failures = 0
        var firstFailure: ContinuousClock.Instant?
        var generator = SystemRandomNumberGenerator()
        while true {
            do {
                try step(&link)
                return
            } catch {
                guard error.isRetryable else { throw error }
                link.disconnect()
                failures += 1
                let now = ContinuousClock.now
                let start = firstFailure ?? now
                firstFailure = start
                let remaining = configuration.retry.deadline - (now - start)
                guard remaining > .zero else {
                    throw SpendClientError(
                        .deadlineExceeded,
                        "gave up after \(failures) attempts in \(now - start) with \(link.inFlight.count) batches "
                            + "unacknowledged (kept for the next call); last error: \(error.message)")
                }
                let wait = min(configuration.retry.backoff(afterFailures: failures, using: &generator), remaining)
                configuration.logger?.warn(
                    "retrying", ["err": error.message, "attempt": failures, "backoff": wait])
                Clock.sleep(for: wait)
            }
        }
    }

    /// Connects when not connected: opens the socket, exchanges the hello, resends every unacknowledged batch.
    private func establish(_ link: inout Link) throws(SpendClientError) {
        guard link.connection == nil else { return }
        let connection = try TCPConnection.connect(
            to: configuration.address, connectTimeout: configuration.connectTimeout,
            ioTimeout: configuration.ackTimeout)
        link.connection = connection
        link.decoder = FrameDecoder(limits: configuration.limits)

        if let token = configuration.token {
            try connection.write(try encodeHello(token: token))
            let ack = try readAck(&link)
            if ack.status == .retryLater {
                throw SpendClientError(
                    .retryLater, "\(configuration.address) answered the hello with RETRY_LATER: \(ack.message)")
            }
            guard ack.sequence == 0, ack.status == .ok else {
                throw SpendClientError(
                    .helloRejected,
                    "\(configuration.address) refused the hello of producer \(configuration.producerID) "
                        + "(status \(ack.status), sequence \(ack.sequence)): "
                        + "\(ack.message.isEmpty ? "no reason given" : ack.message); check the token")
            }
        }

        if !link.inFlight.isEmpty {
            configuration.logger?.info(
                "resending unacknowledged batches",
                ["count": link.inFlight.count, "first_sequence": link.inFlight[0].batch.sequence])
            for pending in link.inFlight {
                try connection.write(pending.frame)
            }
        }
    }

    /// Reads the ack of the oldest unacknowledged batch and settles that batch.
    private func receiveAck(_ link: inout Link) throws(SpendClientError) {
        var ack = try readAck(&link)
        guard let oldest = link.inFlight.first else {
            throw SpendClientError(
                .protocolViolation,
                "\(configuration.address) sent an ack for sequence \(ack.sequence) with no batch unacknowledged")
        }
        if ack.sequence == 0 {
            if ack.status == .rejected && Self.refusesConnection(ack) {
                // The server refused the connection itself, because it requires a token this client does not send
                // or sent wrong. Reconnecting would be refused the same way.
                throw SpendClientError(
                    .helloRejected,
                    "\(configuration.address) refused the connection of producer \(configuration.producerID): "
                        + "\(ack.message); configure the token the server's --ingest.token-file holds")
            }
            // The server could not read the batch's sequence (e.g. its payload is corrupt or too large); acks come
            // in order, so this one answers the oldest batch in flight.
            ack.sequence = oldest.batch.sequence
        }
        guard ack.sequence == oldest.batch.sequence else {
            throw SpendClientError(
                .protocolViolation,
                "\(configuration.address) answered batch \(oldest.batch.sequence) with an ack for sequence "
                    + "\(ack.sequence) (status \(ack.status)): \(ack.message.isEmpty ? "no message" : ack.message)")
        }
        if ack.status == .retryLater {
            link.inFlight[0].wasRefused = true
            throw SpendClientError(
                .retryLater,
                "\(configuration.address) answered batch \(ack.sequence) with RETRY_LATER"
                    + (ack.message.isEmpty ? "" : ": \(ack.message)"))
        }

        link.inFlight.removeFirst()
        if ack.status == .ok {
            updatePausedAgents(with: ack, of: oldest.batch)
            if oldest.wasRefused && ack.applied == 0 && ack.rejected == 0 && !oldest.batch.events.isEmpty {
                // Either an earlier ack of it was lost, or the server applied a later batch after refusing this
                // one (which docs/protocol.md forbids) and its events are lost; the client cannot tell which.
                configuration.logger?.warn(
                    "batch refused with RETRY_LATER was acknowledged as a duplicate; if the server applied a later "
                        + "batch in between, its events were lost",
                    ["sequence": ack.sequence, "events": oldest.batch.events.count])
            }
        } else {
            configuration.logger?.warn(
                "batch rejected and dropped",
                [
                    "sequence": ack.sequence, "status": ack.status, "reason": ack.message,
                    "events": oldest.batch.events.count,
                ])
        }
        link.acksSinceFlush.append(ack)
        configuration.onAck?(ack)
    }

    /// Whether a REJECTED ack of sequence 0 refuses the connection rather than one batch: its reason code (the text
    /// before the first colon, docs/protocol.md) says the hello was missing or its token wrong.
    private static func refusesConnection(_ ack: Ack) -> Bool {
        let code = ack.message.prefix { $0 != ":" }
        return code == "unauthenticated" || code == "bad_token"
    }

    /// Reads the next frame and decodes it as an ack.
    private func readAck(_ link: inout Link) throws(SpendClientError) -> Ack {
        guard let connection = link.connection else {
            throw SpendClientError(.connectionLost, "not connected to \(configuration.address)")
        }
        while true {
            let frame: Frame?
            do {
                frame = try link.decoder.nextFrame()
            } catch {
                throw SpendClientError(
                    .protocolViolation, "\(configuration.address) sent an unreadable frame: \(error.message)")
            }
            if let frame {
                do {
                    return try Ack(decoding: frame, limits: configuration.limits)
                } catch {
                    throw SpendClientError(
                        .protocolViolation, "\(configuration.address) sent an unreadable ack: \(error.message)")
                }
            }
            link.scratch.removeAll(keepingCapacity: true)
            guard try connection.read(appendingTo: &link.scratch) > 0 else {
                throw SpendClientError(
                    .connectionLost,
                    "\(configuration.address) closed the connection with \(link.inFlight.count) batches unacknowledged")
            }
            link.decoder.append(link.scratch)
        }
    }

    private func encode(_ batch: Batch) throws(SpendClientError) -> InFlightBatch {
        let frame: Frame
        do {
            frame = try batch.makeFrame(compressionLevel: configuration.compressionLevel)
        } catch {
            throw SpendClientError(
                .encodingFailed,
                "batch \(batch.sequence) of \(batch.events.count) events cannot be encoded and is dropped: "
                    + "\(error.message)")
        }
        return InFlightBatch(batch: batch, frame: try encodeFrame(frame, what: "batch \(batch.sequence)"))
    }

    private func encodeFrame(_ frame: Frame, what: String) throws(SpendClientError) -> [UInt8] {
        do {
            return try frame.serialized()
        } catch {
            throw SpendClientError(.encodingFailed, "\(what) cannot be framed: \(error.message)")
        }
    }

    private func encodeHello(token: String) throws(SpendClientError) -> [UInt8] {
        let hello = Hello(
            token: token, producerID: configuration.producerID, clientVersion: configuration.clientVersion)
        do {
            return try hello.makeFrame().serialized()
        } catch {
            throw SpendClientError(
                .encodingFailed, "the hello cannot be encoded: \(error.message); remove NUL bytes from the token")
        }
    }

    private func updatePausedAgents(with ack: Ack, of batch: Batch) {
        let nowPaused = Set(ack.pausedAgents)
        paused.withLock { paused in
            for event in batch.events {
                guard let agent = event.agentID else { continue }
                if nowPaused.contains(agent) {
                    paused.insert(agent)
                } else {
                    paused.remove(agent)
                }
            }
            paused.formUnion(nowPaused)
        }
    }
}

/// The events not yet sent: the assembler's buffer and the batches cut from it.
private struct Buffer {
    var assembler: BatchAssembler
    var outbox: [Batch] = []
    var isClosed = false

    func checkOpen() throws(SpendClientError) {
        guard !isClosed else {
            throw SpendClientError(.closed, "the client was closed; create a new SpendClient to send more events")
        }
    }
}

/// The connection and the batches sent on it (or to be resent on the next one) that await their acks.
private struct Link {
    var connection: TCPConnection?
    var decoder: FrameDecoder
    var inFlight: [InFlightBatch] = []
    var acksSinceFlush: [Ack] = []
    var scratch: [UInt8] = []

    init(limits: WireLimits) {
        decoder = FrameDecoder(limits: limits)
    }

    mutating func disconnect() {
        connection?.close()
        connection = nil
    }
}

/// A sent batch with its encoded frame, kept to be resent byte for byte.
private struct InFlightBatch {
    let batch: Batch
    let frame: [UInt8]
    /// Whether the server answered it RETRY_LATER at least once.
    var wasRefused = false
}

extension Event {
    /// The agent the event concerns; `nil` for goal events.
    var agentID: String? {
        switch payload {
        case .cycleStart(let fields): fields.agentID
        case .spend(let fields): fields.agentID
        case .cycleEnd(let fields): fields.agentID
        case .setBudget(let fields): fields.agentID
        case .resume(let fields): fields.agentID
        case .createGoal: nil
        }
    }
}

/// Refuses an event the encoder would refuse later, so that one bad event cannot poison a whole batch.
private func validateForSending(_ event: Event) throws(SpendClientError) {
    let strings: [String]
    switch event.payload {
    case .cycleStart(let fields): strings = [fields.agentID]
    case .spend(let fields): strings = [fields.agentID, fields.goalID, fields.model]
    case .cycleEnd(let fields): strings = [fields.agentID]
    case .setBudget(let fields): strings = [fields.agentID]
    case .resume(let fields): strings = [fields.agentID]
    case .createGoal(let fields): strings = [fields.goalID, fields.name, fields.parentID]
    }
    for string in strings where string.utf8.contains(0) {
        throw SpendClientError(
            .invalidEvent, "event string \"\(string)\" holds a NUL byte, which the protocol forbids; remove it")
    }
}
