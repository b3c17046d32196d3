import AgentCostCore
import AgentCostLog
import AgentCostStore
import AgentCostSystem
import AgentCostWire
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// One ingest thread: an epoll loop that accepts connections, reads their bytes, decodes frames, applies batches
/// and writes acks, all on this thread.
///
/// Only `wake()` is called from other threads; everything else runs on the loop's own thread, which is why the
/// connection table needs no lock.
final class IngestLoop: @unchecked Sendable {
    private let index: Int
    private unowned let server: IngestServer
    private let listener: Socket
    private let epoll: Epoll
    private let wakeup: Wakeup
    private let batchDecoder: BatchDecoder
    private let logger: Logger
    private var connections: [Int32: Connection] = [:]
    /// Logged batches waiting for their records to be durable, in log order.
    private var pending: [PendingBatch] = []
    private var readBuffer = [UInt8](repeating: 0, count: 64 * 1024)
    private var lastSweep = 0.0
    private var acceptBackoff = AcceptBackoff()

    /// Stop reading from a connection whose unsent acks exceed this, until the peer reads them.
    private static let outputHighWater = 1 << 20

    init(index: Int, server: IngestServer, listener: Socket) throws(SystemError) {
        self.index = index
        self.server = server
        self.listener = listener
        self.epoll = try Epoll()
        self.wakeup = try Wakeup()
        self.batchDecoder = BatchDecoder(limits: server.configuration.limits)
        self.logger = server.logger.child("ingest")
        try epoll.add(listener.descriptor, [.readable, .exclusive])
        try epoll.add(wakeup.descriptor, .readable)
        let wakeup = wakeup
        server.durability?.addListener { wakeup.signal() }
    }

    func wake() {
        wakeup.signal()
    }

    // MARK: The loop

    func run() {
        var ready: [Epoll.Readiness] = []
        ready.reserveCapacity(256)

        while !server.stopping.load(ordering: .acquiring) {
            epoll.wait(
                into: &ready,
                milliseconds: acceptBackoff.waitMilliseconds(now: Clock.monotonicSeconds(), longest: 250))
            let now = Clock.monotonicSeconds()
            if acceptBackoff.resumeIfDue(now: now) {
                watchListener(now: now)
            }
            for item in ready {
                if item.descriptor == listener.descriptor {
                    acceptPending(now: now)
                } else if item.descriptor == wakeup.descriptor {
                    wakeup.drain()
                    adoptFromInbox(now: now)
                    applyDurable()
                } else if let connection = connections[item.descriptor] {
                    service(connection, item, now: now)
                }
            }
            if now - lastSweep >= 1 {
                lastSweep = now
                closeTimedOut(now: now)
            }
        }

        finishInFlight()
    }

    /// Accepts every pending connection and deals them round-robin over all loops: the kernel tends to hand a
    /// burst of connections to whichever loop is awake, which would leave the other cores idle.
    private func acceptPending(now: Double) {
        while true {
            let accepted: (socket: Socket, peer: String)?
            do {
                accepted = try listener.accept()
            } catch {
                pauseAccepting(after: error, now: now)
                return
            }
            guard let (socket, peer) = accepted else { return }

            let open = server.metrics.connectionsOpen.add(1, ordering: .relaxed).newValue
            guard open <= server.configuration.maxConnections else {
                server.metrics.connectionsOpen.subtract(1, ordering: .relaxed)
                server.metrics.connectionClosed("too_many_connections")
                socket.close()
                logger.warn(
                    "connection refused: too many connections",
                    ["peer": peer, "open": open - 1, "limit": server.configuration.maxConnections]
                )
                continue
            }
            server.metrics.connectionsAccepted.add(1, ordering: .relaxed)
            let target = server.nextLoop()
            if target === self {
                adopt(socket, peer: peer, now: now)
            } else {
                target.inbox.withLock { $0.append((socket, peer)) }
                target.wake()
            }
        }
    }

