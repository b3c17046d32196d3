import AgentCostClient
import AgentCostCore
import AgentCostSystem
import AgentCostWire
import Testing

@testable import AgentCostServer

@Suite("The Swift client against the real ingest server")
struct SpendClientIngestTests {
    /// A batch the server cannot take: 100 events with 200-character models of pseudo-random hex, which inflate
    /// to some 23 KB and compress to some 11 KB.
    private static let oversizeEvents: [Event] = {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        return (0..<100).map { index in
            var model = ""
            while model.count < 200 {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                model += String(state >> 33, radix: 16)
            }
            return Event(
                timeUnixNano: epochNanos + Int64(index),
                .spend(Spend(agentID: "agent-big", costUSD: 1, model: String(model.prefix(200)))))
        }
    }()

    @Test(
        "a batch rejected unread is reported with its sequence and reason; the client goes on with the next",
        arguments: [
            ("inflated_too_large", WireLimits(maxFrameSize: 4 << 20, maxInflatedSize: 8 << 10)),
            ("frame_too_large", WireLimits(maxFrameSize: 2 << 10, maxInflatedSize: 64 << 20)),
        ]
    )
    func rejectedBatchIsReportedAndTheRestIsApplied(reason: String, limits: WireLimits) throws {
        let ingest = try RunningIngest(limits: limits)
        var configuration = SpendClientConfiguration(
            address: ServerAddress(host: "127.0.0.1", port: ingest.port), producerID: "fleet")
        configuration.maxBatchEvents = 100
        configuration.maxUnackedBatches = 4
        configuration.flushInterval = nil
        configuration.ackTimeout = .seconds(5)
        configuration.retry = RetryPolicy(
            initialBackoff: .milliseconds(5), maxBackoff: .milliseconds(50), deadline: .seconds(10))
        let client = try SpendClient(configuration: configuration)

        // Three batches pipelined on one connection: small, too big, small; then one more after the flush.
        for index in 0..<100 { try client.send(spend("agent-ok", 0.01, at: Int64(index))) }
        for event in Self.oversizeEvents { try client.send(event) }
        for index in 0..<100 { try client.send(spend("agent-ok", 0.01, at: Int64(100 + index))) }
        let acks = try client.flush()
        try client.send(spend("agent-ok", 0.5, at: 1_000))
        let last = try client.close()

        #expect(acks.map(\.sequence) == [1, 2, 3])
        #expect(acks.map(\.status) == [.ok, .rejected, .ok])
        #expect(acks[1].message.hasPrefix("\(reason): "), "\(acks[1].message)")
        #expect(last.map(\.sequence) == [4])
        #expect(last.map(\.status) == [.ok])
        #expect(client.unacknowledgedBatches.isEmpty)
        #expect(ingest.tracker.cumulativeSpend("agent-ok") == Money(nanos: 2_500_000_000))
        #expect(ingest.tracker.agentSummary("agent-big") == nil)
        #expect(ingest.metrics.snapshot().framesRejected[reason] == 1)
    }
}
