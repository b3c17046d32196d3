import AgentCostCore
import AgentCostExposition
import AgentCostLog
import AgentCostServer
import AgentCostSystem
import AgentCostWire
import CBaseline
import Synchronization

/// Ingest throughput over real TCP against the bare C floor of the same work.
///
/// The baseline is a single-core C loop that only inflates and unpacks the same frames with zlib and protobuf-c.
/// The exporter does all of that plus framing checks, CRCs, exactly-once bookkeeping, applying every event to the
/// tracker and writing an ack per frame, with the client threads sharing the same cores.
func benchmarkIngest(framesPerConnection: Int) throws {
    let connections = 4
    let eventsPerFrame = 1000
    let streams = try makeStreams(connections: connections, frames: framesPerConnection, eventsPerFrame: eventsPerFrame)
    let totalEvents = connections * framesPerConnection * eventsPerFrame
    let wireBytes = streams.reduce(0) { $0 + $1.count }
    print(
        "ingest: \(connections) connections x \(framesPerConnection) frames x \(eventsPerFrame) events, zlib level 6, "
            + "\(fixed(Double(wireBytes) / 1_048_576, 1)) MiB on the wire"
    )

    // Baseline: bare C, one core, best of three.
    let everything = streams.flatMap { $0 }
    var scratch = [UInt8](repeating: 0, count: 8 << 20)
    var baselineSeconds = Double.infinity
    for _ in 0..<3 {
        let start = Clock.monotonicSeconds()
        let counted = cbaseline_ingest(everything, everything.count, &scratch, scratch.count)
        baselineSeconds = min(baselineSeconds, Clock.monotonicSeconds() - start)
        guard counted == totalEvents else { throw BenchmarkError("C baseline counted \(counted) events") }
    }
    let baselineRate = Double(totalEvents) / baselineSeconds
    print("  C baseline, 1 core, inflate + unpack only:   \(rate(baselineRate)) events/s")

    // The Swift decoder alone, one core, for reference.
    let decodeSeconds = try measureSwiftDecode(everything, expected: totalEvents)
    let decodeRate = Double(totalEvents) / decodeSeconds
    print(
        "  Swift frame decode + inflate + unpack, 1 core: \(rate(decodeRate)) events/s "
            + "(ratio to C \(fixed(decodeRate / baselineRate, 2)))"
    )

    // Applying decoded batches to a tracker alone, one core, for reference.
    let applySeconds = try measureApply(everything)
    let applyRate = Double(totalEvents) / applySeconds
    print("  apply decoded batches to the tracker, 1 core:  \(rate(applyRate)) events/s")

    // The exporter: TCP, its default of one event loop per online processor, tracker apply, acks.
    let seconds = try measureServerIngest(streams: streams, framesPerConnection: framesPerConnection)
    let serverRate = Double(totalEvents) / seconds
    let ratio = serverRate / baselineRate
    print(
        "  exporter ingest over TCP (\(ProcessLimits.onlineProcessorCount()) loops, apply, acks): "
            + "\(rate(serverRate)) events/s, "
            + "\(fixed(Double(connections * framesPerConnection) / seconds, 0)) frames/s"
    )
    print(
        "  ratio to C baseline: \(fixed(ratio, 2))  (target >= 1.00)  "
            + "check: \(verdict("ingest: exporter against the C baseline", ratio >= 1))"
    )
}

let benchLogger = Logger(component: "bench", level: .warn)

struct BenchmarkError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func rate(_ value: Double) -> String {
    "\(fixed(value / 1e6, 2))M"
}