    /// Stops watching the listener for a while after `accept` failed: the connection it could not take stays in
    /// the backlog, so the listener stays ready and watching it would spin (see `AcceptBackoff`).
    private func pauseAccepting(after error: SystemError, now: Double) {
        let outOfDescriptors = error.errno == EMFILE || error.errno == ENFILE
        server.metrics.connectionClosed(outOfDescriptors ? "out_of_descriptors" : "accept_error")
        epoll.remove(listener.descriptor)
        guard let suppressed = acceptBackoff.failed(now: now) else { return }
        logger.warn(
            outOfDescriptors
                ? "accept failed: out of file descriptors; raise the open-file limit (LimitNOFILE, ulimit -n) or "
                    + "lower --ingest.max-connections"
                : "accept failed",
            [
                "err": error, "open": server.metrics.connectionsOpen.load(ordering: .relaxed),
                "pause": "\(Int(AcceptBackoff.pauseSeconds * 1000))ms", "suppressed": suppressed,
            ]
        )
    }

    private func watchListener(now: Double) {
        do {
            try epoll.add(listener.descriptor, [.readable, .exclusive])
        } catch {
            // E.g. ENOMEM: try again after another pause.
            if let suppressed = acceptBackoff.failed(now: now) {
                logger.warn("cannot watch the listening socket again", ["err": error, "suppressed": suppressed])
            }
        }
    }

    /// Connections accepted by another loop for this one.
    let inbox = Mutex<[(socket: Socket, peer: String)]>([])

    private func adoptFromInbox(now: Double) {
        let arrivals = inbox.withLock { inbox in
            defer { inbox.removeAll() }
            return inbox
        }
        for (socket, peer) in arrivals {
            adopt(socket, peer: peer, now: now)
        }
    }

    private func adopt(_ socket: Socket, peer: String, now: Double) {
        do {
            try epoll.add(socket.descriptor, [.readable, .peerClosed])
        } catch {
            server.metrics.connectionsOpen.subtract(1, ordering: .relaxed)
            server.metrics.connectionClosed("epoll_error")
            socket.close()
            logger.warn("cannot watch connection", ["peer": peer, "err": error])
            return
        }
        connections[socket.descriptor] = Connection(
            socket: socket,
            peer: peer,
            limits: server.configuration.limits,
            authenticated: server.configuration.token == nil,
            warningIntervalSeconds: server.configuration.warningIntervalSeconds,
            now: now
        )
        logger.debug("connection accepted", ["peer": peer, "loop": index])
    }

    private func service(_ connection: Connection, _ readiness: Epoll.Readiness, now: Double) {
        if readiness.writable {
            flush(connection, now: now)
        }
        if (readiness.readable || readiness.hangUp) && !connection.readingPaused {
            readAvailable(connection, now: now)
        }
        settle(connection)
    }

    /// Reads what the socket has (a bounded number of times, to stay fair to other connections) and handles every
    /// complete frame.
    private func readAvailable(_ connection: Connection, now: Double) {
        for _ in 0..<16 where !connection.isClosing {
            switch connection.socket.read(into: &readBuffer) {
            case .bytes(let count):
                server.metrics.bytesReceived.add(UInt64(count), ordering: .relaxed)
                connection.lastActivity = now
                connection.decoder.append(readBuffer[0..<count])
                handleFrames(of: connection, now: now)
                if connection.output.count - connection.outputOffset > Self.outputHighWater {
                    return
                }
            case .wouldBlock:
                return
            case .endOfStream:
                if connection.decoder.bufferedByteCount > 0 {
                    reject(connection, WireError(.truncated, "the connection ended in the middle of a frame"))
                }
                connection.closeReason = connection.closeReason ?? "peer_closed"
                connection.isClosing = true
                return
            case .failed(let error):
                logger.debug("read failed", ["peer": connection.peer, "err": error])
                connection.closeReason = "read_error"
                connection.isClosing = true
                connection.output.removeAll()
                return
            }
        }
    }

    private func handleFrames(of connection: Connection, now: Double) {
        while !connection.isClosing {
            let frame: Frame?
            do {
                frame = try connection.decoder.nextFrame()
            } catch {
                // The framing is unreadable: where the next frame starts is unknown, so the connection ends.
                reject(connection, error)
                return
            }
            guard let frame else { break }
            handle(frame, from: connection)
        }
        connection.partialFrameSince =
            connection.decoder.bufferedByteCount > 0 ? (connection.partialFrameSince ?? now) : nil
    }

