import AgentCostCore
import AgentCostHTTP
import AgentCostSystem
import AgentCostWebhooks
import Foundation
import Testing

@Suite(.serialized) struct WebhookDispatcherTests {
    @Test func aPauseReachesTheOrchestratorOnceWithinMilliseconds() throws {
        let receiver = try Receiver.start()
        defer { receiver.stop() }
        var target = WebhookTarget(name: "paperclip", kind: .orchestrator, url: receiver.url)
        target.authorization = "Bearer pc-key"
        let dispatcher = try WebhookDispatcher(
            configuration: fastConfiguration([target]), dataDirectory: makeDataDirectory(), logger: quietLogger)
        try dispatcher.start()
        defer { dispatcher.stop() }
        let source = try EventSource { dispatcher.handle($0) }

        let spent = Clock.monotonicSeconds()
        try source.pause("agent-7/a b")
        let received = receiver.waitFor(1)
        try #require(received.count == 1)
        let latency = received[0].arrivedAt - spent
        #expect(latency < 0.5, "the pause took \(latency)s to arrive")

        let request = received[0].request
        #expect(request.method == "POST")
        // The server decodes the path; a raw space or slash would not have arrived as one path segment.
        #expect(request.path == "/api/agents/agent-7/a b/pause")
        #expect(request.headers["Authorization"] == "Bearer pc-key")
        #expect(request.headers["Content-Type"] == "application/json")
        let body = received[0].json
        #expect(body["agent_id"]?.string == "agent-7/a b")
        #expect(body["reason"]?.string == "Budget exceeded: $1.50 / $1.00")
        #expect(body["spend"]?.string == "1.5")
        #expect(body["budget"]?.string == "1")
        #expect(body["period"]?.string == "lifetime")
        #expect(body["time"]?.string == "2026-01-01T00:00:01.000Z")
        #expect(request.headers["Idempotency-Key"] == body["event_id"]?.string)

        // Exactly one logical delivery: nothing more arrives, and the counters agree.
        Clock.sleep(for: .milliseconds(200))
        #expect(receiver.received.count == 1)
        let counters = try #require(dispatcher.metrics.snapshot(target: "paperclip"))
        #expect(counters.delivered == 1)
        #expect(counters.queueDepth == 0)
        #expect(dispatcher.metrics.deliverySeconds.snapshot().count == 1)
    }

    @Test func aReceiverThatFailsForAWhileGetsEveryEventInOrder() throws {
        let receiver = try Receiver.start(status: 503)
        defer { receiver.stop() }
        let logs = LogLines()
        let dispatcher = try WebhookDispatcher(
            configuration: fastConfiguration([genericTarget(receiver.url)]), dataDirectory: makeDataDirectory(),
            logger: logs.logger)
        try dispatcher.start()
        defer { dispatcher.stop() }
        let source = try EventSource { dispatcher.handle($0) }

        // Ten agents pause and five resume while the receiver answers 503.
        for index in 0..<10 {
            try source.pause("agent-\(index)", at: Double(index))
        }
        for index in 0..<5 {
            try source.resume("agent-\(index)", at: 20 + Double(index))
        }
        receiver.waitFor(5)
        receiver.answer(with: 200)

        // The first event was retried; once the receiver is back, all 15 arrive, in the order they happened.
        let deadline = Clock.monotonicSeconds() + 10
        while dispatcher.metrics.snapshot(target: "hooks")?.delivered ?? 0 < 15, Clock.monotonicSeconds() < deadline {
            Clock.sleep(for: .milliseconds(5))
        }
        let accepted = receiver.received.map(\.json)
        var delivered: [String] = []
        for body in accepted where !delivered.contains(body["id"]?.string ?? "") {
            delivered.append(body["id"]?.string ?? "")
        }
        let expectedOrder =
            (0..<10).map { "paused agent-\($0)" } + (0..<5).map { "resumed agent-\($0)" }
        let actualOrder = uniqueEvents(receiver.received)
        #expect(actualOrder == expectedOrder)
        #expect(delivered.count == 15)

        let counters = try #require(dispatcher.metrics.snapshot(target: "hooks"))
        #expect(counters.delivered == 15)
        #expect(counters.abandoned == 0)
        #expect(counters.retries >= 4)
        #expect(counters.failures.first { $0.reason == "http_5xx" }?.count == counters.retries)
        #expect(counters.queueDepth == 0)
        #expect(logs.contains("msg=\"webhook delivery failed; will retry\" target=hooks event_id=evt_"))
        #expect(logs.contains("reason=http_5xx detail=\"status 503\" attempt=1 next_retry=20"))
    }

