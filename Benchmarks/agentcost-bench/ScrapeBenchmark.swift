import AgentCostClient
import AgentCostServer
import AgentCostSystem
import AgentCostWire
import Synchronization

/// Ingest throughput while Prometheus scrapes `/metrics` every second, against the same ingest unscraped: the
/// issue's target is a drop of at most 10%.
///
/// Each phase runs a whole exporter (HTTP on libmicrohttpd, ingest, write-ahead log with group commit) that tracks a
/// fleet (`fleet` agents with a budget, a completed cycle and an open one) before the first batch arrives, so
/// that every scrape renders the whole fleet. The target is checked at 10,000 agents (about 150,000 series, already
/// a large target for a one-second interval); a `checked: false` run at 100,000 agents prints what a fleet whose
/// scrape outlasts the interval costs, without a target: there a scrape keeps about one core busy, which on two
/// cores no rendering can hide, and Prometheus would need a longer interval anyway (docs/metrics.md). Four connections then send pre-compressed batches for `phaseSeconds`;
/// in a scraped phase a client fetches `GET /metrics` over HTTP every second the way Prometheus does (its Accept
/// header, which negotiates OpenMetrics, and `Accept-Encoding: gzip`; a new connection per scrape, where
/// Prometheus would keep one open). Scraped and unscraped phases alternate in
/// pairs, the order flipping from pair to pair so that drift in the machine's speed falls on both, and the medians
/// are compared. Every phase starts from a fresh exporter and data directory.
///
/// The batches opt out of exactly-once (sequence 0), so each connection can send its stream again and again for as
/// long as a phase lasts without encoding tens of millions of events up front; exactly-once costs one lookup per
/// 1,000-event batch.
func benchmarkScrapedIngest(fleet: Int, pairs: Int = 3, phaseSeconds: Double = 8, checked: Bool = true) throws {
    let connections = 4
    let framesPerStream = 100
    let streams = try makeStreams(
        connections: connections, frames: framesPerStream, eventsPerFrame: 1000, exactlyOnce: false)
    print(
        "scrape: ingest while GET /metrics is scraped every second over HTTP (OpenMetrics, gzip), "
            + "\(fleet) agents tracked besides the \(connections * 2_000) that the batches use; "
            + "\(pairs) pairs of \(fixed(phaseSeconds, 0)) s phases"
    )

    var scrapedRates: [Double] = []
    var unscrapedRates: [Double] = []
    var scrapes: [ScrapeSample] = []
    for pair in 0..<pairs {
        for scraped in pair % 2 == 0 ? [false, true] : [true, false] {
            let phase = try measurePhase(
                streams: streams, framesPerStream: framesPerStream, seconds: phaseSeconds, fleet: fleet,
                scraped: scraped)
            let phaseRate = Double(phase.events) / phase.seconds
            if scraped {
                scrapedRates.append(phaseRate)
                scrapes += phase.scrapes
            } else {
                unscrapedRates.append(phaseRate)
            }
            print(
                "    pair \(pair + 1) \(scraped ? "scraped:  " : "unscraped:") \(rate(phaseRate)) events/s over "
                    + "\(fixed(phase.seconds, 1)) s" + (scraped ? ", \(phase.scrapes.count) scrapes" : "")
            )
        }
    }

    let scrapedMedian = median(scrapedRates)
    let unscrapedMedian = median(unscrapedRates)
    let change = scrapedMedian / unscrapedMedian - 1
    let seconds = scrapes.map(\.seconds)
    let bytes = scrapes.map { Double($0.compressedBytes) }
    print(
        "  a scrape: median \(fixed(median(seconds) * 1000, 0)) ms, slowest \(fixed((seconds.max() ?? 0) * 1000, 0)) "
            + "ms, \(fixed(median(bytes) / 1_048_576, 2)) MiB gzipped OpenMetrics"
    )
    if median(seconds) > 1 {
        print(
            "  note: the median scrape takes longer than the 1 s interval; Prometheus, whose scrape_timeout cannot "
                + "exceed its interval, would fail these scrapes")
    }
    let comparison =
        "  median scraped \(rate(scrapedMedian)) events/s vs unscraped \(rate(unscrapedMedian)): "
        + "\(fixed(change * 100, 1))%"
    if checked {
        print(
            comparison + "  (target within -10%)  "
                + "check: \(verdict("scrape: ingest while scraped every second", change >= -0.10))")
    } else {
        print(comparison + "  (no target at this size: a stress figure)")
    }
}

