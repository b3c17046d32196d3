// The client's only contact with the socket API: a blocking TCP connection, wrapped once over Glibc.

import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A blocking TCP connection to an ingest server, with Nagle's algorithm off and bounded reads and writes.
///
/// One thread may write while another reads (TCP is full duplex); two threads must not read, or write, at once.
/// `shutdown()` may be called from any thread to wake a blocked reader.
public final class TCPConnection: Sendable {
    /// The server this connection goes to, for error messages.
    public let address: ServerAddress

    private let descriptor: Int32
    private let isClosed = Atomic<Bool>(false)

    private init(descriptor: Int32, address: ServerAddress) {
        self.descriptor = descriptor
        self.address = address
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
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(address.host, String(address.port), &hints, &list)
        guard status == 0, let first = list else {
            throw SpendClientError(
                .connectionFailed,
                "cannot resolve the host of \(address): \(String(cString: gai_strerror(status))); check the address")
        }
        defer { freeaddrinfo(list) }

        var lastError: Int32 = 0
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let current = entry {
            entry = current.pointee.ai_next
            let outcome = attempt(current.pointee, timeout: connectTimeout)
            guard outcome >= 0 else {
                lastError = -outcome
                continue
            }
            setOption(outcome, IPPROTO_TCP, TCP_NODELAY, 1)
            var interval = timeval(tv_sec: 0, tv_usec: 0)
            let (seconds, attoseconds) = ioTimeout.components
            interval.tv_sec = Int(max(0, seconds))
            interval.tv_usec = Int(max(0, attoseconds) / 1_000_000_000_000)
            if interval.tv_sec == 0 && interval.tv_usec == 0 {
                interval.tv_usec = 1000
            }
            setsockopt(outcome, SOL_SOCKET, SO_RCVTIMEO, &interval, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(outcome, SOL_SOCKET, SO_SNDTIMEO, &interval, socklen_t(MemoryLayout<timeval>.size))
            return TCPConnection(descriptor: outcome, address: address)
        }
        throw SpendClientError(
            .connectionFailed,
            "cannot connect to \(address): \(String(cString: strerror(lastError))); "
                + "check that the exporter is running and listening there")
    }

    /// Writes all of `bytes`.
    ///
    /// - Throws: `SpendClientError` with code `connectionLost` when the connection broke, `timedOut` when the
    ///   server did not take the bytes within the I/O timeout.
    public func write(_ bytes: [UInt8]) throws(SpendClientError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer in
                Glibc.send(descriptor, buffer.baseAddress! + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
            }
            if written >= 0 {
                offset += written
                continue
            }
            let error = errno
            if error == EINTR { continue }
            throw failure(error, doing: "writing to")
        }
    }

    /// Reads what has arrived, up to `maxBytes`, appending it to `bytes`; blocks until something arrives.
    ///
    /// - Returns: the number of bytes appended; 0 when the server closed the connection.
    /// - Throws: `SpendClientError` with code `timedOut` when nothing arrived within the I/O timeout,
    ///   `connectionLost` when the connection broke.
    public func read(appendingTo bytes: inout [UInt8], maxBytes: Int = 64 * 1024) throws(SpendClientError) -> Int {
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: maxBytes))
        while true {
            let received = bytes.withUnsafeMutableBytes { buffer in
                recv(descriptor, buffer.baseAddress! + start, maxBytes, 0)
            }
            if received >= 0 {
                bytes.removeLast(maxBytes - received)
                return received
            }
            let error = errno
            if error == EINTR { continue }
            bytes.removeLast(maxBytes)
            throw failure(error, doing: "reading from")
        }
    }

    /// Stops both directions, waking a thread blocked in `read`; the descriptor stays open until `close()`.
    public func shutdown() {
        guard !isClosed.load(ordering: .acquiring) else { return }
        _ = Glibc.shutdown(descriptor, Int32(SHUT_RDWR))
    }

    /// Closes the connection; later reads and writes fail. Safe to call more than once.
    public func close() {
        guard !isClosed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        _ = Glibc.close(descriptor)
    }

    private func failure(_ error: Int32, doing action: String) -> SpendClientError {
        if error == EAGAIN || error == EWOULDBLOCK {
            return SpendClientError(
                .timedOut,
                "timed out \(action) \(address); the server is overloaded or unreachable, or the timeout is too short")
        }
        return SpendClientError(
            .connectionLost, "connection to \(address) broke while \(action) it: \(String(cString: strerror(error)))")
    }

    /// One non-blocking connect bounded by `timeout`; the connected (blocking) descriptor, or minus the errno.
    private static func attempt(_ info: addrinfo, timeout: Duration) -> Int32 {
        let descriptor = socket(info.ai_family, info.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), info.ai_protocol)
        guard descriptor >= 0 else { return -errno }
        let flags = fcntl(descriptor, F_GETFL)
        _ = fcntl(descriptor, F_SETFL, flags | O_NONBLOCK)

        var error: Int32 = 0
        if Glibc.connect(descriptor, info.ai_addr, info.ai_addrlen) != 0 {
            error = errno
            if error == EINPROGRESS {
                error = waitForConnect(descriptor, timeout: timeout)
            }
        }
        guard error == 0 else {
            _ = Glibc.close(descriptor)
            return -error
        }
        _ = fcntl(descriptor, F_SETFL, flags & ~O_NONBLOCK)
        return descriptor
    }

    /// Waits for a non-blocking connect to finish; 0 on success, else the errno.
    private static func waitForConnect(_ descriptor: Int32, timeout: Duration) -> Int32 {
        let (seconds, attoseconds) = timeout.components
        let milliseconds = Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000)
        var poller = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
        var ready: Int32
        repeat {
            ready = poll(&poller, 1, max(1, milliseconds))
        } while ready < 0 && errno == EINTR
        guard ready > 0 else { return ready == 0 ? ETIMEDOUT : errno }
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &error, &length) == 0 else { return errno }
        return error
    }

    private static func setOption(_ descriptor: Int32, _ level: Int, _ option: Int32, _ value: Int32) {
        var value = value
        setsockopt(descriptor, Int32(level), option, &value, socklen_t(MemoryLayout<Int32>.size))
    }
}
