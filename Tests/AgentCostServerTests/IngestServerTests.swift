import AgentCostCore
import AgentCostSystem
import AgentCostWire
import Testing

@testable import AgentCostServer

@Suite("Ingest server, on a live loopback socket")
struct IngestServerTests {
    @Test("a batch is applied and acknowledged with its counts")
    func batchApplied() throws {
        let ingest = try RunningIngest()
        let connection = try ingest.connect()
        let events = [
            cycleStart("agent-123"), spend("agent-123", 0.05, at: 10), spend("agent-123", 0.03, at: 20),
            cycleEnd("agent-123", at: 30_500_000_000),
        ]

        let ack = try connection.exchange(Batch(producerID: "fleet-a", sequence: 1, events: events))

        #expect(ack.sequence == 1)
        #expect(ack.status == .ok)
        #expect(ack.applied == 4)
        #expect(ack.rejected == 0)
        let cycle = try #require(ingest.tracker.agentCycles("agent-123").first)
        #expect(cycle.cost == Money(nanos: 80_000_000))
        #expect(cycle.calls == 2)
        #expect(cycle.durationSeconds == 30.5)
    }

    @Test("a batch re-sent with a sequence already applied is acknowledged again and applied zero more times")
    func exactlyOncePerProducer() throws {
        let ingest = try RunningIngest()
        let batch = Batch(producerID: "fleet-a", sequence: 7, events: [spend("agent-1", 0.25)])

        let first = try ingest.connect().exchange(batch)
        let again = try ingest.connect().exchange(batch)
        let older = try ingest.connect().exchange(
            Batch(producerID: "fleet-a", sequence: 3, events: [spend("agent-1", 1)]))
        let otherProducer = try ingest.connect().exchange(
            Batch(producerID: "fleet-b", sequence: 7, events: [spend("agent-1", 0.25)]))

        #expect(first.applied == 1)
        #expect(again.status == .ok && again.applied == 0 && again.sequence == 7)
        #expect(again.message.contains("already applied"))
        #expect(older.applied == 0)
        #expect(otherProducer.applied == 1)
        #expect(ingest.tracker.cumulativeSpend("agent-1") == Money(nanos: 500_000_000))
        #expect(ingest.metrics.snapshot().framesDuplicate == 2)
    }

