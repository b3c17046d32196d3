// The client's connection to an ingest server: AgentCostSystem's blocking socket, with its failures mapped to
// `SpendClientError` codes and closing made safe to call from any thread, more than once.

import AgentCostSystem
import Synchronization

/// A blocking TCP connection to an ingest server, with Nagle's algorithm off and bounded reads and writes.
///
/// One thread may write while another reads (TCP is full duplex); two threads must not read, or write, at once.
/// `shutdown()` may be called from any thread to wake a blocked reader.
public final class TCPConnection: Sendable {
    /// The server this connection goes to, for error messages.
    public let address: ServerAddress

    private let socket: Socket
    private let peer: ListenAddress
    private let isClosed = Atomic<Bool>(false)

    private init(socket: Socket, address: ServerAddress, peer: ListenAddress) {
        self.socket = socket
        self.address = address
        self.peer = peer
    }

    deinit {
        close()
    }

    /// Connects to `address`, trying each of its resolved addresses in turn.
    ///
    /// - Parameters:
    ///   - address: the server.
    ///   - connectTimeout: how long one connection attempt may take.
    ///   - ioTimeout: how long one read or write may block before it fails with `timedOut`.
    /// - Throws: `SpendClientError` with code `connectionFailed` naming the address and the system's reason.
    public static func connect(
        to address: ServerAddress, connectTimeout: Duration, ioTimeout: Duration
    ) throws(SpendClientError) -> TCPConnection {
        let peer = ListenAddress(host: address.host, port: address.port)
        do {
            let socket = try Socket.connect(to: peer, connectTimeout: connectTimeout, ioTimeout: ioTimeout)
            return TCPConnection(socket: socket, address: address, peer: peer)
        } catch {
            throw SpendClientError(error)
        }
    }

    /// Writes all of `bytes`.
    ///
    /// - Throws: `SpendClientError` with code `connectionLost` when the connection broke, `timedOut` when the
    ///   server did not take the bytes within the I/O timeout.
    public func write(_ bytes: [UInt8]) throws(SpendClientError) {
        do {
            try socket.writeAll(bytes, to: peer)
        } catch {
            throw SpendClientError(error)
        }
    }

    /// Reads what has arrived, up to `maxBytes`, appending it to `bytes`; blocks until something arrives.
    ///
    /// - Returns: the number of bytes appended; 0 when the server closed the connection.
    /// - Throws: `SpendClientError` with code `timedOut` when nothing arrived within the I/O timeout,
    ///   `connectionLost` when the connection broke.
    public func read(appendingTo bytes: inout [UInt8], maxBytes: Int = 64 * 1024) throws(SpendClientError) -> Int {
        do {
            return try socket.read(appendingTo: &bytes, maxBytes: maxBytes, from: peer)
        } catch {
            throw SpendClientError(error)
        }
    }

    /// Stops both directions, waking a thread blocked in `read`; the descriptor stays open until `close()`.
    public func shutdown() {
        guard !isClosed.load(ordering: .acquiring) else { return }
        socket.shutdown()
    }

    /// Closes the connection; later reads and writes fail. Safe to call more than once.
    public func close() {
        guard !isClosed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        socket.close()
    }
}

extension SpendClientError {
    /// The client's code for a connection failure of AgentCostSystem, with its message.
    init(_ error: ConnectionError) {
        let code: Code
        switch error.kind {
        case .timedOut: code = .timedOut
        case .connectionLost: code = .connectionLost
        default: code = .connectionFailed
        }
        self.init(code, error.message)
    }
}
