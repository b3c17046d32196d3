import AgentCostClient
import AgentCostWire
import Foundation
import Synchronization
import Testing

@Suite("SpendClient against a loopback server")
struct SpendClientTests {
    private func spend(_ index: Int, agent: String = "agent-1") -> Event {
        Event(timeUnixNano: Int64(index), .spend(Spend(agentID: agent, costUSD: Double(index) / 100)))
    }

    private func configuration(_ server: ScriptedServer, batchSize: Int = 2) -> SpendClientConfiguration {
        var configuration = SpendClientConfiguration(
            address: ServerAddress(host: "127.0.0.1", port: server.port), producerID: "fleet-test")
        configuration.maxBatchEvents = batchSize
        configuration.flushInterval = nil
        configuration.ackTimeout = .seconds(2)
        configuration.retry = RetryPolicy(
            initialBackoff: .milliseconds(5), maxBackoff: .milliseconds(20), deadline: .seconds(5))
        return configuration
    }

    @Test func batchesAreSentWithIncreasingSequencesAndAcked() throws {
        let server = try ScriptedServer(script: [])
        defer { server.stop() }
        let client = try SpendClient(configuration: configuration(server))
        for index in 0..<5 {
            try client.send(spend(index))
        }
        let acks = try client.close()

        #expect(acks.map(\.sequence) == [1, 2, 3])
        #expect(acks.allSatisfy { $0.status == .ok })
        #expect(acks.map(\.applied) == [2, 2, 1])
        #expect(server.record.received.map(\.sequence) == [1, 2, 3])
        #expect(server.record.received.allSatisfy { $0.producerID == "fleet-test" })
        #expect(server.record.applied == (0..<5).map { spend($0) })
    }

    @Test func droppedConnectionAndRetryLaterResendTheSameSequenceWithoutLossOrDuplicates() throws {
        let server = try ScriptedServer(script: [.ok, .dropConnection, .retryLater, .ok])
        defer { server.stop() }
        var settings = configuration(server)
        settings.maxUnackedBatches = 1
        let client = try SpendClient(configuration: settings)
        for index in 0..<6 {
            try client.send(spend(index))
        }
        let acks = try client.close()

        // Batch 2 was received three times (dropped, retry later, ok), each time on a new connection; every batch
        // was acked once, in order.
        #expect(server.record.received.map(\.sequence) == [1, 2, 2, 2, 3])
        #expect(server.record.connections == 3)
        #expect(acks.map(\.sequence) == [1, 2, 3])
        #expect(server.record.applied == (0..<6).map { spend($0) })
        #expect(client.unacknowledgedBatches.isEmpty)
    }

    @Test func pipelinedBatchesAreAllResentAfterABrokenConnection() throws {
        let server = try ScriptedServer(script: [.ok, .dropConnection])
        defer { server.stop() }
        var settings = configuration(server, batchSize: 1)
        settings.maxUnackedBatches = 4
        let client = try SpendClient(configuration: settings)
        for index in 0..<4 {
            try client.send(spend(index))
        }
        let acks = try client.flush()

        #expect(acks.map(\.sequence) == [1, 2, 3, 4])
        #expect(server.record.applied == (0..<4).map { spend($0) })
        // Whatever was sent after the dropped batch was sent again on the second connection.
        #expect(server.record.received.map(\.sequence).suffix(3) == [2, 3, 4])
        try client.close()
    }

    @Test func rejectedBatchIsDroppedAndReportedWithItsSequenceAndReason() throws {
        // Like the real server, the scripted one rejects an unreadable batch with sequence 0.
        let server = try ScriptedServer(script: [.reject(reason: "invalid_protobuf"), .ok])
        defer { server.stop() }
        let seen = Mutex<[Ack]>([])
        var settings = configuration(server)
        settings.onAck = { ack in seen.withLock { $0.append(ack) } }
        let client = try SpendClient(configuration: settings)
        for index in 0..<4 {
            try client.send(spend(index))
        }
        let acks = try client.close()

        #expect(acks.map(\.status) == [.rejected, .ok])
        #expect(acks.map(\.sequence) == [1, 2])
        #expect(acks[0].message.hasPrefix("invalid_protobuf: "))
        #expect(seen.withLock { $0 } == acks)
        #expect(server.record.received.map(\.sequence) == [1, 2])
        #expect(server.record.connections == 1)
        #expect(server.record.applied == [spend(2), spend(3)])
        #expect(client.unacknowledgedBatches.isEmpty)
    }

