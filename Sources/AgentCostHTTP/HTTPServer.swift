// An HTTP/1.1 server on libmicrohttpd: limits on connections, header and body size and idle time, one Swift handler
// per complete request, gzip by negotiation, and a stop that lets requests in flight finish.

import AgentCostLog
import AgentCostSystem

/// An HTTP server: started listening by `start`, stopped by `stop()` (or when released).
///
///     let server = try HTTPServer.start(on: ListenAddress(host: "127.0.0.1", port: 9470)) { request in
///         request.path == "/-/healthy" ? .text("OK\n") : .notFound(request)
///     }
///     defer { server.stop() }
///
/// The handler runs on one of the server's worker threads (see `HTTPServerConfiguration.threads`), once per
/// request, after the whole body has arrived; it must be thread-safe.
public final class HTTPServer: Sendable {
    /// The address listened on, with the port actually bound (when port 0 was asked for).
    public let address: ListenAddress
    private let daemon: MicroHTTPDDaemon
    private let logger: Logger

    private init(address: ListenAddress, daemon: MicroHTTPDDaemon, logger: Logger) {
        self.address = address
        self.daemon = daemon
        self.logger = logger
    }

    /// Starts serving on `address`.
    ///
    /// - Parameters:
    ///   - address: a numeric IPv4 or IPv6 address and a port; port 0 lets the kernel choose (read `port`).
    ///   - configuration: threads and limits.
    ///   - logger: where the server and libmicrohttpd report problems.
    ///   - handler: answers each complete request; runs on the server's threads.
    /// - Returns: the running server.
    /// - Throws: `HTTPServerError` with code `invalidConfiguration` for a setting out of range, `startFailed` when
    ///   the address cannot be listened on.
    public static func start(
        on address: ListenAddress,
        configuration: HTTPServerConfiguration = HTTPServerConfiguration(),
        logger: Logger = Logger(component: "http"),
        handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse
    ) throws(HTTPServerError) -> HTTPServer {
        try configuration.validate()
        let context = ServerContext(handler: handler, configuration: configuration, logger: logger)
        let host = address.host == "localhost" ? "127.0.0.1" : address.host
        let daemon = try MicroHTTPDDaemon(address: ListenAddress(host: host, port: address.port), context: context)
        let bound = ListenAddress(host: host, port: daemon.port)
        logger.info(
            "listening",
            ["address": bound, "threads": configuration.threads, "max_connections": configuration.maxConnections])
        return HTTPServer(address: bound, daemon: daemon, logger: logger)
    }

    /// The port the server listens on.
    public var port: UInt16 { address.port }

    /// Requests whose handling has begun and whose response has not been sent yet.
    public var requestsInFlight: Int { daemon.requestsInFlight }

    /// Stops the server: stops accepting connections, waits up to `stopGraceSeconds` for requests in flight to be
    /// answered, then closes every connection and joins the worker threads. Calling it again does nothing.
    public func stop() {
        daemon.stop()
    }

    deinit {
        daemon.stop()
    }
}
