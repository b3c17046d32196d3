/// The HTTP server's threads and limits. Every limit bounds what one client can make the server spend.
public struct HTTPServerConfiguration: Sendable, Hashable {
    /// Worker threads, each with its own epoll set, sharing the listening socket. Handlers run on these threads, so
    /// a slow handler holds up the other connections of its thread only. 1 means one internal polling thread.
    public var threads: Int
    /// The most connections open at once; past it libmicrohttpd stops accepting, so new connections wait in the
    /// kernel's listen backlog (`listenBacklog`), unserved but not closed, until an open one closes. Shared out
    /// evenly between the worker threads, so it must be at least `threads`.
    public var maxConnections: Int
    /// Seconds a connection may stay idle (no byte read or written) before it is closed: bounds slow clients and
    /// idle keep-alive connections.
    public var connectionTimeoutSeconds: Int
    /// The largest request body accepted. A larger `Content-Length` is answered 413 before the body is read; a
    /// chunked body that grows past it is read to its end without being kept and answered 413, or has its
    /// connection closed once it runs past five times the limit.
    public var maxBodyBytes: Int
    /// The memory one connection may use for the request line, the headers and read buffering
    /// (libmicrohttpd's connection memory limit). Requests whose headers do not fit are answered 431 or 413 by
    /// libmicrohttpd.
    public var maxHeaderBytes: Int
    /// Gzip-compress every response body of at least this many bytes when the request's Accept-Encoding allows it;
    /// nil leaves encoding to the handler (see `HTTPResponse.encoded(for:minimumBytes:level:)`).
    public var gzipMinimumBytes: Int?
    /// How long `stop()` waits for requests in flight to finish before closing their connections.
    public var stopGraceSeconds: Double
    /// The kernel's queue of connections not yet accepted.
    public var listenBacklog: Int

    /// Creates a configuration; the defaults suit a metrics endpoint scraped by a few Prometheus servers and an
    /// operator API used by a handful of people.
    public init(
        threads: Int = 2,
        maxConnections: Int = 256,
        connectionTimeoutSeconds: Int = 30,
        maxBodyBytes: Int = 1 << 20,
        maxHeaderBytes: Int = 32 * 1024,
        gzipMinimumBytes: Int? = 1024,
        stopGraceSeconds: Double = 5,
        listenBacklog: Int = 128
    ) {
        self.threads = threads
        self.maxConnections = maxConnections
        self.connectionTimeoutSeconds = connectionTimeoutSeconds
        self.maxBodyBytes = maxBodyBytes
        self.maxHeaderBytes = maxHeaderBytes
        self.gzipMinimumBytes = gzipMinimumBytes
        self.stopGraceSeconds = stopGraceSeconds
        self.listenBacklog = listenBacklog
    }

    /// Checks every setting.
    ///
    /// - Throws: `HTTPServerError` with code `invalidConfiguration`, naming the setting, its value and the range.
    public func validate() throws(HTTPServerError) {
        try check("threads", threads, 1...256)
        try check("maxConnections", maxConnections, threads...1_000_000)
        try check("connectionTimeoutSeconds", connectionTimeoutSeconds, 1...86_400)
        try check("maxBodyBytes", maxBodyBytes, 0...(1 << 34))
        try check("maxHeaderBytes", maxHeaderBytes, 4096...(64 << 20))
        try check("listenBacklog", listenBacklog, 1...65_535)
        if let gzipMinimumBytes, gzipMinimumBytes < 0 {
            throw HTTPServerError(
                .invalidConfiguration, "gzipMinimumBytes is \(gzipMinimumBytes); use 0 or more, or nil to disable")
        }
        guard stopGraceSeconds >= 0, stopGraceSeconds.isFinite else {
            throw HTTPServerError(
                .invalidConfiguration, "stopGraceSeconds is \(stopGraceSeconds); use a finite number of seconds ≥ 0")
        }
    }

    private func check(_ name: String, _ value: Int, _ range: ClosedRange<Int>) throws(HTTPServerError) {
        guard range.contains(value) else {
            throw HTTPServerError(
                .invalidConfiguration,
                "\(name) is \(value); use a value from \(range.lowerBound) to \(range.upperBound)")
        }
    }
}