    @Test func rejectionAmongPipelinedBatchesDropsOnlyTheBatchItAnswers() throws {
        let server = try ScriptedServer(script: [.ok, .reject(reason: "corrupt_zlib"), .ok, .ok])
        defer { server.stop() }
        var settings = configuration(server, batchSize: 1)
        settings.maxUnackedBatches = 4
        let client = try SpendClient(configuration: settings)
        for index in 0..<4 {
            try client.send(spend(index))
        }
        let acks = try client.flush()

        #expect(acks.map(\.sequence) == [1, 2, 3, 4])
        #expect(acks.map(\.status) == [.ok, .rejected, .ok, .ok])
        #expect(server.record.received.map(\.sequence) == [1, 2, 3, 4])
        #expect(server.record.applied == [spend(0), spend(2), spend(3)])
        #expect(client.unacknowledgedBatches.isEmpty)
        try client.close()
    }

    @Test func rejectionThatClosesTheConnectionDropsTheBatchAndResendsTheOnesAfterIt() throws {
        // Like a frame over the server's size limit: REJECTED with sequence 0, then the connection is closed with
        // the later pipelined batches unanswered.
        let server = try ScriptedServer(script: [.ok, .rejectAndClose(reason: "frame_too_large")])
        defer { server.stop() }
        var settings = configuration(server, batchSize: 1)
        settings.maxUnackedBatches = 4
        let client = try SpendClient(configuration: settings)
        for index in 0..<4 {
            try client.send(spend(index))
        }
        let acks = try client.flush()

        #expect(acks.map(\.sequence) == [1, 2, 3, 4])
        #expect(acks.map(\.status) == [.ok, .rejected, .ok, .ok])
        #expect(acks[1].message.hasPrefix("frame_too_large: "))
        #expect(server.record.connections == 2)
        #expect(server.record.received.map(\.sequence).suffix(2) == [3, 4])
        #expect(server.record.received.filter { $0.sequence == 2 }.count == 1)
        #expect(server.record.applied == [spend(0), spend(2), spend(3)])
        #expect(client.unacknowledgedBatches.isEmpty)
        try client.close()
    }

    @Test func firstSequenceIsConfigurable() throws {
        let server = try ScriptedServer(script: [])
        defer { server.stop() }
        var settings = configuration(server)
        settings.firstSequence = 41
        let client = try SpendClient(configuration: settings)
        try client.send(spend(0))
        try client.send(spend(1))
        try client.send(spend(2))
        #expect(try client.flush().map(\.sequence) == [41, 42])
        #expect(client.nextSequence == 43)
        try client.close()
    }

    @Test func pausedAgentsFollowTheAcks() throws {
        let server = try ScriptedServer(script: []) { batch in
            batch.sequence == 1 ? ["agent-a", "agent-b"] : ["agent-b"]
        }
        defer { server.stop() }
        let client = try SpendClient(configuration: configuration(server))
        try client.send(spend(0, agent: "agent-a"))
        try client.send(spend(1, agent: "agent-b"))
        try client.flush()
        #expect(client.pausedAgents == ["agent-a", "agent-b"])

        // agent-a is named in batch 2 but not paused any more; agent-b still is.
        try client.send(spend(2, agent: "agent-a"))
        try client.send(spend(3, agent: "agent-b"))
        try client.flush()
        #expect(client.pausedAgents == ["agent-b"])
        try client.close()
    }

    @Test func helloWithTokenOpensEveryConnection() throws {
        let server = try ScriptedServer(script: [.dropConnection], requiredToken: "s3cret")
        defer { server.stop() }
        var settings = configuration(server)
        settings.token = "s3cret"
        let client = try SpendClient(configuration: settings)
        try client.send(spend(0))
        try client.send(spend(1))
        try client.close()

        #expect(server.record.hellos.count == 2)
        #expect(server.record.hellos.allSatisfy { $0.token == "s3cret" && $0.producerID == "fleet-test" })
        #expect(server.record.applied.count == 2)
    }

    @Test func rejectedHelloIsAnErrorNamingTheServersMessage() throws {
        let server = try ScriptedServer(script: [], requiredToken: "s3cret")
        defer { server.stop() }
        var settings = configuration(server)
        settings.token = "wrong"
        let client = try SpendClient(configuration: settings)
        let error = #expect(throws: SpendClientError.self) { try client.connect() }
        #expect(error?.code == .helloRejected)
        #expect(error?.message.contains("invalid token") == true)
    }