    @Test func aConnectionRefusedIsRetriedUntilTheReceiverListens() throws {
        // The receiver is down (nothing listens): attempts fail with `connection` and are retried.
        let url = try deadURL()
        let directory = makeDataDirectory()
        let logs = LogLines()
        let dispatcher = try WebhookDispatcher(
            configuration: fastConfiguration([genericTarget(url)]), dataDirectory: directory, logger: logs.logger)
        try dispatcher.start()
        let source = try EventSource { dispatcher.handle($0) }
        try source.pause("agent-1")
        let deadline = Clock.monotonicSeconds() + 5
        while dispatcher.metrics.snapshot(target: "hooks")?.retries ?? 0 < 2, Clock.monotonicSeconds() < deadline {
            Clock.sleep(for: .milliseconds(5))
        }
        dispatcher.stop()
        let counters = try #require(dispatcher.metrics.snapshot(target: "hooks"))
        #expect(counters.failures.first { $0.reason == "connection" }?.count ?? 0 >= 2)
        #expect(logs.contains("reason=connection"))
    }

    @Test func aBadRequestIsNotRetried() throws {
        let receiver = try Receiver.start(status: 400)
        defer { receiver.stop() }
        let logs = LogLines()
        let dispatcher = try WebhookDispatcher(
            configuration: fastConfiguration([genericTarget(receiver.url)]), dataDirectory: makeDataDirectory(),
            logger: logs.logger)
        try dispatcher.start()
        defer { dispatcher.stop() }
        let source = try EventSource { dispatcher.handle($0) }

        try source.pause("agent-1")
        try source.pause("agent-2")
        receiver.waitFor(2)
        Clock.sleep(for: .milliseconds(200))

        // One request per event, both abandoned, and the second was not held up by the first.
        #expect(uniqueEvents(receiver.received) == ["paused agent-1", "paused agent-2"])
        #expect(receiver.received.count == 2)
        let counters = try #require(dispatcher.metrics.snapshot(target: "hooks"))
        #expect(counters.abandoned == 2)
        #expect(counters.retries == 0)
        #expect(counters.failures.first { $0.reason == "http_4xx" }?.count == 2)
        #expect(logs.contains("msg=\"webhook delivery abandoned\" target=hooks"))
        #expect(logs.contains("reason=\"http_4xx: status 400; not retried\""))
    }

    @Test func tooManyRequestsIsRetriedAndMaxAttemptsAbandons() throws {
        let receiver = try Receiver.start(status: 429)
        defer { receiver.stop() }
        let logs = LogLines()
        var configuration = fastConfiguration([genericTarget(receiver.url)])
        configuration.maxAttempts = 3
        let dispatcher = try WebhookDispatcher(
            configuration: configuration, dataDirectory: makeDataDirectory(), logger: logs.logger)
        try dispatcher.start()
        defer { dispatcher.stop() }
        let source = try EventSource { dispatcher.handle($0) }
        try source.pause("agent-1")

        receiver.waitFor(3)
        Clock.sleep(for: .milliseconds(200))
        #expect(receiver.received.count == 3)
        let counters = try #require(dispatcher.metrics.snapshot(target: "hooks"))
        #expect(counters.retries == 2)
        #expect(counters.abandoned == 1)
        #expect(counters.failures.first { $0.reason == "http_429" }?.count == 3)
        #expect(logs.contains("reason=\"http_429: status 429; max_attempts reached\" attempts=3"))
    }

    @Test func retryAfterIsWaitedForUpToMaxBackoff() throws {
        let receiver = try Receiver.start()
        defer { receiver.stop() }
        receiver.answer(with: 503, retryAfter: "1")
        let logs = LogLines()
        var configuration = fastConfiguration([genericTarget(receiver.url)])
        configuration.maxBackoffSeconds = 30
        let dispatcher = try WebhookDispatcher(
            configuration: configuration, dataDirectory: makeDataDirectory(), logger: logs.logger)
        try dispatcher.start()
        defer { dispatcher.stop() }
        let source = try EventSource { dispatcher.handle($0) }

        try source.pause("agent-1")
        let first = try #require(receiver.waitFor(1).first)
        receiver.answer(with: 200)
        let attempts = receiver.waitFor(2)

        // The backoff alone would retry after 10 ms; the receiver asked for a second.
        try #require(attempts.count == 2)
        #expect(attempts[1].arrivedAt - first.arrivedAt >= 0.99)
        #expect(logs.contains("detail=\"status 503; Retry-After 1s\""))
    }