    private func handle(_ frame: Frame, from connection: Connection) {
        switch frame.type {
        case .hello:
            handleHello(frame, from: connection)

        case .batch:
            guard connection.authenticated else {
                refuse(
                    connection,
                    reason: "unauthenticated",
                    "this server requires a hello frame with a valid token before any batch"
                )
                return
            }
            if connection.answersRetryLater {
                // After one RETRY_LATER, every later batch of the connection gets one too, unlogged and unapplied:
                // applying batch N+1 after refusing N would make N a duplicate when it is sent again. It is still
                // decoded, so that the ack names its sequence (0 stays for batches that cannot be read).
                do {
                    let sequence = try batchDecoder.decode(frame).sequence
                    retryLater(
                        connection, sequence: sequence, "an earlier batch on this connection was answered RETRY_LATER")
                } catch {
                    rejectBatch(connection, error)
                }
                return
            }
            let receivedAt = Timestamp(nanosecondsSinceEpoch: Clock.realTimeNanoseconds())
            let started = Clock.monotonicNanoseconds()
            var position: WriteAheadLog.Position?
            let batch: DecodedBatch
            do {
                batch = try batchDecoder.decode(frame) { bytes in
                    position = server.durability?.wal.append(batch: bytes, receivedAt: receivedAt)
                }
            } catch {
                rejectBatch(connection, error)
                return
            }
            let decoded = Clock.monotonicNanoseconds()
            server.metrics.decodeNanoseconds.add(decoded &- started, ordering: .relaxed)
            server.metrics.bytesInflated.add(UInt64(batchDecoder.lastMessageSize), ordering: .relaxed)

            guard let durability = server.durability else {
                apply(batch, receivedAt: receivedAt, for: connection)
                return
            }
            guard let position else {
                let reason = durability.wal.failure ?? "the write-ahead log is not accepting records"
                retryLater(connection, sequence: batch.sequence, reason)
                return
            }
            pending.append(
                PendingBatch(connection: connection, batch: batch, position: position, receivedAt: receivedAt))
            applyDurable()

        default:
            let reason = WireError.Code.unexpectedFrameType
            server.metrics.frameRejected(reason.rawValue)
            if let suppressed = connection.warnings.admit(now: Clock.monotonicSeconds()) {
                logger.warn(
                    "frame rejected",
                    ["peer": connection.peer, "reason": reason, "type": frame.type, "suppressed": suppressed])
            }
            send(
                Ack(
                    sequence: 0,
                    status: .rejected,
                    message: "unexpected_frame_type: a client sends hello and batch frames, not \(frame.type)"
                ),
                to: connection
            )
        }
    }

    /// Answers a well-delimited batch frame whose payload cannot be read with REJECTED, sequence 0 (it is unknown);
    /// the connection goes on with the next frame.
    private func rejectBatch(_ connection: Connection, _ error: WireError) {
        server.metrics.frameRejected(error.code.rawValue)
        if let suppressed = connection.warnings.admit(now: Clock.monotonicSeconds()) {
            logger.warn(
                "batch rejected",
                ["peer": connection.peer, "reason": error.code, "err": error.message, "suppressed": suppressed])
        }
        send(Ack(sequence: 0, status: .rejected, message: error.description), to: connection)
    }

    private func apply(_ batch: DecodedBatch, receivedAt: Timestamp, for connection: Connection) {
        let ack = server.applier.apply(batch, receivedAt: receivedAt)
        if ack.rejected > 0, let suppressed = connection.warnings.admit(now: Clock.monotonicSeconds()) {
            var reasons: [String] = []
            for rejection in ack.rejections {
                let code = Rejection.code(of: rejection.reason)
                if !reasons.contains(code) { reasons.append(code) }
            }
            logger.warn(
                "events rejected",
                [
                    "peer": connection.peer, "producer": batch.producerID, "sequence": batch.sequence,
                    "rejected": ack.rejected, "reasons": reasons.joined(separator: ","), "suppressed": suppressed,
                ]
            )
        }
        send(ack, to: connection)
    }

    /// Answers RETRY_LATER and makes the connection answer so from now on.
    private func retryLater(_ connection: Connection, sequence: UInt64, _ reason: String) {
        if !connection.answersRetryLater {
            logger.warn("answering RETRY_LATER", ["peer": connection.peer, "sequence": sequence, "reason": reason])
        }
        connection.answersRetryLater = true
        server.metrics.frameRejected("retry_later")
        send(Ack(sequence: sequence, status: .retryLater, message: "retry_later: \(reason)"), to: connection)
    }

