import AgentCostWire
import Testing

@Suite struct BatchCodecTests {
    @Test(arguments: [6, nil] as [Int?])
    func everyEventKindSurvivesARoundTrip(compressionLevel: Int?) throws {
        let batch = Batch(producerID: "fleet-a", sequence: 42, events: everyKindOfEvent)
        let frame = try batch.makeFrame(compressionLevel: compressionLevel)
        #expect(frame.flags.contains(.compressed) == (compressionLevel != nil))
        let received = try #require(try decodeAllFrames(try frame.serialized()).first)

        #expect(try Batch(decoding: received) == batch)
        let decoded = try BatchDecoder().decode(received)
        #expect(decoded.producerID == "fleet-a")
        #expect(decoded.sequence == 42)
        #expect(decoded.map(\.event) == batch.events)
        #expect(decoded.map(\.kind) == [.cycleStart, .spend, .cycleEnd, .setBudget, .resume, .createGoal])
        #expect(decoded.map(\.agentID) == ["planner-1", "planner-1", "planner-1", "coder-7", "coder-7", ""])
    }

    @Test func defaultFieldsSurviveARoundTrip() throws {
        let events = [
            Event(timeUnixNano: 0, .spend(Spend(agentID: "", costUSD: 0))),
            Event(timeUnixNano: -1, .setBudget(SetBudget(agentID: "a", budgetUSD: 0))),
            Event(timeUnixNano: .max, .createGoal(CreateGoal(goalID: "g"))),
        ]
        let batch = Batch(producerID: "", sequence: 0, events: events)
        #expect(try Batch(decoding: try batch.makeFrame()) == batch)
    }

    @Test func unicodeAndLongStringsSurviveARoundTrip() throws {
        let agent = "agent-" + String(repeating: "é🚀", count: 500)
        let batch = Batch(
            producerID: "flotte-ü", sequence: 7,
            events: [
                Event(timeUnixNano: 1, .cycleStart(CycleStart(agentID: agent)))
            ])
        #expect(try Batch(decoding: try batch.makeFrame()) == batch)
    }

    @Test func anUnknownBudgetPeriodIsVisibleToTheServer() throws {
        let event = Event(
            timeUnixNano: 1, .setBudget(SetBudget(agentID: "a", budgetUSD: 1, period: .init(rawValue: 9))))
        let frame = try Batch(producerID: "p", sequence: 1, events: [event]).makeFrame()
        guard case .setBudget(let setBudget) = try BatchDecoder().decode(frame).first?.payload else {
            Issue.record("expected a set budget event")
            return
        }
        #expect(setBudget.period.rawValue == 9)
        #expect(!setBudget.period.isKnown)
    }

    @Test func aThousandEventBatchDecodesWithOneDecoderRepeatedly() throws {
        let decoder = BatchDecoder()
        for sequence in 1...3 as ClosedRange<UInt64> {
            let batch = makeSpendBatch(count: 1000, sequence: sequence)
            let decoded = try decoder.decode(try batch.makeFrame())
            #expect(decoded.count == 1000)
            #expect(decoded.sequence == sequence)
            #expect(decoded[999].event == batch.events[999])
        }
    }

    @Test func eventsOutliveTheirBatchAndTheDecoder() throws {
        var view: EventView?
        do {
            let decoder = BatchDecoder()
            view = try decoder.decode(try makeSpendBatch(count: 10).makeFrame()).last
        }
        #expect(view?.agentID == "agent-9")
    }

    @Test func anEventWithoutAKindReadsAsNil() throws {
        // Batch { events: [ Event { time_unix_nano: 5 } ] }
        let payload: [UInt8] = [0x1a, 0x02, 0x08, 0x05]
        let decoded = try BatchDecoder().decode(Frame(type: .batch, payload: payload))
        #expect(decoded.count == 1)
        #expect(decoded[0].timeUnixNano == 5)
        #expect(decoded[0].kind == nil)
        #expect(decoded[0].event == nil)
        #expect(wireError { try Batch(decoding: Frame(type: .batch, payload: payload)) }?.code == .invalidProtobuf)
    }

    @Test(
        arguments: [
            [0xff, 0xff, 0xff],  // a key with a varint that never ends
            [0x0a, 0x10, 0x41],  // producer_id claiming 16 bytes, carrying 1
            [0x1a, 0x05, 0x08],  // an event claiming 5 bytes, carrying 1
            [0x10],  // sequence without its value
            [0x0b, 0x01],  // a start-group wire type
        ] as [[UInt8]])
    func invalidProtobufIsATypedError(payload: [UInt8]) throws {
        let error = wireError { try BatchDecoder().decode(Frame(type: .batch, payload: payload)) }
        #expect(error?.code == .invalidProtobuf)
        let compressed = Frame(type: .batch, flags: .compressed, payload: try Zlib.deflate(payload, level: 6))
        #expect(wireError { try BatchDecoder().decode(compressed) }?.code == .invalidProtobuf)
    }

