import AgentCostCore
import AgentCostLog
import AgentCostSystem
import AgentCostWire
import Synchronization

/// Settings of the TCP ingest listener.
public struct IngestConfiguration: Sendable, Equatable {
    public var listenAddress: ListenAddress
    /// Event loop threads; each accepts, reads, decodes and applies on its own.
    public var loopCount: Int
    /// Connections beyond this are accepted and closed at once, and counted.
    public var maxConnections = 10_000
    /// A connection that sends nothing for this long is closed.
    public var idleTimeoutSeconds = 300.0
    /// A frame that has started arriving must be complete within this long (slow or stuck senders are closed).
    public var frameTimeoutSeconds = 30.0
    public var limits = WireLimits.default
    /// When set, a connection must open with a hello frame carrying this token.
    public var token: String?
    /// Warnings about one connection's bad input (rejected batches and events) are logged at most once per this
    /// many seconds; the next line says how many were suppressed.
    public var warningIntervalSeconds = 1.0

    /// Creates settings with `loopCount` loops, by default one per online processor.
    public init(listenAddress: ListenAddress, loopCount: Int = ProcessLimits.onlineProcessorCount()) {
        self.listenAddress = listenAddress
        self.loopCount = max(1, loopCount)
    }
}

/// The front door: accepts TCP connections from agent fleets, decodes their frames, applies batches and answers
/// each with an ack.
///
/// Each of `loopCount` threads runs its own epoll loop. All loops watch the listening socket with EPOLLEXCLUSIVE,
/// so the kernel hands each new connection to one of them, and that loop owns the connection for its whole life:
/// a connection's frames are decoded and applied in order on one thread, while different connections proceed on
/// all cores in parallel. docs/architecture.md explains why epoll directly rather than libuv.
public final class IngestServer: Sendable {
    public let configuration: IngestConfiguration
    let applier: BatchApplier
    let metrics: IngestMetrics
    let logger: Logger
    /// The write-ahead log batches go through before they are applied and acked; nil applies them at once (tests
    /// and benchmarks of the ingest path alone).
    let durability: Durability?
    /// Whether applying a logged batch binds `ApplyingRecord.current` (when webhooks need events traced to records).
    let tracesEventOrigins: Bool
    private let state = Mutex<Running?>(nil)
    let stopping = Atomic<Bool>(false)
    private let loops = Mutex<[IngestLoop]>([])
    private let nextLoopIndex = Atomic<Int>(0)

    private struct Running: Sendable {
        let listener: Socket
        let loops: [IngestLoop]
        let threads: [OSThread]
    }

    public init(
        configuration: IngestConfiguration,
        applier: BatchApplier,
        metrics: IngestMetrics,
        logger: Logger,
        durability: Durability? = nil,
        tracesEventOrigins: Bool = false
    ) {
        self.configuration = configuration
        self.applier = applier
        self.metrics = metrics
        self.logger = logger
        self.durability = durability
        self.tracesEventOrigins = tracesEventOrigins
    }

    /// Binds the listening socket and starts the loops.
    ///
    /// - Returns: the bound port (useful with port 0).
    /// - Throws: `SystemError` naming the address when it cannot be bound.
    @discardableResult
    public func start() throws(SystemError) -> UInt16 {
        let listener = try Socket.listen(on: configuration.listenAddress)
        var loops: [IngestLoop] = []
        var threads: [OSThread] = []
        do {
            for index in 0..<configuration.loopCount {
                loops.append(try IngestLoop(index: index, server: self, listener: listener))
            }
            self.loops.withLock { $0 = loops }
            for loop in loops {
                threads.append(try OSThread { loop.run() })
            }
        } catch {
            stopping.store(true, ordering: .releasing)
            for loop in loops { loop.wake() }
            for thread in threads { thread.join() }
            listener.close()
            throw error
        }
        state.withLock { $0 = Running(listener: listener, loops: loops, threads: threads) }
        self.loops.withLock { $0 = loops }
        let port = listener.localPort
        logger.info(
            "ingest listening",
            ["address": ListenAddress(host: configuration.listenAddress.host, port: port), "loops": loops.count]
        )
        return port
    }

    /// The loop that takes the next accepted connection, round-robin.
    func nextLoop() -> IngestLoop {
        loops.withLock { loops in
            loops[nextLoopIndex.add(1, ordering: .relaxed).oldValue % loops.count]
        }
    }

    /// Stops accepting, finishes and acknowledges the frames already received, closes every connection, and waits
    /// for the loops to end.
    public func shutdown() {
        guard
            let running = state.withLock({ state in
                defer { state = nil }
                return state
            })
        else { return }
        stopping.store(true, ordering: .releasing)
        for loop in running.loops { loop.wake() }
        for thread in running.threads { thread.join() }
        running.listener.close()
        logger.info("ingest stopped")
    }
}

/// Compares two tokens in time that depends only on their lengths, not on where they first differ.
func tokensMatch(_ given: String, _ expected: String) -> Bool {
    let left = Array(given.utf8)
    let right = Array(expected.utf8)
    var difference = UInt8(left.count == right.count ? 0 : 1)
    for index in 0..<max(left.count, right.count) {
        difference |= (index < left.count ? left[index] : 0) ^ (index < right.count ? right[index] : 0)
    }
    return difference == 0
}