    /// Applies and acknowledges, in order, the logged batches whose records are now durable; answers RETRY_LATER
    /// for those whose write failed. Stops at the first still pending, or held back by a snapshot's cut.
    private func applyDurable() {
        guard let durability = server.durability else { return }
        var touched: [Connection] = []
        while let next = pending.first {
            let status = durability.wal.status(of: next.position)
            if status == .pending || (status == .durable && durability.isHeld(next.position.generation)) { break }
            pending.removeFirst()
            if status == .durable, server.tracesEventOrigins {
                ApplyingRecord.$current.withValue(ApplyingRecord(next.position.coordinate, replayed: false)) {
                    apply(next.batch, receivedAt: next.receivedAt, for: next.connection)
                }
            } else if status == .durable {
                apply(next.batch, receivedAt: next.receivedAt, for: next.connection)
            } else {
                let reason = durability.wal.failure ?? "the write-ahead log could not be written"
                retryLater(next.connection, sequence: next.batch.sequence, reason)
            }
            durability.recordFinished(next.position, applied: status == .durable)
            if !touched.contains(where: { $0 === next.connection }) { touched.append(next.connection) }
        }
        for connection in touched where connections[connection.socket.descriptor] === connection {
            settle(connection)
        }
    }

    private func handleHello(_ frame: Frame, from connection: Connection) {
        let hello: Hello
        do {
            hello = try Hello(decoding: frame, limits: server.configuration.limits)
        } catch {
            reject(connection, error)
            return
        }
        if let token = server.configuration.token, !tokensMatch(hello.token, token) {
            refuse(connection, reason: "bad_token", "the hello's token does not match the server's --ingest.token-file")
            return
        }
        connection.authenticated = true
        connection.producerID = hello.producerID
        send(Ack(sequence: 0, status: .ok, message: "hello \(hello.producerID)"), to: connection)
    }

    /// Answers an unreadable frame with a REJECTED ack naming the reason, then closes the connection.
    private func reject(_ connection: Connection, _ error: WireError) {
        server.metrics.frameRejected(error.code.rawValue)
        logger.warn(
            "frame rejected, closing connection",
            ["peer": connection.peer, "reason": error.code, "err": error.message]
        )
        send(Ack(sequence: 0, status: .rejected, message: error.description), to: connection)
        connection.closeReason = error.code.rawValue
        connection.isClosing = true
    }

    /// Refuses a connection that may not send batches, with a REJECTED ack, then closes it.
    private func refuse(_ connection: Connection, reason: String, _ message: String) {
        server.metrics.frameRejected(reason)
        logger.warn("connection refused", ["peer": connection.peer, "reason": reason])
        send(Ack(sequence: 0, status: .rejected, message: "\(reason): \(message)"), to: connection)
        connection.closeReason = reason
        connection.isClosing = true
    }

    private func send(_ ack: Ack, to connection: Connection) {
        do {
            try ack.makeFrame().serialize(into: &connection.output)
        } catch {
            logger.error("cannot encode ack", ["peer": connection.peer, "err": error])
        }
    }

    // MARK: Writing and closing

    private func flush(_ connection: Connection, now: Double) {
        while connection.outputOffset < connection.output.count {
            let written: Int
            do {
                written = try connection.socket.write(connection.output, from: connection.outputOffset)
            } catch {
                connection.output.removeAll()
                connection.outputOffset = 0
                connection.closeReason = connection.closeReason ?? "write_error"
                connection.isClosing = true
                return
            }
            guard written > 0 else { return }
            connection.outputOffset += written
            connection.lastActivity = now
        }
        connection.output.removeAll(keepingCapacity: connection.output.capacity <= 64 * 1024)
        connection.outputOffset = 0
    }

    /// After a connection was serviced: write what is pending, watch for writability while acks wait, pause
    /// reading while too many acks wait, and close it when it is done.
    private func settle(_ connection: Connection) {
        flush(connection, now: connection.lastActivity)
        let pending = connection.output.count - connection.outputOffset
        if connection.isClosing && pending == 0 {
            close(connection)
            return
        }

        let pauseReading = pending > Self.outputHighWater
        let wantWrite = pending > 0
        guard pauseReading != connection.readingPaused || wantWrite != connection.watchingWritable else { return }
        connection.readingPaused = pauseReading
        connection.watchingWritable = wantWrite
        var interest: Epoll.Interest = [.peerClosed]
        if !pauseReading && !connection.isClosing { interest.insert(.readable) }
        if wantWrite { interest.insert(.writable) }
        do {
            try epoll.modify(connection.socket.descriptor, interest)
        } catch {
            connection.closeReason = "epoll_error"
            close(connection)
        }
    }

