import AgentCostSystem
import Synchronization
import Testing

@Suite("Client sockets, threads and sleep of AgentCostSystem")
struct SocketConnectTests {
    /// A port that was just free: bound by a listener that is closed again.
    private func closedPort() throws -> UInt16 {
        let listener = try Socket.listen(on: ListenAddress(host: "127.0.0.1", port: 0))
        defer { listener.close() }
        return listener.localPort
    }

    @Test("connecting where nothing listens fails with connectFailed, naming the address")
    func connectRefused() throws {
        let address = ListenAddress(host: "127.0.0.1", port: try closedPort())
        let error = #expect(throws: ConnectionError.self) {
            try Socket.connect(to: address, connectTimeout: .seconds(2))
        }
        #expect(error?.kind == .connectFailed)
        #expect(error?.address == address)
        #expect(error?.message.contains("cannot connect to \(address)") == true)
    }

    @Test("an unresolvable host fails with connectFailed, naming the address")
    func unresolvableHost() {
        let address = ListenAddress(host: "no-such-host.invalid", port: 9471)
        let error = #expect(throws: ConnectionError.self) {
            try Socket.connect(to: address, connectTimeout: .seconds(2))
        }
        #expect(error?.kind == .connectFailed)
        #expect(error?.message.contains("cannot resolve the host of no-such-host.invalid:9471") == true)
    }

    @Test("a read that gets nothing within the I/O timeout fails with timedOut")
    func readTimesOut() throws {
        let (listener, address, socket) = try connectedPair(ioTimeout: .milliseconds(50))
        defer { listener.close() }
        defer { socket.close() }

        var bytes: [UInt8] = [7]
        let error = #expect(throws: ConnectionError.self) {
            try socket.read(appendingTo: &bytes, from: address)
        }
        #expect(error?.kind == .timedOut)
        #expect(error?.message.contains("timed out reading from \(address)") == true)
        #expect(bytes == [7])
    }

    @Test("bytes written arrive and are appended; the peer's close reads as 0")
    func writeAndRead() throws {
        let (listener, address, client) = try connectedPair(ioTimeout: .seconds(5))
        defer { listener.close() }
        defer { client.close() }
        let peer = try #require(try acceptWithin(listener))

        try client.writeAll([1, 2, 3], to: address)
        var received: [UInt8] = []
        while received.count < 3, peer.socket.waitReadable(milliseconds: 5000) {
            var chunk = [UInt8](repeating: 0, count: 16)
            guard case .bytes(let count) = peer.socket.read(into: &chunk) else { break }
            received += chunk[0..<count]
        }
        #expect(received == [1, 2, 3])

        try peer.socket.writeAll([4, 5], to: address)
        peer.socket.close()
        var bytes: [UInt8] = [0]
        #expect(try client.read(appendingTo: &bytes, from: address) == 2)
        #expect(bytes == [0, 4, 5])
        #expect(try client.read(appendingTo: &bytes, from: address) == 0)
    }

    @Test("writing to a peer that closed fails with connectionLost, naming the address")
    func writeToClosedPeer() throws {
        let (listener, address, client) = try connectedPair(ioTimeout: .seconds(5))
        defer { listener.close() }
        defer { client.close() }
        try #require(try acceptWithin(listener)).socket.close()

        var failure: ConnectionError?
        for _ in 0..<100 where failure == nil {
            do {
                try client.writeAll([UInt8](repeating: 1, count: 1024), to: address)
                Clock.sleep(for: .milliseconds(10))
            } catch {
                failure = error
            }
        }
        #expect(failure?.kind == .connectionLost)
        #expect(failure?.message.contains("connection to \(address) broke while writing to it") == true)
    }

    @Test("a detached thread runs its body; sleep waits at least its duration")
    func detachedThreadAndSleep() throws {
        let flag = RanFlag()
        try OSThread.detach { flag.ran.store(true, ordering: .releasing) }
        let start = Clock.monotonicSeconds()
        while !flag.ran.load(ordering: .acquiring), Clock.monotonicSeconds() - start < 5 {
            Clock.sleep(for: .milliseconds(1))
        }
        let didRun = flag.ran.load(ordering: .acquiring)
        #expect(didRun)

        let before = Clock.monotonicSeconds()
        Clock.sleep(for: .milliseconds(20))
        #expect(Clock.monotonicSeconds() - before >= 0.019)
        Clock.sleep(for: .zero)
    }

    /// A loopback listener and a client connected to it (not yet accepted).
    private func connectedPair(ioTimeout: Duration) throws -> (Socket, ListenAddress, Socket) {
        let listener = try Socket.listen(on: ListenAddress(host: "127.0.0.1", port: 0))
        let address = ListenAddress(host: "127.0.0.1", port: listener.localPort)
        do {
            return (listener, address, try Socket.connect(to: address, ioTimeout: ioTimeout))
        } catch {
            listener.close()
            throw error
        }
    }

    /// Accepts the one connection the test made (the listener is non-blocking).
    private func acceptWithin(_ listener: Socket) throws -> (socket: Socket, peer: String)? {
        guard listener.waitReadable(milliseconds: 5000) else { return nil }
        return try listener.accept()
    }
}

private final class RanFlag: Sendable {
    let ran = Atomic<Bool>(false)
}
