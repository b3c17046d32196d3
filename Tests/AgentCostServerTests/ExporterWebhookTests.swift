import AgentCostCore
import AgentCostHTTP
import AgentCostLog
import AgentCostStore
import AgentCostSystem
import AgentCostWebhooks
import AgentCostWire
import Synchronization
import Testing

@testable import AgentCostServer

/// What a receiver got: each request and when it arrived (monotonic seconds).
private final class Recorded: Sendable {
    let items = Mutex<[(request: HTTPRequest, arrivedAt: Double)]>([])
}

/// A loopback HTTP receiver that records requests and answers 200.
private final class RecordingReceiver: Sendable {
    private let recorded: Recorded
    private let server: HTTPServer

    init() throws {
        let recorded = Recorded()
        self.recorded = recorded
        server = try HTTPServer.start(
            on: ListenAddress(host: "127.0.0.1", port: 0), logger: Logger(component: "receiver", level: .error)
        ) { request in
            recorded.items.withLock { $0.append((request, Clock.monotonicSeconds())) }
            return .text("ok\n")
        }
    }

    var url: String { "http://127.0.0.1:\(server.port)" }

    func waitFor(_ count: Int, timeout: Double = 10) -> [(request: HTTPRequest, arrivedAt: Double)] {
        let deadline = Clock.monotonicSeconds() + timeout
        while Clock.monotonicSeconds() < deadline {
            let seen = recorded.items.withLock { $0 }
            if seen.count >= count { return seen }
            Clock.sleep(for: .milliseconds(2))
        }
        return recorded.items.withLock { $0 }
    }

    func stop() {
        server.stop()
    }
}

/// An exporter on loopback ports with one orchestrator target (pauses only).
private func webhookConfiguration(directory: String, orchestratorURL: String) -> ExporterConfiguration {
    var configuration = ExporterConfiguration()
    configuration.webListenAddress = ListenAddress(host: "127.0.0.1", port: 0)
    configuration.ingestListenAddress = ListenAddress(host: "127.0.0.1", port: 0)
    configuration.dataDirectory = directory
    configuration.webhookOrchestratorURL = orchestratorURL
    return configuration
}