/// One `GET /metrics` as the scraper saw it.
struct ScrapeSample {
    let seconds: Double
    let compressedBytes: Int
}

/// Starts a fresh exporter with `fleet` agents, sends the streams for `seconds` (scraping every second when
/// `scraped`), and returns the events the acks applied and the seconds from the first byte sent to the last ack,
/// with the scrapes made meanwhile.
private func measurePhase(
    streams: [[UInt8]], framesPerStream: Int, seconds: Double, fleet: Int, scraped: Bool
) throws -> (events: Int, seconds: Double, scrapes: [ScrapeSample]) {
    let directory = "/tmp/agentcost-bench-scrape-\(UInt64.random(in: 0...UInt64.max))"
    defer { FileSystem.removeTree(directory) }
    var configuration = ExporterConfiguration()
    configuration.webListenAddress = ListenAddress(host: "127.0.0.1", port: 0)
    configuration.ingestListenAddress = ListenAddress(host: "127.0.0.1", port: 0)
    configuration.dataDirectory = directory
    let exporter = try Exporter(configuration: configuration, logger: benchLogger)
    let ports = try exporter.start()
    defer { exporter.stop() }
    try populate(exporter.tracker, agents: fleet)

    let scraper = scraped ? try Scraper(port: ports.web) : nil
    let ingested: (events: Int, seconds: Double)
    do {
        ingested = try sendStreams(
            streams, for: seconds, framesPerStream: framesPerStream,
            to: ListenAddress(host: "127.0.0.1", port: ports.ingest))
    } catch {
        _ = try? scraper?.finish()
        throw error
    }
    return (ingested.events, ingested.seconds, try scraper?.finish() ?? [])
}

/// Sends each stream on its own connection, again and again, starting no new round after `duration`; returns the
/// events the acks applied and the seconds from the first byte sent to the last ack read.
///
/// The writer counts a round's frames before writing them, so the ack reader blocks in `read` only while acks are
/// owed, and stops once the writer is done and every frame counted has its ack.
private func sendStreams(
    _ streams: [[UInt8]], for duration: Double, framesPerStream: Int, to address: ListenAddress
) throws -> (events: Int, seconds: Double) {
    let sockets = try streams.map { _ in try Socket.connect(to: address) }
    defer { for socket in sockets { socket.close() } }
    let applied = Atomic<Int>(0)
    let failures = Mutex<[String]>([])
    let start = Clock.monotonicSeconds()
    var threads: [OSThread] = []
    for (socket, stream) in zip(sockets, streams) {
        let framesSent = Atomic<Int>(0)
        let writerDone = Atomic<Bool>(false)
        threads.append(
            try OSThread {
                defer { writerDone.store(true, ordering: .releasing) }
                while Clock.monotonicSeconds() - start < duration {
                    framesSent.add(framesPerStream, ordering: .releasing)
                    do {
                        try socket.writeAll(stream, to: address)
                    } catch {
                        failures.withLock { $0.append("write: \(error)") }
                        return
                    }
                }
            }
        )
        threads.append(
            try OSThread {
                do {
                    applied.add(
                        try readAcks(
                            from: socket,
                            until: { acks in
                                let done = writerDone.load(ordering: .acquiring)
                                let owed = framesSent.load(ordering: .acquiring) - acks
                                return owed > 0 ? .owed : (done ? .finished : .waitForWriter)
                            }), ordering: .relaxed)
                } catch {
                    failures.withLock { $0.append("acks: \(error)") }
                }
            }
        )
    }
    for thread in threads { thread.join() }
    let seconds = Clock.monotonicSeconds() - start
    if let failure = failures.withLock({ $0.first }) { throw BenchmarkError(failure) }
    return (applied.load(ordering: .relaxed), seconds)
}