    @Test func retryAfterLongerThanMaxBackoffIsCutToMaxBackoff() throws {
        let receiver = try Receiver.start()
        defer { receiver.stop() }
        receiver.answer(with: 429, retryAfter: "3600")
        var configuration = fastConfiguration([genericTarget(receiver.url)])
        configuration.maxBackoffSeconds = 0.2
        let dispatcher = try WebhookDispatcher(
            configuration: configuration, dataDirectory: makeDataDirectory(), logger: quietLogger)
        try dispatcher.start()
        defer { dispatcher.stop() }
        let source = try EventSource { dispatcher.handle($0) }

        try source.pause("agent-1")
        let first = try #require(receiver.waitFor(1).first)
        receiver.answer(with: 200)
        let attempts = receiver.waitFor(2)

        // Waiting the hour asked for would time this test out; the retry comes after max_backoff instead.
        try #require(attempts.count == 2)
        #expect(attempts[1].arrivedAt - first.arrivedAt >= 0.19)
        Clock.sleep(for: .milliseconds(100))
        let counters = try #require(dispatcher.metrics.snapshot(target: "hooks"))
        #expect(counters.retries == 1)
        #expect(counters.delivered == 1)
    }

    @Test func aReceiverSlowerThanTheTimeoutCountsAsATimeoutAndIsRetried() throws {
        let slow = try HTTPServer.start(on: ListenAddress(host: "127.0.0.1", port: 0), logger: quietLogger) { _ in
            Clock.sleep(for: .milliseconds(400))
            return .text("late\n")
        }
        defer { slow.stop() }
        var configuration = fastConfiguration([genericTarget("http://127.0.0.1:\(slow.port)")])
        configuration.requestTimeoutSeconds = 0.1
        let dispatcher = try WebhookDispatcher(
            configuration: configuration, dataDirectory: makeDataDirectory(), logger: quietLogger)
        try dispatcher.start()
        let source = try EventSource { dispatcher.handle($0) }
        try source.pause("agent-1")
        let deadline = Clock.monotonicSeconds() + 5
        while dispatcher.metrics.snapshot(target: "hooks")?.retries ?? 0 < 1, Clock.monotonicSeconds() < deadline {
            Clock.sleep(for: .milliseconds(5))
        }
        dispatcher.stop()
        let counters = try #require(dispatcher.metrics.snapshot(target: "hooks"))
        #expect(counters.failures.first { $0.reason == "timeout" }?.count ?? 0 >= 1)
        #expect(counters.delivered == 0)
    }

    @Test func theGenericSignatureVerifies() throws {
        let receiver = try Receiver.start()
        defer { receiver.stop() }
        let dispatcher = try WebhookDispatcher(
            configuration: fastConfiguration([genericTarget(receiver.url, secret: "whsec-test")]),
            dataDirectory: makeDataDirectory(), logger: quietLogger)
        try dispatcher.start()
        defer { dispatcher.stop() }
        let source = try EventSource { dispatcher.handle($0) }
        try source.pause("agent-1")

        let received = receiver.waitFor(1)
        try #require(received.count == 1)
        let request = received[0].request
        let timestamp = try #require(request.headers["X-Agentcost-Timestamp"])
        let signature = try #require(request.headers["X-Agentcost-Signature"])
        #expect(abs((Int64(timestamp) ?? 0) - Int64(Date().timeIntervalSince1970)) < 60)

        // Recomputed with the wrapper...
        let signed = Array((timestamp + ".").utf8) + request.body
        #expect(signature == "sha256=" + HMACSHA256.hexSignature(key: Array("whsec-test".utf8), message: signed))

        // ...and independently, with Python's hmac module over the exact bytes received.
        let file = NSTemporaryDirectory() + "signed-\(UUID().uuidString)"
        try Data(signed).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let python = try run(
            "/usr/bin/env",
            [
                "python3", "-c",
                "import hmac, hashlib, sys; print(hmac.new(b'whsec-test', open(sys.argv[1], 'rb').read(), "
                    + "hashlib.sha256).hexdigest())",
                file,
            ])
        #expect(signature == "sha256=" + python.trimmingCharacters(in: .whitespacesAndNewlines))

        // The payload shape.
        let body = received[0].json
        #expect(body["id"]?.string == request.headers["Idempotency-Key"])
        #expect(body["type"]?.string == "paused")
        #expect(body["time"]?.string == "2026-01-01T00:00:01.000Z")
        let data = try #require(body["data"]?.map)
        #expect(data["agent_id"]?.string == "agent-1")
        #expect(data["spend"]?.string == "1.5")
        #expect(data["period"]?.string == "lifetime")
    }

