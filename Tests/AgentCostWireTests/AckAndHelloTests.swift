import AgentCostWire
import Testing

@Suite struct AckAndHelloTests {
    @Test(arguments: [nil, 6] as [Int?])
    func anAckSurvivesARoundTrip(compressionLevel: Int?) throws {
        let ack = Ack(
            sequence: 42, status: .ok, applied: 998, rejected: 2,
            rejections: [
                Ack.Rejection(index: 3, reason: "negative_cost"), Ack.Rejection(index: 17, reason: "empty_agent_id"),
            ],
            pausedAgents: ["coder-7", "planner-1"], message: "2 events rejected")
        let frame = try ack.makeFrame(compressionLevel: compressionLevel)
        let received = try #require(try decodeAllFrames(try frame.serialized()).first)
        #expect(try Ack(decoding: received) == ack)
    }

    @Test(arguments: [Ack.Status.ok, .rejected, .retryLater, Ack.Status(rawValue: 7)])
    func everyStatusSurvivesARoundTrip(status: Ack.Status) throws {
        let ack = Ack(sequence: 1, status: status)
        #expect(try Ack(decoding: try ack.makeFrame()).status == status)
    }

    @Test func anEmptyAckSurvivesARoundTrip() throws {
        let ack = Ack(sequence: 0, status: .ok)
        #expect(try ack.makeFrame().payload.isEmpty)
        #expect(try Ack(decoding: try ack.makeFrame()) == ack)
    }

    @Test func aHelloSurvivesARoundTrip() throws {
        let hello = Hello(token: "s3cret", producerID: "fleet-a", clientVersion: "agentcost-swift/0.1.0")
        let frame = try hello.makeFrame()
        #expect(frame.type == .hello)
        #expect(try Hello(decoding: try #require(try decodeAllFrames(try frame.serialized()).first)) == hello)
    }

    @Test func invalidAckAndHelloBytesAreTypedErrors() {
        let garbage: [UInt8] = [0x0a, 0x7f, 0x00]
        #expect(wireError { try Ack(decoding: Frame(type: .ack, payload: garbage)) }?.code == .invalidProtobuf)
        #expect(wireError { try Hello(decoding: Frame(type: .hello, payload: garbage)) }?.code == .invalidProtobuf)
        #expect(wireError { try Ack(decoding: Frame(type: .hello, payload: [])) }?.code == .unexpectedFrameType)
    }
}
