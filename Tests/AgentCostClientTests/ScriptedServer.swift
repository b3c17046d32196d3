// A real loopback TCP peer for the client tests: reads frames, decodes batches, and answers as its script says.

import AgentCostWire
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A one-connection-at-a-time ingest server on 127.0.0.1 that answers batches according to a script.
///
/// It keeps exactly-once state like the real server: a batch at or below the producer's highest applied sequence is
/// acknowledged OK with `applied` 0 and not applied again. Once it answers RETRY_LATER on a connection it answers
/// RETRY_LATER to every later batch on that connection, as docs/protocol.md requires: applying a pipelined later
/// batch would make the refused one a "duplicate" when it is resent, and lose it. Its rejections look like the real
/// server's: sequence 0 (the server could not read the batch), the reason code first in the message, and for a
/// refused hello or missing token, the connection closed after the ack.
final class ScriptedServer: Sendable {
    /// What the server does with one batch frame.
    enum Reply: Sendable {
        /// Applies the batch (unless it is a duplicate) and answers OK.
        case ok
        /// Answers RETRY_LATER without applying.
        case retryLater
        /// Answers REJECTED with sequence 0 and the message "`reason`: …", as the real server answers a
        /// well-delimited batch it cannot read (`invalid_protobuf`, `corrupt_zlib`, `inflated_too_large`); keeps
        /// the connection.
        case reject(reason: String)
        /// The same, then closes the connection, as the real server does when a frame's header is bad
        /// (`frame_too_large`): frames sent after it on the connection go unanswered.
        case rejectAndClose(reason: String)
        /// Closes the connection without answering.
        case dropConnection
        /// Never answers (the client must time out); keeps the connection open.
        case ignore
    }

    struct Record: Sendable {
        /// Every batch frame received, in order, duplicates included.
        var received: [Batch] = []
        /// Every event applied, in order.
        var applied: [Event] = []
        /// The hellos received.
        var hellos: [Hello] = []
        /// How many connections were accepted.
        var connections = 0
        var highestApplied: [String: UInt64] = [:]
        var script: [Reply]
    }

    let port: UInt16
    private let listener: Int32
    private let state: Mutex<Record>
    private let requiredToken: String?
    private let pausedAgentsFor: @Sendable (Batch) -> [String]

    /// Starts listening on an ephemeral port and serving on a background thread.
    init(
        script: [Reply], requiredToken: String? = nil,
        pausedAgents: @escaping @Sendable (Batch) -> [String] = { _ in [] }
    ) throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw ServerError("socket: \(errno)") }
        var reuse: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(descriptor, 16) == 0 else { throw ServerError("bind/listen: \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        self.port = UInt16(bigEndian: address.sin_port)
        self.listener = descriptor
        self.state = Mutex(Record(script: script))
        self.requiredToken = requiredToken
        self.pausedAgentsFor = pausedAgents

        let thread = Thread { [self] in serve() }
        thread.start()
    }

    /// What the server has seen so far.
    var record: Record { state.withLock { $0 } }

    /// Stops accepting; the serving thread ends after its current connection and closes the listener (closing it
    /// here could let the thread accept on a descriptor number another test reused).
    func stop() {
        Glibc.shutdown(listener, Int32(SHUT_RDWR))
    }

    private func serve() {
        while true {
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else {
                if errno == EINTR { continue }
                Glibc.close(listener)
                return
            }
            state.withLock { $0.connections += 1 }
            handle(connection)
            Glibc.close(connection)
        }
    }

    /// Serves one connection until the peer closes it or the script drops it.
    private func handle(_ connection: Int32) {
        var decoder = FrameDecoder()
        var buffer = [UInt8](repeating: 0, count: 65536)
        var refusing = false
        var authenticated = requiredToken == nil
        while true {
            let received = buffer.withUnsafeMutableBytes { recv(connection, $0.baseAddress!, $0.count, 0) }
            guard received > 0 else { return }
            decoder.append(buffer[0..<received])
            do {
                while let frame = try decoder.nextFrame() {
                    let answer = try answer(frame, refusing: &refusing, authenticated: &authenticated)
                    if let ack = answer.ack {
                        let bytes = try ack.makeFrame().serialized()
                        _ = bytes.withUnsafeBytes { send(connection, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
                    }
                    if answer.close { return }
                }
            } catch {
                return
            }
        }
    }

    /// What to do with one frame: the ack to send (nil: none), and whether to close the connection after it.
    private struct Answer {
        var ack: Ack?
        var close = false
    }

    private func answer(_ frame: Frame, refusing: inout Bool, authenticated: inout Bool) throws -> Answer {
        if frame.type == .hello {
            let hello = try Hello(decoding: frame)
            state.withLock { $0.hellos.append(hello) }
            if let requiredToken, hello.token != requiredToken {
                return Answer(
                    ack: Ack(sequence: 0, status: .rejected, message: "bad_token: invalid token"), close: true)
            }
            authenticated = true
            return Answer(ack: Ack(sequence: 0, status: .ok))
        }
        let batch = try Batch(decoding: frame)
        guard authenticated else {
            state.withLock { $0.received.append(batch) }
            return Answer(
                ack: Ack(sequence: 0, status: .rejected, message: "unauthenticated: a hello with a token comes first"),
                close: true)
        }
        let paused = pausedAgentsFor(batch)
        let alreadyRefusing = refusing
        let answer = state.withLock { record -> Answer in
            record.received.append(batch)
            guard !alreadyRefusing else {
                return Answer(ack: Ack(sequence: batch.sequence, status: .retryLater, message: "still busy"))
            }
            let reply = record.script.isEmpty ? .ok : record.script.removeFirst()
            switch reply {
            case .dropConnection:
                return Answer(ack: nil, close: true)
            case .ignore:
                return Answer(ack: nil)
            case .retryLater:
                return Answer(ack: Ack(sequence: batch.sequence, status: .retryLater, message: "busy"))
            case .reject(let reason):
                return Answer(ack: Ack(sequence: 0, status: .rejected, message: "\(reason): scripted rejection"))
            case .rejectAndClose(let reason):
                return Answer(
                    ack: Ack(sequence: 0, status: .rejected, message: "\(reason): scripted rejection"), close: true)
            case .ok:
                let highest = record.highestApplied[batch.producerID, default: 0]
                guard batch.sequence > highest else {
                    return Answer(ack: Ack(sequence: batch.sequence, status: .ok, pausedAgents: paused))
                }
                record.highestApplied[batch.producerID] = batch.sequence
                record.applied += batch.events
                return Answer(
                    ack: Ack(
                        sequence: batch.sequence, status: .ok, applied: UInt32(batch.events.count),
                        pausedAgents: paused))
            }
        }
        if answer.ack?.status == .retryLater {
            refusing = true
        }
        return answer
    }
}

struct ServerError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}