    @Test func theAlertmanagerPayloadHasTheVersion4Fields() throws {
        let receiver = try Receiver.start()
        defer { receiver.stop() }
        var target = WebhookTarget(
            name: "am", kind: .alertmanager, url: receiver.url + "/alerts", events: [.paused, .resumed])
        target.externalURL = "http://exporter:9470"
        let dispatcher = try WebhookDispatcher(
            configuration: fastConfiguration([target]), dataDirectory: makeDataDirectory(), logger: quietLogger)
        try dispatcher.start()
        defer { dispatcher.stop() }
        let source = try EventSource { dispatcher.handle($0) }
        try source.pause("agent-1")
        try source.resume("agent-1")

        let received = receiver.waitFor(2)
        try #require(received.count == 2)
        #expect(received[0].request.path == "/alerts")
        let firing = received[0].json
        let resolved = received[1].json
        for body in [firing, resolved] {
            for key in [
                "version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels", "commonLabels",
                "commonAnnotations", "externalURL", "alerts",
            ] {
                #expect(body[key] != nil, "missing \(key)")
            }
            #expect(body["version"]?.string == "4")
            #expect(body["receiver"]?.string == "am")
            #expect(body["externalURL"]?.string == "http://exporter:9470")
            #expect(body["groupLabels"]?["alertname"]?.string == "AgentPaused")
            #expect(body["groupKey"]?.string == "{}:{agent_id=\"agent-1\", alertname=\"AgentPaused\"}")
        }
        #expect(firing["status"]?.string == "firing")
        #expect(resolved["status"]?.string == "resolved")

        let fired = try #require(firing["alerts"]?.list?.first)
        let cleared = try #require(resolved["alerts"]?.list?.first)
        for key in ["status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"] {
            #expect(fired[key] != nil, "missing alerts[0].\(key)")
        }
        #expect(fired["labels"]?["alertname"]?.string == "AgentPaused")
        #expect(fired["labels"]?["agent_id"]?.string == "agent-1")
        #expect(fired["labels"]?["severity"]?.string == "critical")
        #expect(fired["annotations"]?["description"]?.string == "Budget exceeded: $1.50 / $1.00")
        #expect(fired["startsAt"]?.string == "2026-01-01T00:00:01.000Z")
        #expect(fired["endsAt"]?.string == "0001-01-01T00:00:00Z")
        // The resolve is the same alert: same fingerprint, same start, and an end.
        #expect(cleared["status"]?.string == "resolved")
        #expect(cleared["fingerprint"]?.string == fired["fingerprint"]?.string)
        #expect(cleared["fingerprint"]?.string?.count == 16)
        #expect(cleared["startsAt"]?.string == "2026-01-01T00:00:01.000Z")
        #expect(cleared["endsAt"]?.string == "2026-01-01T00:00:02.000Z")
    }

