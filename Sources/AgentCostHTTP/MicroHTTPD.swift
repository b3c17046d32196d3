// The one file that calls libmicrohttpd. It starts and stops the daemon through the C shim, keeps each request's
// state in libmicrohttpd's per-request pointer, accumulates the body across upload callbacks, and hands the complete
// request to the Swift handler once.

import AgentCostLog
import AgentCostSystem
import CMicroHTTPD
import CMicroHTTPDShim
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// What every worker thread shares: the handler, the limits, and the count of requests in flight.
final class ServerContext: Sendable {
    let handler: @Sendable (HTTPRequest) -> HTTPResponse
    let configuration: HTTPServerConfiguration
    let logger: Logger
    /// Requests between their first access callback and their completion callback.
    let inFlight = Atomic<Int>(0)
    /// Set by `stop()`: responses then close their connection, so keep-alive clients go away.
    let draining = Atomic<Bool>(false)

    init(
        handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse, configuration: HTTPServerConfiguration,
        logger: Logger
    ) {
        self.handler = handler
        self.configuration = configuration
        self.logger = logger
    }
}

/// One request's state between callbacks; libmicrohttpd calls back for one connection from one thread at a time.
private final class PendingRequest {
    var body: [UInt8] = []
    /// A response was queued before the body was read (413 on `Content-Length`).
    var answered = false
    /// Bytes of a chunked body past the limit, read and dropped so that the client can be answered 413.
    var discardedBytes = 0
}

/// A running libmicrohttpd daemon.
final class MicroHTTPDDaemon: Sendable {
    private enum Stage {
        case running(OpaquePointer)
        case stopped
    }

    /// The daemon, until `stop()` takes it; the lock also makes concurrent `stop()` calls wait for the first.
    private let stage: Mutex<Stage>
    private let context: ServerContext
    let port: UInt16

    init(address: ListenAddress, context: ServerContext) throws(HTTPServerError) {
        let configuration = context.configuration
        let unmanaged = Unmanaged.passRetained(context)
        var error = [CChar](repeating: 0, count: 512)
        let started = address.host.withCString { host -> OpaquePointer? in
            var options = acmhd_options(
                host: host,
                port: address.port,
                threads: UInt32(configuration.threads),
                connection_limit: UInt32(configuration.maxConnections),
                connection_timeout_seconds: UInt32(configuration.connectionTimeoutSeconds),
                connection_memory_limit: configuration.maxHeaderBytes,
                listen_backlog: UInt32(configuration.listenBacklog)
            )
            return acmhd_start(
                &options, accessCallback, completedCallback, logCallback, unmanaged.toOpaque(), &error, error.count)
        }
        guard let started else {
            unmanaged.release()
            let reason = String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw HTTPServerError(
                .startFailed,
                "cannot serve HTTP on \(address): \(reason); use a free port and a numeric local address")
        }
        self.context = context
        self.port = acmhd_bound_port(started)
        self.stage = Mutex(.running(started))
    }

    /// Stops accepting, waits up to the grace period for requests in flight, then stops the daemon.
    func stop() {
        stage.withLock { stage in
            guard case .running(let server) = stage else { return }
            context.draining.store(true, ordering: .releasing)
            acmhd_stop_accepting(server)
            let deadline = Clock.monotonicSeconds() + context.configuration.stopGraceSeconds
            while context.inFlight.load(ordering: .acquiring) > 0, Clock.monotonicSeconds() < deadline {
                usleep(5_000)
            }
            let abandoned = context.inFlight.load(ordering: .acquiring)
            if abandoned > 0 {
                context.logger.warn(
                    "closing requests still in flight after the stop grace period",
                    ["requests": abandoned, "grace_seconds": context.configuration.stopGraceSeconds])
            }
            acmhd_stop(server)
            Unmanaged.passUnretained(context).release()
            stage = .stopped
        }
    }

    var requestsInFlight: Int { context.inFlight.load(ordering: .relaxed) }
}

// MARK: - Callbacks from libmicrohttpd's threads

private let logCallback: acmhd_log_function = { rawContext, message in
    guard let rawContext, let message else { return }
    let context = Unmanaged<ServerContext>.fromOpaque(rawContext).takeUnretainedValue()
    context.logger.warn("libmicrohttpd", ["detail": String(cString: message)])
}

private let completedCallback: MHD_RequestCompletedCallback = { rawContext, _, requestState, _ in
    guard let rawContext, let requestState, let pending = requestState.pointee else { return }
    Unmanaged<PendingRequest>.fromOpaque(pending).release()
    requestState.pointee = nil
    let context = Unmanaged<ServerContext>.fromOpaque(rawContext).takeUnretainedValue()
    context.inFlight.subtract(1, ordering: .releasing)
}

