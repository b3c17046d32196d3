// `agentcostctl blast FILE`: sends pre-compressed frames as fast as the server takes them and measures the acks.

import AgentCostClient
import AgentCostWire
import Foundation
import Synchronization

enum BlastCommand {
    static let help = """
        Usage: agentcostctl blast FILE [FLAGS]

        Sends the frames of FILE (written by 'agentcostctl gen') as fast as possible: on each connection a writer
        sends every frame back to back while a reader thread reads the acks. Prints events/s and frames/s computed
        from the acks (events = applied + rejected; the clock runs from the first write to the last ack), and the
        totals.

        Exactly-once means a producer's sequence is applied once, so resending the file would be all duplicates.
        Before the clock starts, blast therefore re-encodes every frame with a producer id unique to this run,
        connection and repeat ("<file's producer>-<run>-c<connection>-r<repeat>"), at --level. With
        --keep-producer it sends the file's bytes unchanged (one connection, one repeat only).

        Flags:
          --address HOST:PORT    the exporter's ingest address (default 127.0.0.1:9471)
          --connections N        parallel connections, each sending the whole file (default 1)
          --repeat N             times each connection sends the file (default 1)
          --level N              zlib level of the re-encoded frames (default 6)
          --keep-producer        send the file as it is
          --token-file F         send a hello with the token in F first on each connection
          --timeout SECONDS      how long to wait for an ack before giving up (default 30)

        """

    static func run(_ arguments: ArraySlice<String>) throws(CtlError) {
        let options = try CommandLineOptions(
            arguments, subcommand: "blast",
            valued: ["address", "connections", "repeat", "level", "token-file", "timeout"],
            boolean: ["keep-producer"])
        if options.wantsHelp {
            print(help, terminator: "")
            return
        }
        let path = try options.onlyPositional("FILE", subcommand: "blast")
        let address = try InputOutput.address(options)
        let connections = try options.integer("connections", default: 1, in: 1...10_000)
        let repeats = try options.integer("repeat", default: 1, in: 1...1_000_000)
        let level = try options.integer("level", default: 6, in: 0...9)
        let token = try InputOutput.token(fromFile: options.values["token-file"])
        let timeout = try options.seconds("timeout", default: .seconds(30))
        let keepProducer = options.isSet("keep-producer")
        if keepProducer && (connections > 1 || repeats > 1) {
            throw CtlError(
                .usage, "--keep-producer sends duplicates with more than one connection or repeat; drop one of them")
        }

        // Every connection's bytes, prepared before the clock starts.
        let file = [UInt8](try InputOutput.readFile(path))
        let frames = try splitFrames(file, path: path)
        let run = InputOutput.uniqueProducerID(prefix: "blast")
        var payloads: [[UInt8]] = []
        for connection in 0..<connections {
            if keepProducer {
                payloads.append(file)
                continue
            }
            var bytes: [UInt8] = []
            for round in 0..<repeats {
                try reencode(frames, suffix: "-\(run)-c\(connection)-r\(round)", level: level, into: &bytes)
            }
            payloads.append(bytes)
        }
        let framesPerConnection = frames.count * (keepProducer ? 1 : repeats)

        // Connect everything, then send everything.
        var links: [TCPConnection] = []
        for _ in 0..<connections {
            do {
                let link = try TCPConnection.connect(to: address, connectTimeout: .seconds(5), ioTimeout: timeout)
                try sendHello(token, on: link)
                links.append(link)
            } catch {
                throw CtlError(.failure, "cannot blast \(address): \(error.message)")
            }
        }
        let tally = BlastTallyBox()
        let done = DispatchSemaphore(value: 0)
        let start = ContinuousClock.now
        for (link, bytes) in zip(links, payloads) {
            Thread { readAcks(on: link, count: framesPerConnection, into: tally, start: start, done: done) }.start()
            Thread {
                do {
                    try link.write(bytes)
                } catch {
                    tally.state.withLock { $0.errors.append("\(error)") }
                    link.shutdown()
                }
            }.start()
        }
        for _ in links {
            done.wait()
        }

        // Report.
        let result = tally.state.withLock { $0 }
        let seconds = Double(nanosecondsOf(result.lastAck - start)) / 1e9
        let events = result.applied + result.rejected
        print(
            "acks=\(result.acks) of \(framesPerConnection * connections) frames, events=\(events) "
                + "applied=\(result.applied) rejected=\(result.rejected) not_ok_batches=\(result.notOK) "
                + "in \(formatted(seconds)) s")
        print(
            "events/s=\(formatted(seconds > 0 ? Double(events) / seconds : 0)) "
                + "frames/s=\(formatted(seconds > 0 ? Double(result.acks) / seconds : 0))")
        if let error = result.errors.first {
            throw CtlError(.failure, "blast to \(address) stopped early (\(result.errors.count) connections): \(error)")
        }
    }

