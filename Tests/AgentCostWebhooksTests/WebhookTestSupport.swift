// A real HTTP receiver on 127.0.0.1 (AgentCostHTTP's server on libmicrohttpd) that records what arrives and answers
// as a test tells it to, plus helpers that produce real tracker events.
import AgentCostCore
import AgentCostHTTP
import AgentCostLog
import AgentCostSystem
import AgentCostWebhooks
import Foundation
import Synchronization

/// A received request and when it arrived (monotonic seconds).
struct Received: Sendable {
    var request: HTTPRequest
    var arrivedAt: Double

    var text: String { String(decoding: request.body, as: UTF8.self) }
    var json: [String: JSONLike] { JSONLike.object(text) }
}

/// Records requests and answers with the status (and Retry-After) of the moment (200 unless told otherwise).
final class Receiver: Sendable {
    private let server: HTTPServer
    private let state = Mutex<(received: [Received], status: Int, retryAfter: String?)>(([], 200, nil))

    private init(server: HTTPServer) {
        self.server = server
    }

    static func start(status: Int = 200) throws -> Receiver {
        let box = StateBox()
        let server = try HTTPServer.start(
            on: ListenAddress(host: "127.0.0.1", port: 0), logger: quietLogger,
            handler: { request in box.handle(request) })
        let receiver = Receiver(server: server)
        receiver.answer(with: status)
        box.receiver.withLock { $0 = receiver }
        return receiver
    }

    fileprivate func record(_ request: HTTPRequest) -> HTTPResponse {
        let (status, retryAfter) = state.withLock { state in
            state.received.append(Received(request: request, arrivedAt: Clock.monotonicSeconds()))
            return (state.status, state.retryAfter)
        }
        var response = HTTPResponse.text("status \(status)\n", status: status)
        if let retryAfter {
            response.headers.set("Retry-After", retryAfter)
        }
        return response
    }

    var url: String { "http://127.0.0.1:\(server.port)" }

    var received: [Received] { state.withLock { $0.received } }

    func answer(with status: Int, retryAfter: String? = nil) {
        state.withLock { ($0.status, $0.retryAfter) = (status, retryAfter) }
    }

    /// Waits until at least `count` requests arrived; returns them.
    @discardableResult
    func waitFor(_ count: Int, timeout: Double = 10) -> [Received] {
        let deadline = Clock.monotonicSeconds() + timeout
        while Clock.monotonicSeconds() < deadline {
            let received = self.received
            if received.count >= count { return received }
            Clock.sleep(for: .milliseconds(2))
        }
        return received
    }

    func stop() {
        server.stop()
    }
}

/// Lets the server's handler reach the receiver created after it.
private final class StateBox: Sendable {
    let receiver = Mutex<Receiver?>(nil)

    func handle(_ request: HTTPRequest) -> HTTPResponse {
        guard let receiver = receiver.withLock({ $0 }) else { return .text("starting\n", status: 503) }
        return receiver.record(request)
    }
}

let quietLogger = Logger(component: "webhook-test", level: .error, sink: { _ in })

/// Collects log lines.
final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])

    var all: [String] { lines.withLock { $0 } }

    var logger: Logger {
        Logger(component: "webhooks", level: .debug, sink: { [self] line in lines.withLock { $0.append(line) } })
    }

    func contains(_ text: String) -> Bool {
        all.contains { $0.contains(text) }
    }
}

/// A port nothing listens on: bound by a server that is then stopped.
func deadURL() throws -> String {
    let receiver = try Receiver.start()
    let url = receiver.url
    receiver.stop()
    return url
}

/// A fresh, empty data directory.
func makeDataDirectory() -> String {
    let path = NSTemporaryDirectory() + "agentcost-webhooks-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Settings that retry fast, so that tests of retries take milliseconds.
func fastConfiguration(_ targets: [WebhookTarget]) -> WebhookConfiguration {
    var configuration = WebhookConfiguration(targets: targets)
    configuration.connectTimeoutSeconds = 1
    configuration.requestTimeoutSeconds = 2
    configuration.initialBackoffSeconds = 0.01
    configuration.maxBackoffSeconds = 0.05
    return configuration
}

/// A generic target for pauses and resumes only (the spend that pauses also crosses the warning ratio).
func genericTarget(
    _ url: String, secret: String = "s3cret", events: Set<WebhookEventType> = [.paused, .resumed]
) -> WebhookTarget {
    var target = WebhookTarget(name: "hooks", kind: .generic, url: url + "/hook", events: events)
    target.secret = Array(secret.utf8)
    return target
}

let t0 = Timestamp(secondsSinceEpoch: 1_767_225_600)

/// Real tracker events: the tracker decides, the test only spends.
struct EventSource {
    let tracker: HeartbeatTracker

    init(_ handler: @escaping @Sendable (TrackerEvent) -> Void) throws {
        tracker = try HeartbeatTracker(configuration: TrackerConfiguration(), eventHandler: handler)
    }

    /// Gives `agent` a $1 budget and spends $1.50, which pauses it.
    func pause(_ agent: String, at seconds: Double = 0) throws {
        try tracker.setBudget(agent, budget: 1.0, at: t0.advanced(bySeconds: seconds))
        try tracker.recordSpend(agent, 1.5, at: t0.advanced(bySeconds: seconds + 1))
    }

    /// Raises the budget above the spend, which resumes it.
    func resume(_ agent: String, at seconds: Double = 0) throws {
        try tracker.setBudget(agent, budget: 10.0, at: t0.advanced(bySeconds: seconds + 2))
    }
}

/// Just enough JSON reading for assertions, through Foundation (independent of the code under test).
enum JSONLike: Sendable {
    case value(String)
    case object([String: JSONLike])
    case array([JSONLike])

    static func object(_ text: String) -> [String: JSONLike] {
        guard let data = text.data(using: .utf8),
            let parsed = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return [:] }
        return parsed.mapValues(convert)
    }

    private static func convert(_ value: Any) -> JSONLike {
        switch value {
        case let map as [String: Any]: .object(map.mapValues(convert))
        case let list as [Any]: .array(list.map(convert))
        default: .value("\(value)")
        }
    }

    var string: String? {
        if case .value(let text) = self { return text }
        return nil
    }

    subscript(key: String) -> JSONLike? {
        if case .object(let map) = self { return map[key] }
        return nil
    }

    var map: [String: JSONLike]? {
        if case .object(let map) = self { return map }
        return nil
    }

    var list: [JSONLike]? {
        if case .array(let list) = self { return list }
        return nil
    }
}

/// Runs a program and returns its standard output.
func run(_ executable: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}