    @Test func randomBytesNeverCrashTheDecoder() {
        var generator = SystemRandomNumberGenerator()
        let decoder = BatchDecoder()
        for length in 0..<2000 {
            let payload = (0..<length % 200).map { _ in UInt8.random(in: 0...255, using: &generator) }
            _ = try? decoder.decode(Frame(type: .batch, payload: payload))
            _ = try? decoder.decode(Frame(type: .batch, flags: .compressed, payload: payload))
        }
    }

    @Test func mutatedBatchesDecodeOrFailCleanly() throws {
        let batch = Batch(producerID: "fleet-a", sequence: 9, events: everyKindOfEvent + everyKindOfEvent)
        let payload = try batch.makeFrame(compressionLevel: nil).payload
        var generator = SystemRandomNumberGenerator()
        let decoder = BatchDecoder()
        for _ in 0..<3000 {
            var mutated = payload
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                mutated[Int.random(in: 0..<mutated.count, using: &generator)] = UInt8.random(in: 0...255)
            }
            let cut = Int.random(in: 0...mutated.count, using: &generator)
            guard let decoded = try? decoder.decode(Frame(type: .batch, payload: Array(mutated[..<cut]))) else {
                continue
            }
            // Whatever decoded must be readable in full.
            for event in decoded {
                _ = (event.kind, event.agentID, event.event)
            }
        }
    }

    @Test func corruptZlibIsATypedError() {
        let frame = Frame(type: .batch, flags: .compressed, payload: [0x78, 0x9c, 0xde, 0xad, 0xbe, 0xef])
        #expect(wireError { try BatchDecoder().decode(frame) }?.code == .corruptZlib)
    }

    @Test func aZipBombFrameIsStoppedAtTheInflatedLimit() throws {
        let limits = WireLimits(maxFrameSize: 4 << 20, maxInflatedSize: 8 << 20)
        let bomb = try Zlib.deflate([UInt8](repeating: 0, count: 100_000_000), level: 9)
        let frame = Frame(type: .batch, flags: .compressed, payload: bomb)
        let received = try #require(try decodeAllFrames(try frame.serialized(), limits: limits).first)
        let error = wireError { try BatchDecoder(limits: limits).decode(received) }
        #expect(error?.code == .inflatedTooLarge)
    }

    @Test func anUncompressedPayloadOverTheInflatedLimitIsRefused() {
        let limits = WireLimits(maxFrameSize: 1 << 20, maxInflatedSize: 100)
        let frame = Frame(type: .batch, payload: [UInt8](repeating: 0, count: 101))
        #expect(wireError { try BatchDecoder(limits: limits).decode(frame) }?.code == .inflatedTooLarge)
    }

    @Test func unpackingIsBoundedByTheDecodedLimit() throws {
        // Ten thousand empty events: 20 bytes on the wire, far more once unpacked.
        let payload = [UInt8]((0..<10_000).flatMap { _ in [0x1a, 0x00] as [UInt8] })
        let limits = WireLimits(maxFrameSize: 1 << 20, maxInflatedSize: 1 << 20, maxDecodedSize: 64 * 1024)
        let error = wireError { try BatchDecoder(limits: limits).decode(Frame(type: .batch, payload: payload)) }
        #expect(error?.code == .decodedTooLarge)
        #expect(try BatchDecoder().decode(Frame(type: .batch, payload: payload)).count == 10_000)
    }

    @Test func limitsAsLargeAsAnIntCanHoldMeanNoLimit() throws {
        // Found when the fuzz harness got extreme limits: an inflated limit of Int.max used to trap on an overflow.
        let limits = WireLimits(maxFrameSize: .max, maxInflatedSize: .max, maxDecodedSize: .max)
        let batch = Batch(producerID: "fleet-a", sequence: 3, events: everyKindOfEvent)
        let received = try #require(try decodeAllFrames(try batch.makeFrame().serialized(), limits: limits).first)
        #expect(try Batch(decoding: received, limits: limits) == batch)
        let ack = Ack(sequence: 3, status: .ok, applied: 6)
        #expect(try Ack(decoding: try ack.makeFrame(compressionLevel: 6), limits: limits) == ack)
    }

    @Test func aFrameOfAnotherTypeIsRefused() throws {
        let frame = try Hello(token: "t", producerID: "p", clientVersion: "v").makeFrame()
        let error = wireError { try BatchDecoder().decode(frame) }
        #expect(error?.code == .unexpectedFrameType)
    }

    @Test func aStringWithANulByteCannotBeEncoded() {
        let batch = Batch(
            producerID: "p", sequence: 1,
            events: [
                Event(timeUnixNano: 1, .cycleStart(CycleStart(agentID: "a\u{0}b")))
            ])
        let error = wireError { try batch.makeFrame() }
        #expect(error?.code == .encodingFailed)
        #expect(error?.message.contains("events[0].agent_id") == true)
    }
}
