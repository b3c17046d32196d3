// The socket, epoll, eventfd, thread and clock system calls (the client side of sockets is in Socket+Connect.swift;
// this module is the only one that makes system calls). The server, the client and the tools work with the small
// typed wrappers below; every call retries on EINTR and reports failures as `SystemError`.

import CAgentCostSystem

#if canImport(Glibc)
    import Glibc
#endif

/// A failed system call: which call, on what, and the errno text.
public struct SystemError: Error, Sendable, CustomStringConvertible {
    public let call: String
    public let errno: Int32
    public let detail: String

    public init(_ call: String, errno: Int32 = Glibc.errno, _ detail: String = "") {
        self.call = call
        self.errno = errno
        self.detail = detail
    }

    public var description: String {
        let reason = String(cString: strerror(errno))
        return detail.isEmpty ? "\(call): \(reason)" : "\(call) \(detail): \(reason)"
    }
}

/// Runs a system call, retrying while it is interrupted by a signal.
@inline(__always)
func retryingOnInterrupt<Result: BinaryInteger>(_ call: () -> Result) -> Result {
    while true {
        let result = call()
        if result >= 0 || errno != EINTR { return result }
    }
}

/// A connected or listening TCP socket, non-blocking, closed explicitly with `close()`.
public struct Socket: Hashable, Sendable {
    public let descriptor: Int32

    /// What one non-blocking read got.
    public enum ReadResult: Sendable {
        /// `count` bytes were read into the buffer.
        case bytes(Int)
        /// Nothing to read now.
        case wouldBlock
        /// The peer closed its side.
        case endOfStream
        case failed(SystemError)
    }