    @Test func batchWithoutTheRequiredHelloFailsAtOnceInsteadOfRetrying() throws {
        let server = try ScriptedServer(script: [], requiredToken: "s3cret")
        defer { server.stop() }
        var settings = configuration(server)
        settings.retry = RetryPolicy(
            initialBackoff: .milliseconds(5), maxBackoff: .milliseconds(20), deadline: .seconds(60))
        let client = try SpendClient(configuration: settings)
        try client.send(spend(0))

        let started = ContinuousClock.now
        let error = #expect(throws: SpendClientError.self) { try client.flush() }

        #expect(error?.code == .helloRejected)
        #expect(error?.message.contains("unauthenticated") == true)
        #expect(error?.message.contains("--ingest.token-file") == true)
        #expect(ContinuousClock.now - started < .seconds(30))
        #expect(server.record.connections == 1)
        #expect(client.unacknowledgedBatches.map(\.sequence) == [1])
    }

    @Test func unreachableServerFailsAfterTheDeadlineNamingTheAddress() throws {
        let server = try ScriptedServer(script: [])
        let port = server.port
        server.stop()
        var settings = SpendClientConfiguration(
            address: ServerAddress(host: "127.0.0.1", port: port), producerID: "fleet-test")
        settings.flushInterval = nil
        settings.retry = RetryPolicy(initialBackoff: .milliseconds(5), maxBackoff: .milliseconds(10), deadline: .zero)
        let client = try SpendClient(configuration: settings)
        try client.send(spend(0))
        let error = #expect(throws: SpendClientError.self) { try client.flush() }
        #expect(error?.code == .deadlineExceeded)
        #expect(error?.message.contains("127.0.0.1:\(port)") == true)
        #expect(client.unacknowledgedBatches.map(\.sequence) == [1])
    }

    @Test func flushIntervalCutsABatchInTheBackground() throws {
        let server = try ScriptedServer(script: [])
        defer { server.stop() }
        var settings = configuration(server, batchSize: 100)
        settings.flushInterval = .milliseconds(20)
        let client = try SpendClient(configuration: settings)
        try client.send(spend(0))
        let deadline = ContinuousClock.now + .seconds(5)
        while server.record.applied.isEmpty && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.005)
        }
        #expect(server.record.applied == [spend(0)])
        #expect(try client.close().map(\.sequence) == [1])
    }

    @Test func unansweredBatchTimesOutAndIsResentOnANewConnection() throws {
        let server = try ScriptedServer(script: [.ignore])
        defer { server.stop() }
        var settings = configuration(server)
        settings.ackTimeout = .milliseconds(200)
        let client = try SpendClient(configuration: settings)
        try client.send(spend(0))
        try client.send(spend(1))
        #expect(try client.close().map(\.sequence) == [1])
        #expect(server.record.received.map(\.sequence) == [1, 1])
        #expect(server.record.connections == 2)
        #expect(server.record.applied == [spend(0), spend(1)])
    }

    @Test func concurrentSendersLoseAndDuplicateNothing() throws {
        let server = try ScriptedServer(script: [.ok, .retryLater, .ok, .dropConnection])
        defer { server.stop() }
        var settings = configuration(server, batchSize: 7)
        settings.maxUnackedBatches = 3
        let client = try SpendClient(configuration: settings)
        let threads = 4
        let perThread = 50
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            for index in 0..<perThread {
                do {
                    try client.send(spend(thread * 1000 + index, agent: "agent-\(thread)"))
                } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
        }
        let acks = try client.close()

        #expect(failures.withLock { $0 }.isEmpty)
        let sequences = acks.map(\.sequence)
        #expect(sequences == Array(1...UInt64(sequences.count)))
        let applied = server.record.applied
        #expect(applied.count == threads * perThread)
        #expect(Set(applied).count == threads * perThread)
        // Each thread's events arrive in the order that thread sent them.
        for thread in 0..<threads {
            let times = applied.filter { $0.agentIDForTest == "agent-\(thread)" }.map(\.timeUnixNano)
            #expect(times == times.sorted())
        }
    }
}

extension Event {
    fileprivate var agentIDForTest: String? {
        if case .spend(let fields) = payload {
            return fields.agentID
        }
        return nil
    }
}