    /// The frames of a file written by `gen`.
    static func splitFrames(_ bytes: [UInt8], path: String) throws(CtlError) -> [Frame] {
        var decoder = FrameDecoder()
        decoder.append(bytes)
        var frames: [Frame] = []
        do {
            while let frame = try decoder.nextFrame() {
                frames.append(frame)
            }
            try decoder.finish()
        } catch {
            throw CtlError(.invalidInput, "'\(path)' is not a file of frames (after \(frames.count)): \(error.message)")
        }
        guard !frames.isEmpty else {
            throw CtlError(.invalidInput, "'\(path)' holds no frames; write one with 'agentcostctl gen'")
        }
        return frames
    }

    /// Appends each frame re-encoded with `suffix` added to its producer id.
    static func reencode(_ frames: [Frame], suffix: String, level: Int, into bytes: inout [UInt8]) throws(CtlError) {
        for (index, frame) in frames.enumerated() {
            do {
                var batch = try Batch(decoding: frame)
                batch.producerID += suffix
                try batch.makeFrame(compressionLevel: level).serialize(into: &bytes)
            } catch {
                throw CtlError(.invalidInput, "frame \(index + 1) cannot be re-encoded: \(error.message)")
            }
        }
    }

    private static func sendHello(_ token: String?, on link: TCPConnection) throws(SpendClientError) {
        guard let token else { return }
        let hello = Hello(token: token, producerID: "agentcostctl-blast", clientVersion: "agentcostctl/0.1.0")
        let ack: Ack
        do throws(any Error) {
            try link.write(try hello.makeFrame().serialized())
            var decoder = FrameDecoder()
            var buffer: [UInt8] = []
            while true {
                if let frame = try decoder.nextFrame() {
                    ack = try Ack(decoding: frame)
                    break
                }
                buffer.removeAll(keepingCapacity: true)
                guard try link.read(appendingTo: &buffer) > 0 else {
                    throw SpendClientError(.connectionLost, "the server closed the connection after the hello")
                }
                decoder.append(buffer)
            }
        } catch let error as SpendClientError {
            throw error
        } catch {
            throw SpendClientError(.protocolViolation, "unreadable answer to the hello: \(error)")
        }
        guard ack.status == .ok else {
            throw SpendClientError(.helloRejected, "the server refused the hello: \(ack.message)")
        }
    }

    /// Reads `count` acks, adding them up; signals `done` at the end or on the first error.
    private static func readAcks(
        on link: TCPConnection, count: Int, into tally: BlastTallyBox, start: ContinuousClock.Instant,
        done: DispatchSemaphore
    ) {
        defer { done.signal() }
        var decoder = FrameDecoder()
        var buffer: [UInt8] = []
        var received = 0
        do throws(any Error) {
            while received < count {
                if let frame = try decoder.nextFrame() {
                    let ack = try Ack(decoding: frame)
                    received += 1
                    let now = ContinuousClock.now
                    tally.state.withLock { $0.add(ack, at: now) }
                    continue
                }
                buffer.removeAll(keepingCapacity: true)
                guard try link.read(appendingTo: &buffer) > 0 else {
                    throw SpendClientError(
                        .connectionLost, "the server closed the connection after \(received) of \(count) acks")
                }
                decoder.append(buffer)
            }
        } catch {
            tally.state.withLock { $0.errors.append("\(error)") }
        }
        // Ends the connection (and wakes the writer after an error); the descriptor closes when both threads are
        // done with it.
        link.shutdown()
    }

    private static func formatted(_ value: Double) -> String {
        String(format: "%.1f", value)
    }

    private static func nanosecondsOf(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

private final class BlastTallyBox: Sendable {
    let state = Mutex(BlastTally())
}

private struct BlastTally {
    var acks = 0
    var applied: UInt64 = 0
    var rejected: UInt64 = 0
    var notOK = 0
    var lastAck = ContinuousClock.now
    var errors: [String] = []

    mutating func add(_ ack: Ack, at time: ContinuousClock.Instant) {
        acks += 1
        applied += UInt64(ack.applied)
        rejected += UInt64(ack.rejected)
        if ack.status != .ok {
            notOK += 1
        }
        lastAck = time
    }
}