/// Called once when the headers are in, once per piece of body, and once more when the body is complete.
private let accessCallback: MHD_AccessHandlerCallback = {
    rawContext, connection, url, method, _, uploadData, uploadDataSize, requestState in
    guard let rawContext, let connection, let requestState else { return .NO }
    let context = Unmanaged<ServerContext>.fromOpaque(rawContext).takeUnretainedValue()
    let limit = context.configuration.maxBodyBytes

    // First call: the headers are in. Refuse a declared body over the limit before reading any of it.
    guard let existing = requestState.pointee else {
        let pending = PendingRequest()
        requestState.pointee = Unmanaged.passRetained(pending).toOpaque()
        context.inFlight.add(1, ordering: .relaxed)
        if let declared = MHD_lookup_connection_value(connection, .HEADER_KIND, "Content-Length"),
            let length = Int(String(cString: declared)), length > limit
        {
            pending.answered = true
            let response = HTTPResponse.error(
                status: 413,
                "request body of \(length) bytes is over the limit of \(limit) bytes; send a smaller body")
            return queue(response.closingConnection(), on: connection, context: context)
        }
        return .YES
    }
    let pending = Unmanaged<PendingRequest>.fromOpaque(existing).takeUnretainedValue()

    // A piece of the body: keep it, unless it takes the body past the limit (possible only for chunked bodies).
    // libmicrohttpd cannot queue a response in the middle of a body, so the rest is read and dropped, and answered
    // 413 once it ends; a body that goes on past four times the limit more gets its connection closed instead.
    if let uploadDataSize, uploadDataSize.pointee > 0 {
        let size = uploadDataSize.pointee
        if pending.answered {
            return .NO
        }
        uploadDataSize.pointee = 0
        if pending.discardedBytes == 0, pending.body.count + size <= limit, let uploadData {
            uploadData.withMemoryRebound(to: UInt8.self, capacity: size) {
                pending.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: size))
            }
            return .YES
        }
        pending.discardedBytes += size
        pending.body = []
        guard pending.discardedBytes <= limit.multipliedReportingOverflow(by: 4).partialValue else {
            context.logger.warn(
                "closing a connection whose chunked request body went far past the limit",
                ["limit_bytes": limit, "peer": peerAddress(connection)])
            return .NO
        }
        return .YES
    }
    if pending.answered {
        return .YES
    }
    if pending.discardedBytes > 0 {
        context.logger.warn(
            "refusing a chunked request body over the limit",
            ["limit_bytes": limit, "peer": peerAddress(connection)])
        let response = HTTPResponse.error(
            status: 413, "chunked request body is over the limit of \(limit) bytes; send a smaller body")
        return queue(response.closingConnection(), on: connection, context: context)
    }

    // The request is complete: run the handler once.
    let request = HTTPRequest(
        method: method.map { String(cString: $0) } ?? "",
        path: url.map { String(cString: $0) } ?? "/",
        query: queryParameters(connection),
        headers: HTTPHeaders(values(connection, .HEADER_KIND)),
        body: pending.body,
        peer: peerAddress(connection)
    )
    pending.body = []
    var response = context.handler(request)
    if let minimum = context.configuration.gzipMinimumBytes {
        response = response.encoded(for: request, minimumBytes: minimum)
    }
    if context.draining.load(ordering: .acquiring) {
        response = response.closingConnection()
    }
    return queue(response, on: connection, context: context)
}

private func queue(_ response: HTTPResponse, on connection: OpaquePointer, context: ServerContext) -> MHD_Result {
    let created = response.body.withUnsafeBytes { bytes in
        MHD_create_response_from_buffer(
            bytes.count, UnsafeMutableRawPointer(mutating: bytes.baseAddress), .RESPMEM_MUST_COPY)
    }
    guard let created else { return .NO }
    defer { MHD_destroy_response(created) }
    for field in response.headers where !HTTPHeaders.sameName(field.name, "Content-Length") {
        if MHD_add_response_header(created, field.name, field.value) == .NO {
            context.logger.warn(
                "dropping a response header libmicrohttpd refuses (a newline or colon in it?)",
                ["name": field.name, "status": response.status])
        }
    }
    return MHD_queue_response(connection, UInt32(clamping: response.status), created)
}

private func values(_ connection: OpaquePointer, _ kind: MHD_ValueKind) -> [(name: String, value: String)] {
    var fields: [(name: String, value: String)] = []
    withUnsafeMutablePointer(to: &fields) { pointer in
        _ = MHD_get_connection_values(
            connection, kind,
            { rawFields, _, key, value in
                guard let rawFields, let key else { return .YES }
                let fields = rawFields.assumingMemoryBound(to: [(name: String, value: String)].self)
                fields.pointee.append((name: String(cString: key), value: value.map { String(cString: $0) } ?? ""))
                return .YES
            },
            pointer)
    }
    return fields
}

/// The query's parameters as libmicrohttpd decoded them (percent-escapes; `+` becomes a space); the first value of
/// a repeated name wins.
private func queryParameters(_ connection: OpaquePointer) -> [String: String] {
    var query: [String: String] = [:]
    for (name, value) in values(connection, .GET_ARGUMENT_KIND) where query[name] == nil {
        query[name] = value
    }
    return query
}

private func peerAddress(_ connection: OpaquePointer) -> String {
    var text = [CChar](repeating: 0, count: 64)
    guard acmhd_peer_address(connection, &text, text.count) == 0 else { return "unknown" }
    return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

extension HTTPResponse {
    fileprivate func closingConnection() -> HTTPResponse {
        var response = self
        response.headers.set("Connection", "close")
        return response
    }
}