    @Test func undeliveredEventsGoOutAfterARestart() throws {
        let directory = makeDataDirectory()
        let down = try deadURL()

        // First run: the receiver is down; three pauses are queued, attempted, and left undelivered.
        var eventIDs: [String] = []
        do {
            let dispatcher = try WebhookDispatcher(
                configuration: fastConfiguration([genericTarget(down)]), dataDirectory: directory,
                logger: quietLogger)
            try dispatcher.start()
            let source = try EventSource { dispatcher.handle($0) }
            for index in 0..<3 {
                try source.pause("agent-\(index)")
            }
            let deadline = Clock.monotonicSeconds() + 5
            while dispatcher.metrics.snapshot(target: "hooks")?.retries ?? 0 < 1, Clock.monotonicSeconds() < deadline {
                Clock.sleep(for: .milliseconds(5))
            }
            dispatcher.stop()
            #expect(dispatcher.metrics.snapshot(target: "hooks")?.delivered == 0)
            #expect(dispatcher.queuedCount == 3)
        }

        // Second run on the same data directory, the receiver up (at a new address): all three, in order.
        let receiver = try Receiver.start()
        defer { receiver.stop() }
        let dispatcher = try WebhookDispatcher(
            configuration: fastConfiguration([genericTarget(receiver.url)]), dataDirectory: directory,
            logger: quietLogger)
        #expect(dispatcher.queuedCount == 3)
        try dispatcher.start()
        defer { dispatcher.stop() }
        let received = receiver.waitFor(3)
        #expect(uniqueEvents(received) == ["paused agent-0", "paused agent-1", "paused agent-2"])
        eventIDs = received.compactMap { $0.request.headers["Idempotency-Key"] }
        #expect(Set(eventIDs).count == 3)
        #expect(eventIDs.allSatisfy { $0.hasPrefix("evt_") && $0.count == 36 })

        // Delivered entries are finished in the outbox: a third run has nothing left to send.
        Clock.sleep(for: .milliseconds(100))
        dispatcher.stop()
        let third = try WebhookDispatcher(
            configuration: fastConfiguration([genericTarget(receiver.url)]), dataDirectory: directory,
            logger: quietLogger)
        #expect(third.queuedCount == 0)
    }

    @Test func aCorruptOutboxTailIsCutAndTheIntactEntriesStillGoOut() throws {
        let directory = makeDataDirectory()
        let down = try deadURL()
        do {
            // Not started: the events stay queued in the outbox.
            let dispatcher = try WebhookDispatcher(
                configuration: fastConfiguration([genericTarget(down)]), dataDirectory: directory,
                logger: quietLogger)
            let source = try EventSource { dispatcher.handle($0) }
            for index in 0..<3 {
                try source.pause("agent-\(index)")
            }
            #expect(dispatcher.queuedCount == 3)
            dispatcher.stop()
        }

        // A crash in the middle of a write: a record header promising more bytes than follow, then garbage.
        let path = directory + "/webhooks/outbox.log"
        let intact = try Data(contentsOf: URL(fileURLWithPath: path))
        var torn = intact
        torn.append(contentsOf: [0x40, 0x00, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03])
        try torn.write(to: URL(fileURLWithPath: path))

        let receiver = try Receiver.start()
        defer { receiver.stop() }
        let logs = LogLines()
        let dispatcher = try WebhookDispatcher(
            configuration: fastConfiguration([genericTarget(receiver.url)]), dataDirectory: directory,
            logger: logs.logger)
        #expect(logs.contains("msg=\"outbox tail is torn or corrupt; cutting it off\""))
        // Kept: the mark and the three entries.
        #expect(logs.contains("offset=\(intact.count) dropped_bytes=11 records_kept=4"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == intact)
        try dispatcher.start()
        defer { dispatcher.stop() }
        #expect(uniqueEvents(receiver.waitFor(3)) == ["paused agent-0", "paused agent-1", "paused agent-2"])
    }

    @Test func aDamagedRecordInTheMiddleIsSkippedAndTheEntriesAfterItStillGoOut() throws {
        let directory = makeDataDirectory()
        do {
            let dispatcher = try WebhookDispatcher(
                configuration: fastConfiguration([genericTarget(try deadURL())]), dataDirectory: directory,
                logger: quietLogger)
            let source = try EventSource { dispatcher.handle($0) }
            for index in 0..<3 {
                try source.pause("agent-\(index)")
            }
        }

        // A flipped byte inside the second entry (records: the mark, then the three entries).
        let path = directory + "/webhooks/outbox.log"
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let offsets = recordOffsets(bytes)
        try #require(offsets.count == 4)
        bytes[offsets[2] + 40] ^= 0xff
        try Data(bytes).write(to: URL(fileURLWithPath: path))

        let receiver = try Receiver.start()
        defer { receiver.stop() }
        let logs = LogLines()
        let dispatcher = try WebhookDispatcher(
            configuration: fastConfiguration([genericTarget(receiver.url)]), dataDirectory: directory,
            logger: logs.logger)
        #expect(logs.contains("msg=\"outbox record damaged; skipped to the next intact record"))
        #expect(logs.contains("offset=\(offsets[2]) skipped_bytes=\(offsets[3] - offsets[2]) resumed_at=\(offsets[3])"))
        #expect(!logs.contains("cutting it off"))
        #expect(dispatcher.queuedCount == 2)
        try dispatcher.start()
        defer { dispatcher.stop() }
        #expect(uniqueEvents(receiver.waitFor(2)) == ["paused agent-0", "paused agent-2"])
    }