    @Test("valid events apply even when others in the batch are invalid; each invalid one is reported and counted")
    func partialBatch() throws {
        let ingest = try RunningIngest()
        let events = [
            spend("agent-1", 0.10),
            spend("agent-1", -0.5),
            spend("agent-1", .nan),
            spend("", 0.10),
            spend(String(repeating: "x", count: 300), 0.10),
            cycleEnd("agent-1"),
            Event(
                timeUnixNano: epochNanos,
                .setBudget(SetBudget(agentID: "agent-1", budgetUSD: 5, period: BudgetPeriod(rawValue: 9)))),
            spend("agent-1", 0.20, goal: "feature-x"),
        ]

        let ack = try ingest.connect().exchange(Batch(producerID: "p", sequence: 1, events: events))

        #expect(ack.status == .ok)
        #expect(ack.applied == 2)
        #expect(ack.rejected == 6)
        #expect(ack.rejections.map(\.index) == [1, 2, 3, 4, 5, 6])
        let codes = ack.rejections.map { String($0.reason.prefix { $0 != ":" }) }
        #expect(
            codes == [
                "negative_cost", "invalid_cost", "empty_agent_id", "agent_id_too_long", "no_open_cycle",
                "unknown_period",
            ])
        #expect(ack.rejections[0].reason.contains("-0.5"))
        #expect(ingest.tracker.cumulativeSpend("agent-1") == Money(nanos: 300_000_000))
        #expect(ingest.goals.goalCost("feature-x")?.directCost == Money(nanos: 200_000_000))
        #expect(ingest.metrics.snapshot().eventsRejected["negative_cost"] == 1)
        let warnings = ingest.logLines.lines.filter { $0.contains("msg=\"events rejected\"") }
        #expect(warnings.count == 1)
        #expect(warnings.first?.contains("level=warn") == true)
        #expect(warnings.first?.contains("peer=127.0.0.1:") == true)
        #expect(
            warnings.first?.contains(
                "producer=p sequence=1 rejected=6 "
                    + "reasons=negative_cost,invalid_cost,empty_agent_id,agent_id_too_long,no_open_cycle,"
                    + "unknown_period "
                    + "suppressed=0") == true,
            "\(warnings)")
    }

    @Test("an over-long model, goal id or goal name rejects its event; strings at the limit, in bytes, are applied")
    func oversizeStrings() throws {
        let ingest = try RunningIngest()
        func spend(model: String = "gpt-4o", goal: String = "") -> Event {
            Event(
                timeUnixNano: epochNanos,
                .spend(Spend(agentID: "agent-1", costUSD: 0.10, goalID: goal, model: model)))
        }
        func goal(_ id: String, name: String = "") -> Event {
            Event(timeUnixNano: epochNanos, .createGoal(CreateGoal(goalID: id, name: name)))
        }
        let events = [
            spend(model: String(repeating: "m", count: 256)),
            spend(model: String(repeating: "m", count: 257)),
            spend(goal: String(repeating: "g", count: 257)),
            goal(String(repeating: "g", count: 257)),
            // 513 two-byte characters: 1,026 bytes, over the 1,024-byte limit though only 513 characters long.
            goal("long-name", name: String(repeating: "é", count: 513)),
            goal("full-name", name: String(repeating: "é", count: 512)),
            spend(goal: String(repeating: "g", count: 256)),
        ]

        let ack = try ingest.connect().exchange(Batch(producerID: "p", sequence: 1, events: events))

        #expect(ack.status == .ok)
        #expect(ack.applied == 3)
        #expect(ack.rejections.map(\.index) == [1, 2, 3, 4])
        #expect(
            ack.rejections.map { String($0.reason.prefix { $0 != ":" }) } == [
                "model_too_long", "goal_id_too_long", "goal_id_too_long", "goal_name_too_long",
            ])
        #expect(ack.rejections[0].reason.contains("257 bytes"))
        #expect(ingest.tracker.cumulativeSpend("agent-1") == Money(nanos: 200_000_000))
        #expect(ingest.goals.goalCost("long-name") == nil)
        #expect(ingest.goals.goalCost("full-name") != nil)
        #expect(ingest.goals.goalCost(String(repeating: "g", count: 257)) == nil)
        #expect(ingest.goals.goalCost(String(repeating: "g", count: 256))?.directCost == Money(nanos: 100_000_000))
        let rejected = ingest.metrics.snapshot().eventsRejected
        #expect(rejected["model_too_long"] == 1)
        #expect(rejected["goal_id_too_long"] == 2)
        #expect(rejected["goal_name_too_long"] == 1)
    }

    @Test("a spend naming a new goal past the goal limit is rejected and changes nothing, not even the agent")
    func tooManyGoalsChangesNothing() throws {
        let ingest = try RunningIngest(maximumGoals: 2)
        let first = try ingest.connect().exchange(
            Batch(
                producerID: "p", sequence: 1,
                events: [spend("agent-1", 0.10, goal: "g1"), spend("agent-1", 0.20, goal: "g2")]))
        #expect(first.applied == 2)

        let events = [
            cycleStart("agent-1", at: 1), spend("agent-1", 0.40, goal: "g3", at: 2),
            spend("agent-1", 0.05, goal: "g1", at: 3),
            spend("agent-1", 0.80, goal: "g4", at: 4), cycleEnd("agent-1", at: 5),
        ]
        let ack = try ingest.connect().exchange(Batch(producerID: "p", sequence: 2, events: events))

        #expect(ack.applied == 3)
        #expect(ack.rejections.map(\.index) == [1, 3])
        #expect(ack.rejections.allSatisfy { $0.reason.hasPrefix("too_many_goals: goal g") })
        #expect(ack.rejections.first?.reason.contains("--tracker.max-goals") == true)
        // The agent has its earlier spend and the one accepted spend, nothing of the rejected ones.
        #expect(ingest.tracker.cumulativeSpend("agent-1") == Money(nanos: 350_000_000))
        #expect(ingest.tracker.agentCycles("agent-1").first?.cost == Money(nanos: 50_000_000))
        #expect(ingest.tracker.agentCycles("agent-1").first?.calls == 1)
        #expect(ingest.goals.allGoals() == ["g1", "g2"])
        #expect(ingest.goals.goalCost("g1")?.totalCost == Money(nanos: 150_000_000))
        #expect(ingest.metrics.snapshot().eventsRejected["too_many_goals"] == 2)
    }

    @Test("a spend for a new agent past the agent limit is rejected and adds nothing to its goal")
    func tooManyAgentsChangesNothing() throws {
        let ingest = try RunningIngest(maximumAgents: 1)
        let events = [
            spend("agent-1", 0.10, goal: "g1"), cycleStart("agent-2", at: 1), spend("agent-2", 0.20, goal: "g1", at: 2),
            spend("agent-2", 0.30, goal: "new-goal", at: 3), spend("agent-1", 0.05, at: 4),
        ]
        let ack = try ingest.connect().exchange(Batch(producerID: "p", sequence: 1, events: events))

        #expect(ack.applied == 2)
        #expect(ack.rejections.map(\.index) == [1, 2, 3])
        #expect(ack.rejections.allSatisfy { $0.reason.hasPrefix("too_many_agents: agent agent-2 ") })
        #expect(ingest.tracker.allAgents() == ["agent-1"])
        #expect(ingest.tracker.cumulativeSpend("agent-1") == Money(nanos: 150_000_000))
        #expect(ingest.goals.allGoals() == ["g1"])
        #expect(ingest.goals.goalCost("g1")?.totalCost == Money(nanos: 100_000_000))
        #expect(ingest.metrics.snapshot().eventsRejected["too_many_agents"] == 3)
    }

    @Test("the ack names the agents of the batch that are paused now")
    func pausedAgentsInAck() throws {
        let ingest = try RunningIngest()
        let connection = try ingest.connect()
        let first = try connection.exchange(
            Batch(
                producerID: "p", sequence: 1,
                events: [budget("agent-1", 1.00), budget("agent-2", 1.00), spend("agent-1", 0.60)])
        )
        #expect(first.pausedAgents.isEmpty)

        let second = try connection.exchange(
            Batch(
                producerID: "p", sequence: 2,
                events: [spend("agent-1", 0.40), spend("agent-2", 0.10), spend("agent-1", 0.01)])
        )
        #expect(second.pausedAgents == ["agent-1"])
        #expect(ingest.tracker.isPaused("agent-1"))
    }

    @Test("per-agent order is the order of events within one connection's stream, across batches")
    func orderWithinConnection() throws {
        let ingest = try RunningIngest()
        let connection = try ingest.connect()
        for sequence in 1...50 {
            let offset = Int64(sequence) * 1_000_000_000
            try connection.send(
                Batch(
                    producerID: "p", sequence: UInt64(sequence),
                    events: [cycleStart("a", at: offset), spend("a", 0.01, at: offset), cycleEnd("a", at: offset + 1)])
            )
        }
        for sequence in 1...50 {
            let ack = try #require(try connection.readAck())
            #expect(ack.sequence == UInt64(sequence) && ack.applied == 3)
        }
        #expect(ingest.tracker.agentSummary("a")?.totalCycles == 50)
    }

    @Test("uncompressed batches are accepted too")
    func plainBatch() throws {
        let ingest = try RunningIngest()
        let ack = try ingest.connect().exchange(
            Batch(producerID: "p", sequence: 1, events: [spend("a", 1)]), compressionLevel: nil)
        #expect(ack.applied == 1)
    }

    // MARK: Bad input

    @Test(
        "unreadable framing gets a rejected ack naming the reason, the connection is closed, the server keeps serving",
        arguments: [
            ("bad_magic", Array("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".utf8)),
            ("bad_version", header(version: 9, type: 2, flags: 0, length: 0, crc: 0)),
            ("unknown_frame_type", header(version: 1, type: 77, flags: 0, length: 0, crc: 0)),
            ("frame_too_large", header(version: 1, type: 2, flags: 1, length: 100_000_000, crc: 0)),
            ("bad_crc", header(version: 1, type: 2, flags: 0, length: 3, crc: 12345) + [1, 2, 3]),
        ]
    )
    func badFraming(reason: String, bytes: [UInt8]) throws {
        let ingest = try RunningIngest()
        let connection = try ingest.connect()
        try connection.send(bytes)

        let ack = try #require(try connection.readAck())
        #expect(ack.status == .rejected)
        #expect(ack.message.hasPrefix(reason))
        #expect(connection.isClosedByServer())
        #expect(ingest.metrics.snapshot().framesRejected[reason] == 1)
        #expect(ingest.logLines.lines.contains { $0.contains("reason=\(reason)") && $0.contains("peer=127.0.0.1:") })
        try expectStillServing(ingest)
    }

    @Test(
        "a bad payload in a well-delimited frame gets a rejected ack and the connection goes on",
        arguments: ["corrupt_zlib", "inflated_too_large", "invalid_protobuf"]
    )
    func badPayload(reason: String) throws {
        let limits = WireLimits(maxFrameSize: 4 << 20, maxInflatedSize: 1 << 20)
        let ingest = try RunningIngest(limits: limits)
        let connection = try ingest.connect()
        let payload: Frame
        switch reason {
        case "corrupt_zlib":
            payload = Frame(type: .batch, flags: .compressed, payload: [0x78, 0x9c, 0xff, 0xff, 0x00, 0x13, 0x37])
        case "inflated_too_large":
            // Ten MiB of zeros deflate to about ten KiB: a small zip bomb against a 1 MiB inflate limit.
            payload = Frame(
                type: .batch, flags: .compressed,
                payload: try Zlib.deflate([UInt8](repeating: 0, count: 10 << 20), level: 9))
        default:
            payload = Frame(type: .batch, payload: [0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01])
        }
        try connection.send(payload)

        let ack = try #require(try connection.readAck())
        #expect(ack.status == .rejected)
        #expect(ack.sequence == 0)
        #expect(ack.message.hasPrefix(reason))
        #expect(ingest.metrics.snapshot().framesRejected[reason] == 1)
        #expect(
            ingest.logLines.lines.contains {
                $0.contains("level=warn") && $0.contains("msg=\"batch rejected\"") && $0.contains("reason=\(reason)")
                    && $0.contains("peer=127.0.0.1:")
            }, "\(ingest.logLines.lines)")

        // The same connection still works.
        let next = try connection.exchange(Batch(producerID: "p", sequence: 1, events: [spend("a", 0.5)]))
        #expect(next.applied == 1)
    }

    @Test("a connection that ends in the middle of a frame is counted as truncated")
    func truncated() throws {
        let ingest = try RunningIngest()
        do {
            let connection = try ingest.connect()
            let frame = try Batch(producerID: "p", sequence: 1, events: [spend("a", 1)]).makeFrame().serialized()
            try connection.send(Array(frame.prefix(frame.count - 3)))
            connection.socket.shutdownWrite()
            let ack = try #require(try connection.readAck())
            #expect(ack.message.hasPrefix("truncated"))
        }
        #expect(ingest.tracker.cumulativeSpend("a") == .zero)
        #expect(ingest.metrics.snapshot().framesRejected["truncated"] == 1)
        #expect(
            ingest.logLines.lines.contains {
                $0.contains("level=warn") && $0.contains("reason=truncated") && $0.contains("peer=127.0.0.1:")
            }, "\(ingest.logLines.lines)")
        try expectStillServing(ingest)
    }

    @Test("a frame of a type clients do not send is rejected, logged and counted; the connection goes on")
    func unexpectedFrameType() throws {
        let ingest = try RunningIngest()
        let connection = try ingest.connect()
        try connection.send(Ack(sequence: 3, status: .ok).makeFrame())

        let ack = try #require(try connection.readAck())
        #expect(ack.status == .rejected && ack.sequence == 0)
        #expect(ack.message.hasPrefix("unexpected_frame_type"))
        #expect(ingest.metrics.snapshot().framesRejected["unexpected_frame_type"] == 1)
        #expect(
            ingest.logLines.lines.contains {
                $0.contains("level=warn") && $0.contains("reason=unexpected_frame_type")
                    && $0.contains("peer=127.0.0.1:")
            }, "\(ingest.logLines.lines)")
        #expect(try connection.exchange(Batch(producerID: "p", sequence: 1, events: [spend("a", 1)])).applied == 1)
    }

    @Test("warnings about one connection's bad input are throttled per connection and the suppressed ones counted")
    func warningsThrottled() throws {
        let ingest = try RunningIngest(warningInterval: 3600)
        let noisy = try ingest.connect()
        for sequence in 1...5 {
            let ack = try noisy.exchange(Batch(producerID: "p", sequence: UInt64(sequence), events: [spend("a", -1)]))
            #expect(ack.rejected == 1)
        }
        try noisy.send(Frame(type: .batch, payload: [0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]))
        #expect(try noisy.readAck()?.status == .rejected)
        let other = try ingest.connect()
        #expect(try other.exchange(Batch(producerID: "q", sequence: 1, events: [spend("", 1)])).rejected == 1)

        let noisyPeer = "peer=127.0.0.1:\(noisy.socket.localPort) "
        let otherPeer = "peer=127.0.0.1:\(other.socket.localPort) "
        func warnings(_ peer: String) -> [String] {
            ingest.logLines.lines.filter { $0.contains("level=warn") && $0.contains(peer) }
        }
        #expect(warnings(noisyPeer).count == 1, "\(warnings(noisyPeer))")
        #expect(warnings(noisyPeer).first?.contains("reasons=negative_cost suppressed=0") == true)
        #expect(warnings(otherPeer).count == 1, "\(warnings(otherPeer))")

        // When the connection closes, the count of what was held back is logged.
        noisy.socket.shutdownWrite()
        #expect(noisy.isClosedByServer())
        var closing: [String] = []
        for _ in 0..<100 where closing.isEmpty {
            Clock.sleep(for: .milliseconds(10))
            closing = warnings(noisyPeer).filter { $0.contains("msg=\"connection closed with warnings suppressed\"") }
        }
        #expect(closing.first?.contains("suppressed=5") == true, "\(warnings(noisyPeer))")
    }

    @Test("idle connections and slow senders time out")
    func timeouts() throws {
        let ingest = try RunningIngest(idleTimeout: 0.5, frameTimeout: 0.5)
        let idle = try ingest.connect()
        let slow = try ingest.connect()
        try slow.send(Array(header(version: 1, type: 2, flags: 0, length: 100, crc: 0).prefix(16)) + [1, 2])

        idle.socket.setReceiveTimeout(seconds: 5)
        slow.socket.setReceiveTimeout(seconds: 5)
        #expect(idle.isClosedByServer())
        #expect(slow.isClosedByServer())
        let closed = ingest.metrics.snapshot().connectionsClosed
        #expect(closed["idle_timeout"] == 1)
        #expect(closed["frame_timeout"] == 1)
    }

    @Test("connections over the limit are closed at once and counted")
    func connectionLimit() throws {
        let ingest = try RunningIngest(maxConnections: 2)
        let first = try ingest.connect()
        let second = try ingest.connect()
        _ = try first.exchange(Batch(producerID: "", sequence: 0, events: [spend("a", 0.01)]))
        _ = try second.exchange(Batch(producerID: "", sequence: 0, events: [spend("a", 0.01)]))
        let third = try ingest.connect()
        #expect(third.isClosedByServer())
        #expect(ingest.metrics.snapshot().connectionsClosed["too_many_connections"] == 1)
    }

    // MARK: Authentication

    @Test("with a token, a connection must open with a hello carrying it")
    func tokenRequired() throws {
        let ingest = try RunningIngest(token: "s3cret")

        let anonymous = try ingest.connect()
        try anonymous.send(Batch(producerID: "p", sequence: 1, events: [spend("a", 1)]))
        let refused = try #require(try anonymous.readAck())
        #expect(refused.status == .rejected && refused.message.hasPrefix("unauthenticated"))
        #expect(anonymous.isClosedByServer())

        let wrong = try ingest.connect()
        try wrong.send(Hello(token: "guess", producerID: "p", clientVersion: "test").makeFrame())
        let badToken = try #require(try wrong.readAck())
        #expect(badToken.status == .rejected && badToken.message.hasPrefix("bad_token"))

        let good = try ingest.connect()
        try good.send(Hello(token: "s3cret", producerID: "p", clientVersion: "test").makeFrame())
        let welcome = try #require(try good.readAck())
        #expect(welcome.status == .ok && welcome.sequence == 0)
        #expect(try good.exchange(Batch(producerID: "p", sequence: 1, events: [spend("a", 1)])).applied == 1)
        #expect(ingest.tracker.cumulativeSpend("a") == Money(nanos: 1_000_000_000))
    }

    // MARK: Shutdown

    @Test("shutdown finishes and acknowledges the frames already received")
    func gracefulShutdown() throws {
        let ingest = try RunningIngest()
        let connection = try ingest.connect()
        for sequence in 1...20 {
            try connection.send(Batch(producerID: "p", sequence: UInt64(sequence), events: [spend("a", 0.01)]))
        }
        ingest.server.shutdown()

        var acked = 0
        while let ack = try connection.readAck() {
            #expect(ack.status == .ok)
            acked += Int(ack.applied)
        }
        #expect(acked == 20)
        #expect(ingest.tracker.cumulativeSpend("a") == Money(nanos: 200_000_000))
    }

    @Test("many concurrent connections are served in parallel, and nothing is lost")
    func concurrentConnections() async throws {
        let ingest = try RunningIngest()
        let port = ingest.port
        await withThrowingTaskGroup(of: Void.self) { group in
            for client in 0..<16 {
                group.addTask {
                    let connection = try TestConnection(port: port)
                    for sequence in 1...25 {
                        let events = (0..<40).map { spend("agent-\($0 % 8)", 0.001, at: Int64($0)) }
                        let ack = try connection.exchange(
                            Batch(producerID: "c\(client)", sequence: UInt64(sequence), events: events))
                        #expect(ack.applied == 40)
                    }
                }
            }
        }
        let total = (0..<8).reduce(Int64(0)) { $0 + ingest.tracker.cumulativeSpend("agent-\($1)").nanos }
        #expect(total == 16 * 25 * 40 * 1_000_000)
    }

    private func expectStillServing(_ ingest: RunningIngest) throws {
        let fresh = try ingest.connect()
        let ack = try fresh.exchange(Batch(producerID: "after", sequence: 1, events: [spend("after", 0.01)]))
        #expect(ack.status == .ok && ack.applied == 1)
    }
}

/// A frame header with chosen fields, for malformed input.
func header(version: UInt8, type: UInt8, flags: UInt16, length: UInt32, crc: UInt32) -> [UInt8] {
    var bytes: [UInt8] = Array("ACST".utf8) + [version, type, UInt8(flags >> 8), UInt8(flags & 0xff)]
    for value in [length, crc] {
        bytes += [UInt8(value >> 24), UInt8((value >> 16) & 0xff), UInt8((value >> 8) & 0xff), UInt8(value & 0xff)]
    }
    return bytes
}
