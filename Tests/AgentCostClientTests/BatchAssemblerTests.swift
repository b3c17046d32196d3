import AgentCostClient
import AgentCostWire
import Testing

@Suite("Batching and sequence numbering")
struct BatchAssemblerTests {
    private let start = ContinuousClock.now

    private func event(_ index: Int) -> Event {
        Event(timeUnixNano: Int64(index), .cycleStart(CycleStart(agentID: "agent-\(index)")))
    }

    @Test func batchIsCutWhenItReachesTheSizeThreshold() throws {
        var assembler = try BatchAssembler(producerID: "p", maxEvents: 3, flushInterval: nil)
        #expect(assembler.append(event(0), now: start) == nil)
        #expect(assembler.append(event(1), now: start) == nil)
        let cut = assembler.append(event(2), now: start)
        let batch = try #require(cut)
        #expect(batch == Batch(producerID: "p", sequence: 1, events: [event(0), event(1), event(2)]))
        #expect(assembler.pendingEvents.isEmpty)
    }

    @Test func batchIsCutWhenItsOldestEventHasWaitedTheFlushInterval() throws {
        var assembler = try BatchAssembler(producerID: "p", maxEvents: 100, flushInterval: .milliseconds(500))
        _ = assembler.append(event(0), now: start)
        _ = assembler.append(event(1), now: start + .milliseconds(400))
        #expect(assembler.cutIfDue(now: start + .milliseconds(499)) == nil)
        let due = assembler.cutIfDue(now: start + .milliseconds(500))
        let batch = try #require(due)
        #expect(batch.events == [event(0), event(1)])

        // The interval counts from the oldest event of the next batch, not from the cut.
        _ = assembler.append(event(2), now: start + .seconds(2))
        #expect(assembler.cutIfDue(now: start + .milliseconds(2499)) == nil)
        #expect(assembler.cutIfDue(now: start + .milliseconds(2500))?.sequence == 2)
    }

    @Test func emptyBufferIsNeverCut() throws {
        var assembler = try BatchAssembler(producerID: "p", maxEvents: 2, flushInterval: .milliseconds(1))
        #expect(assembler.cut() == nil)
        #expect(assembler.cutIfDue(now: start + .seconds(10)) == nil)
        #expect(assembler.nextSequence == 1)
    }

    @Test func sequencesIncreaseByOneFromTheFirstSequence() throws {
        var assembler = try BatchAssembler(producerID: "p", maxEvents: 1, flushInterval: nil, firstSequence: 7)
        let sequences = (0..<4).compactMap { assembler.append(event($0), now: start)?.sequence }
        #expect(sequences == [7, 8, 9, 10])
        _ = assembler.append(event(9), now: start)
        #expect(assembler.nextSequence == 12)
    }

    @Test(arguments: [
        ("", 10, UInt64(1), "producer id is empty"),
        ("p", 0, UInt64(1), "batch size 0 is below 1"),
        ("p", 10, UInt64(0), "first sequence 0"),
    ])
    func invalidSettingsAreRefusedNamingTheSetting(producer: String, size: Int, first: UInt64, expected: String) {
        let error = #expect(throws: SpendClientError.self) {
            _ = try BatchAssembler(producerID: producer, maxEvents: size, flushInterval: nil, firstSequence: first)
        }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message.contains(expected) == true)
    }
}

@Suite("Retry backoff")
struct RetryPolicyTests {
    @Test func backoffDoublesUpToTheMaximum() {
        let policy = RetryPolicy(initialBackoff: .milliseconds(100), maxBackoff: .seconds(1), deadline: .seconds(10))
        let ceilings = (1...6).map { policy.backoffCeiling(afterFailures: $0) }
        #expect(
            ceilings == [
                .milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .seconds(1),
                .seconds(1),
            ])
    }

    @Test func jitterStaysBetweenHalfAndAllOfTheCeiling() {
        let policy = RetryPolicy(initialBackoff: .milliseconds(100), maxBackoff: .seconds(1), deadline: .seconds(10))
        var generator = SystemRandomNumberGenerator()
        for failures in 1...8 {
            let ceiling = policy.backoffCeiling(afterFailures: failures)
            let wait = policy.backoff(afterFailures: failures, using: &generator)
            #expect(wait >= ceiling / 2 && wait <= ceiling)
        }
    }
}

@Suite("Server addresses")
struct ServerAddressTests {
    @Test(arguments: [
        ("127.0.0.1:9471", "127.0.0.1", UInt16(9471)),
        ("ingest.example:80", "ingest.example", UInt16(80)),
        ("localhost", "localhost", UInt16(9471)),
        ("[::1]:9000", "::1", UInt16(9000)),
    ])
    func addressesParse(text: String, host: String, port: UInt16) throws {
        let address = try ServerAddress(parsing: text)
        #expect(address.host == host && address.port == port)
    }

    @Test(arguments: ["", ":9471", "host:0", "host:99999", "host:http", "::1", "[::1"])
    func badAddressesAreRefused(text: String) {
        let error = #expect(throws: SpendClientError.self) { _ = try ServerAddress(parsing: text) }
        #expect(error?.code == .invalidAddress)
        #expect(error?.message.contains("\"\(text)\"") == true)
    }
}