    @Test func aDamagedLastRecordIsCutAsATornTail() throws {
        let directory = makeDataDirectory()
        do {
            let dispatcher = try WebhookDispatcher(
                configuration: fastConfiguration([genericTarget(try deadURL())]), dataDirectory: directory,
                logger: quietLogger)
            let source = try EventSource { dispatcher.handle($0) }
            try source.pause("agent-0")
            try source.pause("agent-1")
        }
        let path = directory + "/webhooks/outbox.log"
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[bytes.count - 5] ^= 0xff
        try Data(bytes).write(to: URL(fileURLWithPath: path))

        let logs = LogLines()
        let dispatcher = try WebhookDispatcher(
            configuration: fastConfiguration([genericTarget(try deadURL())]), dataDirectory: directory,
            logger: logs.logger)
        #expect(logs.contains("outbox tail is torn or corrupt; cutting it off"))
        #expect(logs.contains("records_kept=2"))
        #expect(dispatcher.queuedCount == 1)
    }

    @Test func eventsNoTargetWantsAreNotQueued() throws {
        let directory = makeDataDirectory()
        let dispatcher = try WebhookDispatcher(
            configuration: fastConfiguration([genericTarget(try deadURL(), events: [.paused])]),
            dataDirectory: directory, logger: quietLogger)
        let path = directory + "/webhooks/outbox.log"
        let opened = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(recordOffsets([UInt8](opened)).count == 1, "a new outbox holds its mark alone")
        let source = try EventSource { dispatcher.handle($0) }
        try source.tracker.startCycle("agent-1", at: t0)
        try source.tracker.recordSpend("agent-1", 0.1, at: t0)
        source.tracker.endCycle("agent-1", at: t0.advanced(bySeconds: 1))
        #expect(dispatcher.queuedCount == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == opened)
    }

    @Test func theOutboxIsCompactedAsItGrows() throws {
        let receiver = try Receiver.start()
        defer { receiver.stop() }
        var configuration = fastConfiguration([genericTarget(receiver.url)])
        configuration.compactionBytes = 4096
        let directory = makeDataDirectory()
        let dispatcher = try WebhookDispatcher(
            configuration: configuration, dataDirectory: directory, logger: quietLogger)
        try dispatcher.start()
        defer { dispatcher.stop() }
        let source = try EventSource { dispatcher.handle($0) }
        for index in 0..<60 {
            try source.pause("agent-\(index)")
        }
        receiver.waitFor(60)
        Clock.sleep(for: .milliseconds(100))
        let size = try FileManager.default.attributesOfItem(atPath: directory + "/webhooks/outbox.log")[.size] as? Int
        #expect((size ?? .max) < 8192, "outbox is \(size ?? -1) bytes after 60 deliveries")
    }
}

/// `type agent_id` of each distinct event (by Idempotency-Key), in order of first arrival.
/// Where each record of an outbox file starts ([UInt32 LE length][UInt32 LE CRC][payload]).
func recordOffsets(_ bytes: [UInt8]) -> [Int] {
    var offsets: [Int] = []
    var offset = 0
    while offset + 8 <= bytes.count {
        offsets.append(offset)
        let length = (0..<4).reduce(0) { $0 | Int(bytes[offset + $1]) << ($1 * 8) }
        offset += 8 + length
    }
    return offsets
}

func uniqueEvents(_ received: [Received]) -> [String] {
    var seen: Set<String> = []
    var events: [String] = []
    for item in received {
        guard let key = item.request.headers["Idempotency-Key"], seen.insert(key).inserted else { continue }
        let body = item.json
        events.append("\(body["type"]?.string ?? "?") \(body["data"]?["agent_id"]?.string ?? "?")")
    }
    return events
}
