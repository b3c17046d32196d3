import AgentCostWire
import Foundation
import Testing

@testable import agentcostctl

@Suite("agentcostctl subcommands against a loopback server")
struct CommandTests {
    private func temporaryPath(_ name: String) -> String {
        NSTemporaryDirectory() + "agentcostctl-test-\(UUID().uuidString)-\(name)"
    }

    @Test func replaySendsEveryLineInBatchesAndSurvivesARetry() throws {
        let server = try ScriptedServer(script: [.ok, .retryLater])
        defer { server.stop() }
        let path = temporaryPath("events.jsonl")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let lines = (0..<5).map { #"{"type":"spend","agent_id":"a\#($0)","cost_usd":0.5,"time":\#($0)}"# }
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)

        try ReplayCommand.run(
            [path, "--address", "127.0.0.1:\(server.port)", "--producer", "replay-test", "--batch-size", "2"])

        // Batch 3 was pipelined behind batch 2, refused with it, and resent after it.
        #expect(server.record.received.map(\.sequence) == [1, 2, 3, 2, 3])
        #expect(server.record.received.allSatisfy { $0.producerID == "replay-test" })
        #expect(server.record.applied.map(\.timeUnixNano) == (0..<5).map { Int64($0) * 1_000_000_000 })
    }

    @Test func genWritesFramesThatBlastSendsUnderFreshProducers() throws {
        let server = try ScriptedServer(script: [])
        defer { server.stop() }
        let path = temporaryPath("frames.bin")
        defer { try? FileManager.default.removeItem(atPath: path) }

        try GenerateCommand.run(["--out", path, "--frames", "3", "--events-per-frame", "50", "--agents", "7"])
        let frames = try BlastCommand.splitFrames([UInt8](try InputOutput.readFile(path)), path: path)
        let batches = try frames.map { try Batch(decoding: $0) }
        #expect(batches.map(\.sequence) == [1, 2, 3])
        #expect(batches.allSatisfy { $0.events.count == 50 && $0.producerID == "agentcostctl-gen" })
        let kinds = Set(batches.flatMap { $0.events.map(\.payload.kind) })
        #expect(kinds == [.cycleStart, .spend, .cycleEnd])

        try BlastCommand.run([path, "--address", "127.0.0.1:\(server.port)", "--repeat", "2"])

        // Two rounds of three frames, each round under its own producer, so all 300 events were applied.
        let received = server.record.received
        #expect(received.map(\.sequence) == [1, 2, 3, 1, 2, 3])
        #expect(Set(received.map(\.producerID)).count == 2)
        #expect(server.record.applied.count == 300)
    }

    @Test func blastOverSeveralConnectionsUsesAProducerPerConnection() throws {
        let server = try ScriptedServer(script: [])
        defer { server.stop() }
        let path = temporaryPath("frames.bin")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try GenerateCommand.run(["--out", path, "--frames", "2", "--events-per-frame", "10", "--level", "1"])

        try BlastCommand.run([path, "--address", "127.0.0.1:\(server.port)", "--connections", "3"])

        #expect(server.record.connections == 3)
        #expect(Set(server.record.received.map(\.producerID)).count == 3)
        #expect(server.record.applied.count == 60)
    }

    @Test func blastRefusesKeepProducerWithRepeats() {
        let error = #expect(throws: CtlError.self) {
            try BlastCommand.run(["frames.bin", "--keep-producer", "--repeat", "2"])
        }
        #expect(error?.code == .usage)
    }

    @Test func connectionFailureNamesTheAddress() throws {
        let server = try ScriptedServer(script: [])
        let port = server.port
        server.stop()
        let path = temporaryPath("one.jsonl")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try #"{"type":"cycle_start","agent_id":"a"}"#.write(toFile: path, atomically: true, encoding: .utf8)

        let error = #expect(throws: CtlError.self) {
            try ReplayCommand.run([path, "--address", "127.0.0.1:\(port)", "--deadline", "0"])
        }
        #expect(error?.code.exitStatus == 1)
        #expect(error?.message.contains("127.0.0.1:\(port)") == true)
    }
}