    /// Opens a listening socket on `address` (numeric IPv4 or IPv6 host), with SO_REUSEADDR.
    public static func listen(on address: ListenAddress, backlog: Int32 = 4096) throws(SystemError) -> Socket {
        var storage = sockaddr_storage()
        let length = try fill(&storage, from: address)
        let descriptor = socket(
            Int32(storage.ss_family),
            Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw SystemError("socket", "for \(address)") }
        let socket = Socket(descriptor: descriptor)

        var one: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
        }
        guard bound == 0 else {
            let error = SystemError("bind", "to \(address)")
            socket.close()
            throw error
        }
        guard Glibc.listen(descriptor, backlog) == 0 else {
            let error = SystemError("listen", "on \(address)")
            socket.close()
            throw error
        }
        return socket
    }

    /// Accepts one pending connection, non-blocking; nil when none is waiting.
    public func accept() throws(SystemError) -> (socket: Socket, peer: String)? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let accepted = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                retryingOnInterrupt { acsys_accept(descriptor, address, &length) }
            }
        }
        guard accepted >= 0 else {
            if errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED { return nil }
            throw SystemError("accept4")
        }
        let socket = Socket(descriptor: accepted)
        socket.setNoDelay()
        return (socket, Socket.describe(&storage))
    }

    /// The port the socket is bound to (useful after binding port 0).
    public var localPort: UInt16 {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        let family = Int32(storage.ss_family)
        return withUnsafePointer(to: &storage) { pointer in
            if family == AF_INET6 {
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                    UInt16(bigEndian: $0.pointee.sin6_port)
                }
            }
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                UInt16(bigEndian: $0.pointee.sin_port)
            }
        }
    }

    /// Reads into `buffer[0..<buffer.count]`.
    public func read(into buffer: inout [UInt8]) -> ReadResult {
        buffer.withUnsafeMutableBytes { read(into: $0) }
    }

    /// Reads into `bytes`, which must not be empty.
    func read(into bytes: UnsafeMutableRawBufferPointer) -> ReadResult {
        let count = retryingOnInterrupt { Glibc.read(descriptor, bytes.baseAddress, bytes.count) }
        if count > 0 { return .bytes(count) }
        if count == 0 { return .endOfStream }
        if errno == EAGAIN || errno == EWOULDBLOCK { return .wouldBlock }
        return .failed(SystemError("read"))
    }

    /// Writes as much of `bytes[offset...]` as the socket takes now; returns how many bytes went, 0 when it would
    /// block.
    public func write(_ bytes: [UInt8], from offset: Int) throws(SystemError) -> Int {
        let written = bytes.withUnsafeBytes { raw in
            retryingOnInterrupt { send(descriptor, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL)) }
        }
        if written >= 0 { return written }
        if errno == EAGAIN || errno == EWOULDBLOCK { return 0 }
        throw SystemError("send")
    }

    /// Waits up to `milliseconds` for the socket to accept more bytes; false on timeout.
    public func waitWritable(milliseconds: Int32) -> Bool {
        var poller = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
        return retryingOnInterrupt { poll(&poller, 1, milliseconds) } > 0
    }

    /// Waits up to `milliseconds` for the socket to become readable; false on timeout.
    public func waitReadable(milliseconds: Int32) -> Bool {
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        return retryingOnInterrupt { poll(&poller, 1, milliseconds) } > 0
    }

    public func setNonBlocking() {
        let flags = fcntl(descriptor, F_GETFL)
        _ = fcntl(descriptor, F_SETFL, flags | O_NONBLOCK)
    }

    /// Bounds how long a read of a blocking socket waits; after that it returns `.wouldBlock`.
    public func setReceiveTimeout(seconds: Double) {
        setTimeout(SO_RCVTIMEO, .seconds(seconds))
    }

    func setNoDelay() {
        var one: Int32 = 1
        setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Stops further sends (the peer sees end of stream) while still reading.
    public func shutdownWrite() {
        Glibc.shutdown(descriptor, Int32(SHUT_WR))
    }

    public func close() {
        Glibc.close(descriptor)
    }

    private static func fill(_ storage: inout sockaddr_storage, from address: ListenAddress) throws(SystemError)
        -> socklen_t
    {
        let host = address.host == "localhost" ? "127.0.0.1" : address.host
        if host.contains(":") {
            var ipv6 = sockaddr_in6()
            ipv6.sin6_family = sa_family_t(AF_INET6)
            ipv6.sin6_port = address.port.bigEndian
            guard inet_pton(AF_INET6, host, &ipv6.sin6_addr) == 1 else {
                throw SystemError("inet_pton", errno: EINVAL, "for \(address): use a numeric IPv6 address")
            }
            withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee = ipv6 }
            }
            return socklen_t(MemoryLayout<sockaddr_in6>.size)
        }
        var ipv4 = sockaddr_in()
        ipv4.sin_family = sa_family_t(AF_INET)
        ipv4.sin_port = address.port.bigEndian
        guard inet_pton(AF_INET, host, &ipv4.sin_addr) == 1 else {
            throw SystemError("inet_pton", errno: EINVAL, "for \(address): use a numeric IPv4 address or localhost")
        }
        withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee = ipv4 }
        }
        return socklen_t(MemoryLayout<sockaddr_in>.size)
    }

    private static func text(_ characters: [CChar]) -> String {
        String(decoding: characters.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func describe(_ storage: inout sockaddr_storage) -> String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let family = Int32(storage.ss_family)
        return withUnsafePointer(to: &storage) { pointer -> String in
            if family == AF_INET6 {
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address in
                    var raw = address.pointee.sin6_addr
                    inet_ntop(AF_INET6, &raw, &text, socklen_t(text.count))
                    return
                        "[\(Socket.text(text))]:\(UInt16(bigEndian: address.pointee.sin6_port))"
                }
            }
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
                var raw = address.pointee.sin_addr
                inet_ntop(AF_INET, &raw, &text, socklen_t(text.count))
                return
                    "\(Socket.text(text)):\(UInt16(bigEndian: address.pointee.sin_port))"
            }
        }
    }
}

/// An epoll instance: the set of descriptors one event loop watches.
/// Used by one thread at a time (its event loop's).
public final class Epoll {
    public let descriptor: Int32
    private var buffer = [acsys_ready_t](repeating: acsys_ready_t(), count: 256)

