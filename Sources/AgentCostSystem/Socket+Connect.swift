// The client side of a socket: resolving a host, connecting with a bounded wait, and blocking reads and writes
// bounded by an I/O timeout, each failure reported as a `ConnectionError` naming the address.

#if canImport(Glibc)
    import Glibc
#endif

extension Socket {
    /// Connects a blocking socket to `address`, trying each address the host resolves to in turn.
    ///
    /// The socket has Nagle's algorithm off; with an `ioTimeout`, a read or write that blocks longer fails (reads
    /// return `.wouldBlock`, `writeAll(_:to:)` and `read(appendingTo:maxBytes:from:)` throw `timedOut`).
    ///
    /// - Parameters:
    ///   - address: a host name or numeric address, and a port.
    ///   - connectTimeout: how long one connection attempt may take.
    ///   - ioTimeout: how long one read or write may block; nil for no limit.
    /// - Returns: the connected, blocking socket; close it with `close()`.
    /// - Throws: `ConnectionError` of kind `connectFailed` naming the address and the system's reason.
    public static func connect(
        to address: ListenAddress, connectTimeout: Duration = .seconds(5), ioTimeout: Duration? = nil
    ) throws(ConnectionError) -> Socket {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(address.host, String(address.port), &hints, &list)
        guard status == 0, let first = list else {
            throw ConnectionError(
                .connectFailed, address: address,
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
            let socket = Socket(descriptor: outcome)
            socket.setNoDelay()
            if let ioTimeout {
                socket.setTimeout(SO_RCVTIMEO, ioTimeout)
                socket.setTimeout(SO_SNDTIMEO, ioTimeout)
            }
            return socket
        }
        throw ConnectionError(
            .connectFailed, address: address,
            "cannot connect to \(address): \(String(cString: strerror(lastError))); "
                + "check that the exporter is running and listening there")
    }

    /// Writes all of `bytes` to a blocking socket connected to `peer`.
    ///
    /// - Throws: `ConnectionError` of kind `timedOut` when the peer did not take the bytes within the I/O timeout,
    ///   `connectionLost` when the connection broke.
    public func writeAll(_ bytes: [UInt8], to peer: ListenAddress) throws(ConnectionError) {
        var offset = 0
        while offset < bytes.count {
            let written: Int
            do {
                written = try write(bytes, from: offset)
            } catch {
                throw Self.lost(peer, error.errno, doing: "writing to")
            }
            // A blocking socket only reports "would block" once its send timeout has passed.
            guard written > 0 else { throw Self.timedOut(peer, doing: "writing to") }
            offset += written
        }
    }

    /// Reads what has arrived on a blocking socket connected to `peer`, up to `maxBytes`, appending it to `bytes`;
    /// blocks until something arrives.
    ///
    /// - Returns: the number of bytes appended; 0 when the peer closed the connection.
    /// - Throws: `ConnectionError` of kind `timedOut` when nothing arrived within the I/O timeout,
    ///   `connectionLost` when the connection broke.
    public func read(
        appendingTo bytes: inout [UInt8], maxBytes: Int = 64 * 1024, from peer: ListenAddress
    ) throws(ConnectionError) -> Int {
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: maxBytes))
        let result = bytes.withUnsafeMutableBytes { read(into: UnsafeMutableRawBufferPointer(rebasing: $0[start...])) }
        switch result {
        case .bytes(let count):
            bytes.removeLast(maxBytes - count)
            return count
        case .endOfStream:
            bytes.removeLast(maxBytes)
            return 0
        case .wouldBlock:
            bytes.removeLast(maxBytes)
            throw Self.timedOut(peer, doing: "reading from")
        case .failed(let error):
            bytes.removeLast(maxBytes)
            throw Self.lost(peer, error.errno, doing: "reading from")
        }
    }

    /// Stops both directions, waking a thread blocked in a read; the descriptor stays open until `close()`.
    public func shutdown() {
        _ = Glibc.shutdown(descriptor, Int32(SHUT_RDWR))
    }

    /// Sets SO_RCVTIMEO or SO_SNDTIMEO; a duration rounding to zero becomes 1 ms (zero would mean no limit).
    func setTimeout(_ option: Int32, _ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        var interval = timeval(tv_sec: Int(max(0, seconds)), tv_usec: Int(max(0, attoseconds) / 1_000_000_000_000))
        if interval.tv_sec == 0 && interval.tv_usec == 0 {
            interval.tv_usec = 1000
        }
        setsockopt(descriptor, SOL_SOCKET, option, &interval, socklen_t(MemoryLayout<timeval>.size))
    }

    private static func timedOut(_ peer: ListenAddress, doing action: String) -> ConnectionError {
        ConnectionError(
            .timedOut, address: peer,
            "timed out \(action) \(peer); the server is overloaded or unreachable, or the timeout is too short")
    }

    private static func lost(_ peer: ListenAddress, _ error: Int32, doing action: String) -> ConnectionError {
        ConnectionError(
            .connectionLost, address: peer,
            "connection to \(peer) broke while \(action) it: \(String(cString: strerror(error)))")
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
            if error == EINPROGRESS || error == EINTR {
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
        let ready = retryingOnInterrupt { poll(&poller, 1, max(1, milliseconds)) }
        guard ready > 0 else { return ready == 0 ? ETIMEDOUT : errno }
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &error, &length) == 0 else { return errno }
        return error
    }
}