/// One pre-compressed stream of batch frames per connection: each frame holds cycles of 50 agents (a start, 18
/// spends, an end), over a fleet of 2,000 agents per connection, so that the steady state (known agents) is
/// measured rather than the first sight of each agent. The batches have sequences 1, 2, ... per connection's
/// producer, or, with `exactlyOnce` false, sequence 0: they opt out of duplicate detection, so a stream can be sent
/// again and again to the same exporter and is applied every time.
func makeStreams(connections: Int, frames: Int, eventsPerFrame: Int, exactlyOnce: Bool = true) throws -> [[UInt8]] {
    let agentsPerFrame = eventsPerFrame / 20
    var streams: [[UInt8]] = []
    for connection in 0..<connections {
        var stream: [UInt8] = []
        for frame in 0..<frames {
            var events: [Event] = []
            events.reserveCapacity(eventsPerFrame)
            let time = 1_796_299_200_000_000_000 + Int64(frame) * 30_000_000_000
            for slot in 0..<agentsPerFrame {
                let agent = "agent-\(connection)-\((frame * agentsPerFrame + slot) % 2_000)"
                events.append(Event(timeUnixNano: time, .cycleStart(CycleStart(agentID: agent))))
                for call in 0..<18 {
                    let spend = Spend(
                        agentID: agent,
                        costUSD: 0.000_125 * Double(call + 1),
                        model: "gpt-4o-mini",
                        inputTokens: UInt64(800 + call),
                        outputTokens: UInt64(120 + call)
                    )
                    events.append(Event(timeUnixNano: time + Int64(call) * 1_000_000, .spend(spend)))
                }
                events.append(Event(timeUnixNano: time + 20_000_000_000, .cycleEnd(CycleEnd(agentID: agent))))
            }
            let sequence = exactlyOnce ? UInt64(frame + 1) : 0
            let batch = Batch(producerID: "bench-\(connection)", sequence: sequence, events: events)
            try batch.makeFrame(compressionLevel: 6).serialize(into: &stream)
        }
        streams.append(stream)
    }
    return streams
}

private func measureSwiftDecode(_ bytes: [UInt8], expected: Int) throws -> Double {
    var best = Double.infinity
    for _ in 0..<3 {
        let start = Clock.monotonicSeconds()
        var decoder = FrameDecoder()
        let batches = BatchDecoder()
        decoder.append(bytes)
        var count = 0
        while let frame = try decoder.nextFrame() {
            count += try batches.decode(frame).count
        }
        best = min(best, Clock.monotonicSeconds() - start)
        guard count == expected else { throw BenchmarkError("Swift decode counted \(count) events") }
    }
    return best
}

private func measureApply(_ bytes: [UInt8]) throws -> Double {
    var decoder = FrameDecoder()
    let batches = BatchDecoder()
    decoder.append(bytes)
    var decoded: [DecodedBatch] = []
    while let frame = try decoder.nextFrame() {
        decoded.append(try batches.decode(frame))
    }
    let applier = BatchApplier(tracker: try HeartbeatTracker(), goals: try GoalService(), metrics: IngestMetrics())
    let now = Timestamp(nanosecondsSinceEpoch: 1_796_299_200_000_000_000)
    let start = Clock.monotonicSeconds()
    for batch in decoded {
        _ = applier.apply(batch, receivedAt: now)
    }
    return Clock.monotonicSeconds() - start
}

/// Starts an ingest server with its own tracker, sends every stream on its own connection and returns the seconds
/// from the first byte sent to the last ack read.
private func measureServerIngest(streams: [[UInt8]], framesPerConnection: Int) throws -> Double {
    let exporterMetrics = ExporterMetrics()
    let tracker = try HeartbeatTracker(eventHandler: { exporterMetrics.observe($0) })
    let goals = try GoalService()
    let metrics = IngestMetrics()
    let server = IngestServer(
        configuration: IngestConfiguration(listenAddress: ListenAddress(host: "127.0.0.1", port: 0)),
        applier: BatchApplier(tracker: tracker, goals: goals, metrics: metrics),
        metrics: metrics,
        logger: benchLogger
    )
    let port = try server.start()
    defer { server.shutdown() }

    return try sendStreams(
        streams, framesPerStream: framesPerConnection, eventsPerFrame: 1000,
        to: ListenAddress(host: "127.0.0.1", port: port))
}