    private func close(_ connection: Connection) {
        // Count first: the peer may look at the metrics as soon as it sees the connection end.
        let reason = connection.closeReason ?? "closed"
        server.metrics.connectionsOpen.subtract(1, ordering: .relaxed)
        server.metrics.connectionClosed(reason)
        logger.debug("connection closed", ["peer": connection.peer, "reason": reason])
        if connection.warnings.suppressed > 0 {
            logger.warn(
                "connection closed with warnings suppressed",
                ["peer": connection.peer, "reason": reason, "suppressed": connection.warnings.suppressed])
        }

        epoll.remove(connection.socket.descriptor)
        connections[connection.socket.descriptor] = nil
        if reason != "peer_closed" {
            // Closing with unread bytes in the receive buffer would make the kernel reset the connection and
            // discard the acks still on their way; end our side first and drop what is left to read.
            connection.socket.shutdownWrite()
            while case .bytes = connection.socket.read(into: &readBuffer) {}
        }
        connection.socket.close()
    }

    /// Closes connections that have been silent too long, or that started a frame and stalled.
    private func closeTimedOut(now: Double) {
        let configuration = server.configuration
        for connection in connections.values {
            var reason: String?
            if let since = connection.partialFrameSince, now - since > configuration.frameTimeoutSeconds {
                reason = "frame_timeout"
            } else if now - connection.lastActivity > configuration.idleTimeoutSeconds {
                reason = "idle_timeout"
            }
            guard let reason else { continue }
            logger.info("closing connection", ["peer": connection.peer, "reason": reason])
            connection.closeReason = reason
            connection.output.removeAll()
            connection.outputOffset = 0
            close(connection)
        }
    }

    /// On shutdown: handle the frames already received, write their acks (for at most a few seconds), close all.
    private func finishInFlight() {
        // Connections already in the listen backlog were sent by clients before the shutdown: take them too.
        acceptPending(now: Clock.monotonicSeconds())
        epoll.remove(listener.descriptor)
        adoptFromInbox(now: Clock.monotonicSeconds())
        let deadline = Clock.monotonicSeconds() + 5
        for connection in Array(connections.values) where !connection.isClosing {
            readAvailable(connection, now: Clock.monotonicSeconds())
        }
        // Batches already logged are applied and acknowledged once durable (the log is still running).
        while !pending.isEmpty, Clock.monotonicSeconds() < deadline {
            applyDurable()
            if !pending.isEmpty { Clock.sleep(for: .milliseconds(1)) }
        }
        for connection in Array(connections.values) {
            let now = Clock.monotonicSeconds()
            flush(connection, now: now)
            while connection.outputOffset < connection.output.count, Clock.monotonicSeconds() < deadline {
                _ = connection.socket.waitWritable(milliseconds: 100)
                flush(connection, now: now)
            }
            connection.closeReason = connection.closeReason ?? "shutdown"
            close(connection)
        }
        epoll.close()
        wakeup.close()
    }
}

/// A batch appended to the write-ahead log, waiting for its record to be durable before it is applied and acked.
struct PendingBatch {
    let connection: Connection
    let batch: DecodedBatch
    let position: WriteAheadLog.Position
    let receivedAt: Timestamp
}

/// The state of one client connection, owned by its loop's thread.
final class Connection {
    let socket: Socket
    let peer: String
    var decoder: FrameDecoder
    var output: [UInt8] = []
    var outputOffset = 0
    var authenticated: Bool
    var producerID = ""
    var lastActivity: Double
    /// When the first bytes of a still incomplete frame arrived.
    var partialFrameSince: Double?
    var isClosing = false
    var closeReason: String?
    /// Set once a batch was answered RETRY_LATER: later batches are answered the same way.
    var answersRetryLater = false
    var readingPaused = false
    var watchingWritable = false
    /// Bounds the warnings about this connection's bad input to one per interval.
    var warnings: LogThrottle

    init(
        socket: Socket, peer: String, limits: WireLimits, authenticated: Bool, warningIntervalSeconds: Double,
        now: Double
    ) {
        self.socket = socket
        self.peer = peer
        self.decoder = FrameDecoder(limits: limits)
        self.authenticated = authenticated
        self.warnings = LogThrottle(intervalSeconds: warningIntervalSeconds)
        self.lastActivity = now
    }
}