/// Where an ack reader stands: acks are owed (block in `read`), the writer may still send (wait without blocking),
/// or everything sent is acknowledged.
private enum AckState {
    case owed, waitForWriter, finished
}

/// Reads acks until `state` says every frame sent has its ack; returns the events they say were applied.
private func readAcks(from socket: Socket, until state: (_ acks: Int) -> AckState) throws -> Int {
    var decoder = FrameDecoder()
    var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    var acks = 0
    var applied = 0
    while true {
        if let frame = try decoder.nextFrame() {
            let ack = try Ack(decoding: frame)
            guard ack.status == .ok else { throw BenchmarkError("ack \(ack.sequence): \(ack.status) \(ack.message)") }
            applied += Int(ack.applied)
            acks += 1
            continue
        }
        switch state(acks) {
        case .finished: return applied
        case .waitForWriter:
            Clock.sleep(for: .milliseconds(1))
            continue
        case .owed: break
        }
        switch socket.read(into: &buffer) {
        case .bytes(let read): decoder.append(buffer[0..<read])
        case .endOfStream, .wouldBlock: throw BenchmarkError("connection ended after \(acks) acks")
        case .failed(let error): throw error
        }
    }
}

/// A thread that fetches `/metrics` every second, on a fixed grid as Prometheus does (a slot missed by a slow
/// scrape is skipped), until `finish()`.
private final class Scraper: Sendable {
    /// What Prometheus 2.x sends by default: OpenMetrics preferred, the text format accepted.
    static let accept =
        "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,"
        + "text/plain;version=0.0.4;q=0.3,*/*;q=0.2"

    private let done = Atomic<Bool>(false)
    private let samples = Mutex<[ScrapeSample]>([])
    private let failure = Mutex<String?>(nil)
    private let thread = Mutex<OSThread?>(nil)

    init(port: UInt16) throws {
        let client = OperatorClient(address: ListenAddress(host: "127.0.0.1", port: port), timeout: .seconds(10))
        let started = try OSThread { [self] in
            var next = Clock.monotonicSeconds()
            while !done.load(ordering: .acquiring) {
                let now = Clock.monotonicSeconds()
                guard now >= next else {
                    Clock.sleep(for: .milliseconds(5))
                    continue
                }
                do {
                    let sample = try scrape(client)
                    samples.withLock { $0.append(sample) }
                } catch {
                    failure.withLock { $0 = $0 ?? "\(error)" }
                }
                while next <= Clock.monotonicSeconds() { next += 1 }
            }
        }
        thread.withLock { $0 = started }
    }

    /// Stops the thread and returns the scrapes.
    ///
    /// - Throws: `BenchmarkError` when a scrape failed or did not get gzipped OpenMetrics.
    func finish() throws -> [ScrapeSample] {
        done.store(true, ordering: .releasing)
        thread.withLock { thread in
            thread?.join()
            thread = nil
        }
        if let failure = failure.withLock({ $0 }) { throw BenchmarkError(failure) }
        return samples.withLock { $0 }
    }

    private func scrape(_ client: OperatorClient) throws -> ScrapeSample {
        let start = Clock.monotonicSeconds()
        let reply = try client.send(
            "GET", "/metrics",
            headers: ["Accept": Self.accept, "Accept-Encoding": "gzip", "X-Prometheus-Scrape-Timeout-Seconds": "10"])
        let seconds = Clock.monotonicSeconds() - start
        guard reply.status == 200, reply.headers["content-encoding"] == "gzip",
            reply.headers["content-type"]?.hasPrefix("application/openmetrics-text") == true,
            reply.body.starts(with: [0x1F, 0x8B])
        else {
            throw BenchmarkError(
                "GET /metrics answered \(reply.status), \(reply.headers["content-type"] ?? "no content type"), "
                    + "\(reply.headers["content-encoding"] ?? "not encoded"), \(reply.body.count) bytes")
        }
        return ScrapeSample(seconds: seconds, compressedBytes: reply.body.count)
    }
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}