    public struct Interest: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let readable = Interest(rawValue: UInt32(ACSYS_EPOLLIN))
        public static let writable = Interest(rawValue: UInt32(ACSYS_EPOLLOUT))
        public static let peerClosed = Interest(rawValue: UInt32(ACSYS_EPOLLRDHUP))
        /// Wake only one of the loops waiting on a shared descriptor (the listening socket).
        public static let exclusive = Interest(rawValue: UInt32(ACSYS_EPOLLEXCLUSIVE))
    }

    public struct Readiness: Sendable {
        public let descriptor: Int32
        public let readable: Bool
        public let writable: Bool
        public let hangUp: Bool
    }

    public init() throws(SystemError) {
        descriptor = acsys_epoll_create()
        guard descriptor >= 0 else { throw SystemError("epoll_create1") }
    }

    public func add(_ watched: Int32, _ interest: Interest) throws(SystemError) {
        try control(Int32(ACSYS_EPOLL_ADD), watched, interest)
    }

    public func modify(_ watched: Int32, _ interest: Interest) throws(SystemError) {
        try control(Int32(ACSYS_EPOLL_MOD), watched, interest)
    }

    public func remove(_ watched: Int32) {
        _ = acsys_epoll_ctl(descriptor, Int32(ACSYS_EPOLL_DEL), watched, 0)
    }

    private func control(_ operation: Int32, _ watched: Int32, _ interest: Interest) throws(SystemError) {
        guard acsys_epoll_ctl(descriptor, operation, watched, interest.rawValue) == 0 else {
            throw SystemError("epoll_ctl", "for descriptor \(watched)")
        }
    }

    /// Waits up to `milliseconds` and fills `ready` with what is ready (it is cleared first).
    public func wait(into ready: inout [Readiness], milliseconds: Int32) {
        ready.removeAll(keepingCapacity: true)
        let count = buffer.withUnsafeMutableBufferPointer { events in
            acsys_epoll_wait(descriptor, events.baseAddress, Int32(events.count), milliseconds)
        }
        guard count > 0 else { return }
        let readable = UInt32(ACSYS_EPOLLIN | ACSYS_EPOLLRDHUP)
        let hangUp = UInt32(ACSYS_EPOLLHUP | ACSYS_EPOLLERR)
        for event in buffer[0..<Int(count)] {
            ready.append(
                Readiness(
                    descriptor: event.descriptor,
                    readable: event.events & readable != 0,
                    writable: event.events & UInt32(ACSYS_EPOLLOUT) != 0,
                    hangUp: event.events & hangUp != 0
                )
            )
        }
    }

    public func close() {
        Glibc.close(descriptor)
    }
}

/// An eventfd: how another thread wakes an event loop blocked in `epoll_wait`.
public struct Wakeup: Sendable {
    public let descriptor: Int32

    public init() throws(SystemError) {
        descriptor = acsys_eventfd()
        guard descriptor >= 0 else { throw SystemError("eventfd") }
    }

    public func signal() {
        var one: UInt64 = 1
        _ = Glibc.write(descriptor, &one, 8)
    }

    public func drain() {
        var value: UInt64 = 0
        _ = Glibc.read(descriptor, &value, 8)
    }

    public func close() {
        Glibc.close(descriptor)
    }
}

/// Starts an OS thread running `body`; `join` it to wait for it to end.
public struct OSThread: Sendable {
    private let thread: pthread_t

    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    public init(_ body: @escaping @Sendable () -> Void) throws(SystemError) {
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(
            &thread,
            nil,
            { context in
                Unmanaged<Body>.fromOpaque(context!).takeRetainedValue().run()
                return nil
            },
            context
        )
        guard result == 0 else {
            Unmanaged<Body>.fromOpaque(context).release()
            throw SystemError("pthread_create", errno: result)
        }
        self.thread = thread
    }

    /// Starts `body` on a new thread that nobody joins: its resources go back to the system when it ends.
    ///
    /// - Throws: `SystemError` for `pthread_create` when the system refuses to create a thread.
    public static func detach(_ body: @escaping @Sendable () -> Void) throws(SystemError) {
        pthread_detach(try OSThread(body).thread)
    }

    public func join() {
        pthread_join(thread, nil)
    }
}

/// Clocks: monotonic for timeouts and durations, real time for event times the server stamps itself; and sleeping.
public enum Clock {
    public static func monotonicSeconds() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }

    public static func monotonicNanoseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }

    public static func realTimeNanoseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
    }

    /// Blocks the calling thread for `duration`, sleeping again after a signal; no-op for zero or less.
    public static func sleep(for duration: Duration) {
        let (seconds, attoseconds) = duration.components
        guard seconds > 0 || attoseconds > 0 else { return }
        var request = timespec(tv_sec: Int(max(0, seconds)), tv_nsec: Int(max(0, attoseconds) / 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR {
            request = remaining
        }
    }
}

/// Reads a whole (small) file as text; for the token file and similar settings.
public func readTextFile(_ path: String) throws(SystemError) -> String {
    guard let file = fopen(path, "r") else { throw SystemError("fopen", "of \(path)") }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = fread(&chunk, 1, chunk.count, file)
        if count <= 0 { break }
        bytes.append(contentsOf: chunk[0..<count])
    }
    return String(decoding: bytes, as: UTF8.self)
}