/// Sends every stream on its own connection (a writer thread and an ack-reader thread each) and returns the seconds
/// from the first byte sent to the last ack read.
///
/// - Throws: `BenchmarkError` when a write or an ack fails, or the acks applied fewer events than were sent.
private func sendStreams(
    _ streams: [[UInt8]], framesPerStream: Int, eventsPerFrame: Int, to address: ListenAddress
) throws -> Double {
    let sockets = try streams.map { _ in try Socket.connect(to: address) }
    defer { for socket in sockets { socket.close() } }
    let applied = Atomic<Int>(0)
    let failures = Mutex<[String]>([])
    let start = Clock.monotonicSeconds()
    var threads: [OSThread] = []
    for (socket, stream) in zip(sockets, streams) {
        threads.append(
            try OSThread {
                do {
                    try socket.writeAll(stream, to: address)
                } catch {
                    failures.withLock { $0.append("write: \(error)") }
                }
            }
        )
        threads.append(
            try OSThread {
                do {
                    applied.add(try readAcks(from: socket, count: framesPerStream), ordering: .relaxed)
                } catch {
                    failures.withLock { $0.append("acks: \(error)") }
                }
            }
        )
    }
    for thread in threads { thread.join() }
    let seconds = Clock.monotonicSeconds() - start

    if let failure = failures.withLock({ $0.first }) { throw BenchmarkError(failure) }
    let expected = streams.count * framesPerStream * eventsPerFrame
    guard applied.load(ordering: .relaxed) == expected else {
        throw BenchmarkError("acks applied \(applied.load(ordering: .relaxed)) of \(expected) events")
    }
    return seconds
}

/// Reads `count` acks and returns the events they say were applied.
func readAcks(from socket: Socket, count: Int) throws -> Int {
    var decoder = FrameDecoder()
    var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    var acks = 0
    var applied = 0
    while acks < count {
        if let frame = try decoder.nextFrame() {
            let ack = try Ack(decoding: frame)
            guard ack.status == .ok else { throw BenchmarkError("ack \(ack.sequence): \(ack.status) \(ack.message)") }
            applied += Int(ack.applied)
            acks += 1
            continue
        }
        switch socket.read(into: &buffer) {
        case .bytes(let read): decoder.append(buffer[0..<read])
        case .endOfStream, .wouldBlock: throw BenchmarkError("connection ended after \(acks) acks")
        case .failed(let error): throw error
        }
    }
    return applied
}

/// 5,000 idle connections held open: the exporter's memory per connection must stay flat (no per-connection
/// buffers until bytes arrive).
func benchmarkIdleConnections(count: Int) throws {
    let metrics = IngestMetrics()
    let tracker = try HeartbeatTracker()
    // Both ends of every connection are in this process: raise the soft open-file limit as the exporter does.
    let files = try ProcessLimits.raiseOpenFileLimit()
    guard files.soft >= UInt64(2 * count + 100) else {
        throw BenchmarkError(
            "holding \(count) connections needs \(2 * count + 100) file descriptors; the limit is \(files.soft): "
                + "raise the hard limit (ulimit -Hn)")
    }
    var configuration = IngestConfiguration(listenAddress: ListenAddress(host: "127.0.0.1", port: 0))
    configuration.maxConnections = count + 100
    let server = IngestServer(
        configuration: configuration,
        applier: BatchApplier(tracker: tracker, goals: try GoalService(), metrics: metrics),
        metrics: metrics,
        logger: benchLogger
    )
    let port = try server.start()
    defer { server.shutdown() }

    let before = baselineResidentBytes()
    let address = ListenAddress(host: "127.0.0.1", port: port)
    var sockets: [Socket] = []
    sockets.reserveCapacity(count)
    for _ in 0..<count {
        sockets.append(try Socket.connect(to: address))
    }
    let deadline = Clock.monotonicSeconds() + 30
    while metrics.snapshot().connectionsOpen < count, Clock.monotonicSeconds() < deadline {
        Clock.sleep(for: .milliseconds(10))
    }
    let open = metrics.snapshot().connectionsOpen
    let perConnection = Double(residentBytes() - before) / Double(count)

    // Every one of them is still served.
    var served = 0
    for (index, socket) in sockets.enumerated() where index % 50 == 0 {
        let batch = Batch(
            producerID: "idle-\(index)", sequence: 1,
            events: [Event(timeUnixNano: 0, .spend(Spend(agentID: "a", costUSD: 0.01)))])
        try socket.writeAll(try batch.makeFrame().serialized(), to: address)
        served += try readAcks(from: socket, count: 1)
    }
    for socket in sockets { socket.close() }

    print("connections: \(open) idle connections held (target \(count))")
    print(
        "  resident growth per connection: \(fixed(perConnection, 0)) bytes (server and client sides, user space); "
            + "\(served) of \(count / 50) probed connections served afterwards"
    )
    print("  check: \(verdict("connections: idle connections held and served", open == count && served == count / 50))")
}