@Suite("Webhooks wired into the exporter", .serialized)
struct ExporterWebhookTests {
    @Test func aPauseFromIngestReachesTheOrchestratorAndTheGenericHookAndShowsInMetrics() throws {
        let orchestrator = try RecordingReceiver()
        defer { orchestrator.stop() }
        let hooks = try RecordingReceiver()
        defer { hooks.stop() }

        let directory = "/tmp/agentcost-exporter-webhooks-\(UInt64.random(in: 0...UInt64.max))"
        let secretFile = directory + ".secret"
        let authorizationFile = directory + ".auth"
        let configFile = directory + ".json"
        try writeTextFile(secretFile, "whsec-exporter\n")
        try writeTextFile(authorizationFile, "Bearer pc-key\n")
        try writeTextFile(
            configFile,
            """
            {"targets": [{"name": "hooks", "kind": "generic", "url": "\(hooks.url)/hook",
                          "secret_file": "\(secretFile)", "events": ["paused", "goal_exceeded"]}]}
            """)

        let command = try ExporterConfiguration.parse(
            arguments: [
                "--web.listen-address=127.0.0.1:0", "--ingest.listen-address=127.0.0.1:0", "--data.dir=\(directory)",
                "--webhook.config-file=\(configFile)", "--webhook.orchestrator-url=\(orchestrator.url)",
            ],
            environment: ["AGENTCOST_WEBHOOK_ORCHESTRATOR_AUTHORIZATION_FILE": authorizationFile])
        guard case .run(let configuration) = command else {
            Issue.record("expected a configuration to run")
            return
        }
        let exporter = try Exporter(configuration: configuration, logger: Logger(component: "test", level: .error))
        let ports = try exporter.start()
        defer { exporter.stop() }
        try exporter.goals.createGoal("launch", name: "Launch", budget: 1.0, at: Timestamp(secondsSinceEpoch: 1))

        // Spend over the real ingest port: $1.20 against a $1 budget pauses the agent, and the goal is exceeded.
        let sent = Clock.monotonicSeconds()
        try TestConnection(port: ports.ingest).exchange(
            Batch(
                producerID: "", sequence: 0,
                events: [budget("agent-9", 1), spend("agent-9", 1.20, goal: "launch", at: 1_000)]))

        let pause = orchestrator.waitFor(1)
        try #require(pause.count == 1)
        #expect(pause[0].arrivedAt - sent < 1, "the pause took \(pause[0].arrivedAt - sent)s")
        #expect(pause[0].request.path == "/api/agents/agent-9/pause")
        #expect(pause[0].request.headers["Authorization"] == "Bearer pc-key")
        let pauseBody = String(decoding: pause[0].request.body, as: UTF8.self)
        #expect(pauseBody.contains("\"agent_id\":\"agent-9\""))
        #expect(pauseBody.contains("\"spend\":1.2,\"budget\":1,\"period\":\"lifetime\""))

        let generic = hooks.waitFor(2)
        let types = generic.map { String(decoding: $0.request.body, as: UTF8.self) }.map { body in
            body.contains("\"type\":\"paused\"") ? "paused" : body.contains("\"type\":\"goal_exceeded\"") ? "goal" : "?"
        }
        #expect(Set(types) == ["paused", "goal"])
        for item in generic {
            let timestamp = try #require(item.request.headers["X-Agentcost-Timestamp"])
            let expected = HMACSHA256.hexSignature(
                key: Array("whsec-exporter".utf8), message: Array((timestamp + ".").utf8) + item.request.body)
            #expect(item.request.headers["X-Agentcost-Signature"] == "sha256=" + expected)
        }

        // The metrics.
        Clock.sleep(for: .milliseconds(50))
        let text = String(decoding: exporter.renderMetrics(format: .prometheusText), as: UTF8.self)
        #expect(text.contains("agentcost_webhook_deliveries_total{target=\"orchestrator\",result=\"delivered\"} 1\n"))
        #expect(text.contains("agentcost_webhook_deliveries_total{target=\"hooks\",result=\"delivered\"} 2\n"))
        #expect(text.contains("agentcost_webhook_failures_total{target=\"hooks\",reason=\"http_5xx\"} 0\n"))
        #expect(text.contains("agentcost_webhook_retries_total{target=\"orchestrator\"} 0\n"))
        #expect(text.contains("agentcost_webhook_queue_depth{target=\"hooks\"} 0\n"))
        #expect(text.contains("agentcost_webhook_delivery_seconds_count 3\n"))
    }

    @Test func aRestartReplaysThePauseWithoutSendingItAgain() throws {
        let orchestrator = try RecordingReceiver()
        defer { orchestrator.stop() }
        let directory = "/tmp/agentcost-exporter-webhooks-\(UInt64.random(in: 0...UInt64.max))"
        defer { FileSystem.removeTree(directory) }
        let configuration = webhookConfiguration(directory: directory, orchestratorURL: orchestrator.url)

        let first = try Exporter(configuration: configuration, logger: Logger(component: "test", level: .error))
        let ports = try first.start()
        let ack = try TestConnection(port: ports.ingest).exchange(
            Batch(producerID: "p", sequence: 1, events: [budget("a", 1), spend("a", 1.5)]))
        #expect(ack.pausedAgents == ["a"])
        #expect(orchestrator.waitFor(1).count == 1)
        Clock.sleep(for: .milliseconds(50))  // the delivered marker reaches the outbox
        first.abandon()

        // A crash leaves no snapshot: the restart replays the batch from the write-ahead log, and the agent is
        // paused again. The pause was taken into the outbox (and delivered) before, so it is not sent again.
        let second = try Exporter(configuration: configuration, logger: Logger(component: "test", level: .error))
        _ = try second.start()
        defer { second.stop() }
        #expect(second.recovery?.recordsReplayed == 1)
        #expect(second.tracker.isPaused("a"))
        #expect(orchestrator.waitFor(2, timeout: 1).count == 1)
    }

