import AgentCostCore
import AgentCostLog
import AgentCostSystem
import AgentCostWire
import Synchronization
import Testing

@testable import AgentCostServer

/// A real ingest server on an ephemeral loopback port, with its tracker, for one test.
final class RunningIngest: Sendable {
    let tracker: HeartbeatTracker
    let goals: GoalService
    let metrics = IngestMetrics()
    let server: IngestServer
    let port: UInt16
    let logLines = LogCapture()

    init(
        token: String? = nil,
        idleTimeout: Double = 300,
        frameTimeout: Double = 30,
        limits: WireLimits = .default,
        maxConnections: Int = 10_000,
        maximumAgents: Int = 1_000_000,
        maximumGoals: Int = 10_000,
        warningInterval: Double = 1
    ) throws {
        tracker = try HeartbeatTracker(configuration: TrackerConfiguration(maximumAgents: maximumAgents))
        goals = try GoalService(maximumGoals: maximumGoals)
        var configuration = IngestConfiguration(listenAddress: ListenAddress(host: "127.0.0.1", port: 0))
        configuration.token = token
        configuration.idleTimeoutSeconds = idleTimeout
        configuration.frameTimeoutSeconds = frameTimeout
        configuration.limits = limits
        configuration.maxConnections = maxConnections
        configuration.warningIntervalSeconds = warningInterval
        server = IngestServer(
            configuration: configuration,
            applier: BatchApplier(tracker: tracker, goals: goals, metrics: metrics),
            metrics: metrics,
            logger: Logger(component: "test", level: .debug, sink: logLines.sink)
        )
        port = try server.start()
    }

    func connect() throws -> TestConnection {
        try TestConnection(port: port)
    }

    deinit {
        server.shutdown()
    }
}

/// A blocking client connection that speaks frames, for driving the server byte by byte.
final class TestConnection {
    let socket: Socket
    private let server: ListenAddress
    private var decoder = FrameDecoder()
    private var buffer = [UInt8](repeating: 0, count: 64 * 1024)

    init(port: UInt16) throws {
        server = ListenAddress(host: "127.0.0.1", port: port)
        socket = try Socket.connect(to: server)
        socket.setReceiveTimeout(seconds: 10)
    }

    deinit {
        socket.close()
    }

    func send(_ bytes: [UInt8]) throws {
        try socket.writeAll(bytes, to: server)
    }

    func send(_ frame: Frame) throws {
        try send(frame.serialized())
    }

    func send(_ batch: Batch, compressionLevel: Int? = 6) throws {
        try send(batch.makeFrame(compressionLevel: compressionLevel))
    }

    /// Reads the next ack; nil when the server closed the connection first.
    func readAck() throws -> Ack? {
        while true {
            if let frame = try decoder.nextFrame() {
                return try Ack(decoding: frame)
            }
            switch socket.read(into: &buffer) {
            case .bytes(let count):
                decoder.append(buffer[0..<count])
            case .endOfStream:
                return nil
            case .wouldBlock:
                Issue.record("timed out waiting for an ack")
                return nil
            case .failed(let error):
                throw error
            }
        }
    }

    /// Sends a batch and returns its ack.
    func exchange(_ batch: Batch, compressionLevel: Int? = 6) throws -> Ack {
        try send(batch, compressionLevel: compressionLevel)
        return try #require(try readAck())
    }

    /// True when the server has closed the connection (reads end of stream within the timeout).
    func isClosedByServer() -> Bool {
        while true {
            switch socket.read(into: &buffer) {
            case .bytes: continue
            case .endOfStream, .failed: return true
            case .wouldBlock: return false
            }
        }
    }
}

final class LogCapture: Sendable {
    private let storage = Mutex<[String]>([])
    var lines: [String] { storage.withLock { $0 } }
    var sink: Logger.Sink { { line in self.storage.withLock { $0.append(line) } } }
}

let epochNanos: Int64 = 1_796_299_200_000_000_000

func spend(_ agent: String, _ cost: Double, goal: String = "", at offset: Int64 = 0) -> Event {
    Event(
        timeUnixNano: epochNanos + offset, .spend(Spend(agentID: agent, costUSD: cost, goalID: goal, model: "gpt-4o")))
}

func cycleStart(_ agent: String, at offset: Int64 = 0) -> Event {
    Event(timeUnixNano: epochNanos + offset, .cycleStart(CycleStart(agentID: agent)))
}

func cycleEnd(_ agent: String, at offset: Int64 = 0) -> Event {
    Event(timeUnixNano: epochNanos + offset, .cycleEnd(CycleEnd(agentID: agent)))
}

func budget(_ agent: String, _ dollars: Double, at offset: Int64 = 0) -> Event {
    Event(timeUnixNano: epochNanos + offset, .setBudget(SetBudget(agentID: agent, budgetUSD: dollars)))
}
