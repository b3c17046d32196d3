import AgentCostWebhooks
import Foundation
import Testing

@Suite struct WebhookConfigurationTests {
    private func writeFile(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "webhook-\(UUID().uuidString)"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func parsesEveryKindWithSecretsAndDefaults() throws {
        let secret = try writeFile("whsec-1\n")
        let configuration = try WebhookConfiguration.parse(
            """
            {
              "targets": [
                {"name": "paperclip", "kind": "orchestrator", "url": "http://127.0.0.1:3100",
                 "authorization_env": "PAPERCLIP_AUTH", "pause_path": "/v2/agents/{agent_id}/pause"},
                {"name": "hooks", "kind": "generic", "url": "https://example.test/hook", "secret_file": "\(secret)",
                 "events": ["paused", "cycle_ended"]},
                {"kind": "alertmanager", "url": "http://127.0.0.1:5001/", "external_url": "http://exporter:9470"}
              ],
              "timeout": "5s", "connect_timeout": 1, "initial_backoff": "250ms", "max_backoff": "1m",
              "max_attempts": 7, "max_age": "2h", "max_queue": 50
            }
            """,
            environment: { $0 == "PAPERCLIP_AUTH" ? "Bearer pc-1" : nil })
        #expect(configuration.targets.map(\.name) == ["paperclip", "hooks", "alertmanager"])
        let paperclip = configuration.targets[0]
        #expect(paperclip.events == [.paused])
        #expect(paperclip.authorization == "Bearer pc-1")
        #expect(paperclip.pausePath == "/v2/agents/{agent_id}/pause")
        #expect(configuration.targets[1].secret == Array("whsec-1".utf8))
        #expect(configuration.targets[1].events == [.paused, .cycleEnded])
        #expect(configuration.targets[2].events == [.paused, .resumed, .anomaly, .budgetWarning, .goalExceeded])
        #expect(configuration.targets[2].receiver == "alertmanager")
        #expect(configuration.requestTimeoutSeconds == 5)
        #expect(configuration.connectTimeoutSeconds == 1)
        #expect(configuration.initialBackoffSeconds == 0.25)
        #expect(configuration.maxBackoffSeconds == 60)
        #expect(configuration.maxAttempts == 7)
        #expect(configuration.maxAgeSeconds == 7200)
        #expect(configuration.maxQueueLength == 50)
        // Secrets stay out of descriptions (and so out of the logs).
        #expect(!configuration.targets.map(\.description).joined().contains("pc-1"))
        #expect(!configuration.targets.map(\.description).joined().contains("whsec"))
    }

    @Test(arguments: [
        ("{\"targets\": [{\"kind\": \"pager\", \"url\": \"http://x\"}]}", "targets[0].kind \"pager\" is not one of"),
        ("{\"targets\": [{\"kind\": \"generic\", \"url\": \"http://x\"}]}", "a generic target needs secret_file"),
        ("{\"targets\": [{\"kind\": \"orchestrator\", \"url\": \"ftp://x\"}]}", "must start with http:// or https://"),
        (
            "{\"targets\": [{\"kind\": \"orchestrator\", \"url\": \"http://x\", \"events\": [\"anomaly\"]}]}",
            "orchestrator targets cannot carry anomaly"
        ),
        (
            "{\"targets\": [{\"kind\": \"orchestrator\", \"url\": \"http://x\", \"secret\": \"x\"}]}",
            "targets[0] has an unknown field \"secret\""
        ),
        (
            "{\"targets\": [{\"kind\": \"orchestrator\", \"url\": \"http://x\"}, "
                + "{\"kind\": \"orchestrator\", \"url\": \"http://y\"}]}",
            "target name \"orchestrator\" is used twice"
        ),
        ("{\"targets\": [], \"timeout\": \"soon\"}", "timeout must be a positive duration"),
        ("{\"targets\": [", "not JSON"),
        (
            "{\"targets\": [{\"kind\": \"orchestrator\", \"url\": \"http://x\", \"authorization_env\": \"NOPE_X\"}]}",
            "the environment variable NOPE_X is unset or empty"
        ),
    ])
    func rejectsWithAMessageNamingTheField(json: String, message: String) {
        #expect {
            try WebhookConfiguration.parse(json, environment: { _ in nil })
        } throws: { error in
            (error as? WebhookError)?.message.contains(message) == true
        }
    }

    @Test func loadNamesTheFileInItsErrors() throws {
        let path = try writeFile("{\"targets\": 3}")
        #expect {
            try WebhookConfiguration.load(file: path)
        } throws: { error in
            (error as? WebhookError)?.message.hasPrefix("--webhook.config-file=\(path): \"targets\" must be") == true
        }
        #expect {
            try WebhookConfiguration.load(file: "/nonexistent/webhooks.json")
        } throws: { error in
            (error as? WebhookError)?.code == .invalidConfiguration
        }
    }
}