    @Test func aPauseLostBetweenTheLogAndTheOutboxIsDeliveredOnceAfterTheRestart() throws {
        let directory = "/tmp/agentcost-exporter-webhooks-\(UInt64.random(in: 0...UInt64.max))"
        defer { FileSystem.removeTree(directory) }
        let outboxPath = directory + "/webhooks/outbox.log"

        // First run: the orchestrator is down, so the pause stays in the outbox.
        let down = try RecordingReceiver()
        let downURL = down.url
        down.stop()
        let first = try Exporter(
            configuration: webhookConfiguration(directory: directory, orchestratorURL: downURL),
            logger: Logger(component: "test", level: .error))
        let ports = try first.start()
        let beforeThePause = try DataFile.open(outboxPath, .read).readAll()
        let ack = try TestConnection(port: ports.ingest).exchange(
            Batch(producerID: "p", sequence: 1, events: [budget("a", 1), spend("a", 1.5)]))
        #expect(ack.pausedAgents == ["a"])
        first.abandon()
        let queued = String(decoding: try DataFile.open(outboxPath, .read).readAll(), as: UTF8.self)
        let eventID = try #require(queued.firstMatch(of: /evt_[0-9a-f]{32}/)).output

        // The crash window: the batch's log record is durable (and acknowledged), the outbox append is not.
        let file = try DataFile.open(outboxPath, .create)
        try file.write(beforeThePause)
        try file.sync()
        file.close()

        // The restart replays the record and, finding its pause missing from the outbox, queues it again with the
        // same event id: the orchestrator gets it exactly once.
        let orchestrator = try RecordingReceiver()
        defer { orchestrator.stop() }
        let lines = LogCapture()
        let configuration = webhookConfiguration(directory: directory, orchestratorURL: orchestrator.url)
        let second = try Exporter(
            configuration: configuration, logger: Logger(component: "test", level: .info, sink: lines.sink))
        _ = try second.start()
        #expect(second.recovery?.recordsReplayed == 1)
        #expect(second.tracker.isPaused("a"))
        let delivered = orchestrator.waitFor(1)
        try #require(delivered.count == 1)
        #expect(delivered[0].request.path == "/api/agents/a/pause")
        #expect(delivered[0].request.headers["Idempotency-Key"] == String(eventID))
        #expect(lines.lines.contains { $0.contains("webhook event of a replayed log record queued") })
        #expect(orchestrator.waitFor(2, timeout: 0.5).count == 1)

        // Another crash and restart: the outbox's mark now covers the record, so nothing goes out again.
        Clock.sleep(for: .milliseconds(50))
        second.abandon()
        let third = try Exporter(configuration: configuration, logger: Logger(component: "test", level: .error))
        _ = try third.start()
        defer { third.stop() }
        #expect(third.recovery?.recordsReplayed == 1)
        #expect(third.tracker.isPaused("a"))
        #expect(orchestrator.waitFor(2, timeout: 1).count == 1)
    }

    @Test func withoutWebhookFlagsThereIsNoDispatcherAndNoWebhookMetrics() throws {
        let running = try RunningExporter()
        #expect(running.exporter.webhooks == nil)
        let text = String(decoding: running.exporter.renderMetrics(format: .prometheusText), as: UTF8.self)
        #expect(!text.contains("agentcost_webhook_"))
    }

    @Test func webhookFlagsAreCheckedAtStartup() throws {
        #expect(throws: ConfigurationError.self) {
            try ExporterConfiguration.parse(arguments: ["--webhook.orchestrator-url=ftp://x"], environment: [:])
        }
        var configuration = ExporterConfiguration()
        configuration.webhookOrchestratorAuthorizationFile = "/nonexistent"
        #expect(
            throws: ConfigurationError(
                "--webhook.orchestrator-authorization-file needs --webhook.orchestrator-url; set the URL too")
        ) {
            try configuration.makeWebhookConfiguration()
        }
        configuration.webhookOrchestratorURL = "http://127.0.0.1:3100"
        #expect {
            try configuration.makeWebhookConfiguration()
        } throws: { error in
            (error as? ConfigurationError)?.message.hasPrefix(
                "--webhook.orchestrator-authorization-file: /nonexistent cannot be read") == true
        }
        configuration.webhookOrchestratorAuthorizationFile = nil
        let made = try #require(try configuration.makeWebhookConfiguration())
        #expect(made.targets.map(\.description) == ["orchestrator (orchestrator) http://127.0.0.1:3100 events=paused"])
    }
}
