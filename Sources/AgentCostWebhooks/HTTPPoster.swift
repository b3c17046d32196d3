// An HTTP client for webhook deliveries on libcurl: the only file that touches libcurl. One poster per delivery
// thread; it keeps its connection alive between requests to the same receiver.

import CCurl

/// Sends one POST at a time with a connect timeout and a total timeout, and reports the status or why none came.
///
///     let poster = try HTTPPoster(connectTimeoutSeconds: 2, totalTimeoutSeconds: 10)
///     let response = try poster.post(url: "http://127.0.0.1:3100/hook", headers: [], body: body).get()
///
/// Not thread-safe: a poster belongs to the thread that uses it.
public final class HTTPPoster {
    private let handle: UnsafeMutableRawPointer
    private let connectTimeoutMilliseconds: Int
    private let totalTimeoutMilliseconds: Int
    /// Where libcurl writes its explanation of a failure; lives as long as the handle.
    private let errorBuffer: UnsafeMutablePointer<CChar>

    /// libcurl's global state, set up once for the process before the first handle (not thread-safe otherwise).
    private static let globalSetup: CURLcode = curl_global_init(Int(CURL_GLOBAL_DEFAULT))

    /// - Parameters:
    ///   - connectTimeoutSeconds: how long establishing the connection may take.
    ///   - totalTimeoutSeconds: how long the whole request, response included, may take.
    /// - Throws: `HTTPPostError` with code `setupFailed` when libcurl cannot be initialised.
    public init(connectTimeoutSeconds: Double, totalTimeoutSeconds: Double) throws(HTTPPostError) {
        guard Self.globalSetup == CURLE_OK, let handle = curl_easy_init() else {
            throw HTTPPostError(.setupFailed, "libcurl could not be initialised; check that libcurl4 is installed")
        }
        self.handle = handle
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        connectTimeoutMilliseconds = max(1, Int((connectTimeoutSeconds * 1000).rounded()))
        totalTimeoutMilliseconds = max(1, Int((totalTimeoutSeconds * 1000).rounded()))
    }

    deinit {
        curl_easy_cleanup(handle)
        errorBuffer.deallocate()
    }

    /// POSTs `body` to `url`.
    ///
    /// - Parameters:
    ///   - url: an `http://` or `https://` URL.
    ///   - headers: request header fields; `Content-Length` is set by the poster.
    ///   - body: the request body.
    /// - Returns: the response's status and Retry-After, or an `HTTPPostError` with code `timeout`, `connection`
    ///   (refused, reset, no response, TLS) or `invalidRequest` (a URL or header libcurl rejects).
    public func post(url: String, headers: [(name: String, value: String)], body: [UInt8])
        -> Result<HTTPPostResponse, HTTPPostError>
    {
        // Options are set afresh for every request; the handle keeps only its connection cache.
        curl_easy_reset(handle)
        var list: UnsafeMutablePointer<curl_slist>? = nil
        defer { curl_slist_free_all(list) }
        // An empty `Expect:` stops libcurl from waiting for `100 Continue` on larger bodies.
        for line in headers.map({ "\($0.name): \($0.value)" }) + ["Expect:"] {
            guard let appended = curl_slist_append(list, line) else {
                return .failure(HTTPPostError(.invalidRequest, "cannot add header \(line.prefix(40))"))
            }
            list = appended
        }

        errorBuffer[0] = 0
        let steps: [() -> CURLcode] = [
            { accurl_set_url(self.handle, url) },
            { accurl_set_headers(self.handle, list) },
            {
                body.withUnsafeBufferPointer { bytes in
                    bytes.withMemoryRebound(to: CChar.self) { chars in
                        // COPYPOSTFIELDS copies the bytes; an empty body still needs a valid pointer.
                        let empty: CChar = 0
                        return withUnsafePointer(to: empty) { fallback in
                            accurl_set_post_body(self.handle, chars.baseAddress ?? fallback, chars.count)
                        }
                    }
                }
            },
            { accurl_set_timeouts(self.handle, self.connectTimeoutMilliseconds, self.totalTimeoutMilliseconds) },
            { accurl_set_no_signal(self.handle) },
            { accurl_set_http_only(self.handle) },
            { accurl_discard_response_body(self.handle) },
            { accurl_set_error_buffer(self.handle, self.errorBuffer) },
        ]
        for step in steps {
            let code = step()
            guard code == CURLE_OK else {
                let reason = String(cString: curl_easy_strerror(code))
                return .failure(HTTPPostError(.invalidRequest, "\(reason) for \(url)"))
            }
        }

        let code = curl_easy_perform(handle)
        guard code == CURLE_OK else {
            return .failure(failure(for: code))
        }
        let retryAfter = accurl_retry_after(handle)
        return .success(
            HTTPPostResponse(
                status: accurl_response_code(handle), retryAfterSeconds: retryAfter < 0 ? nil : Int(retryAfter)))
    }

    private func failure(for code: CURLcode) -> HTTPPostError {
        let detail = String(cString: errorBuffer)
        let message = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
        switch code {
        case CURLE_OPERATION_TIMEDOUT:
            return HTTPPostError(.timeout, message)
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL:
            return HTTPPostError(.invalidRequest, message)
        default:
            return HTTPPostError(.connection, message)
        }
    }
}

/// What a receiver answered: the status, and how long it asked the sender to wait before trying again.
public struct HTTPPostResponse: Sendable, Hashable {
    /// The HTTP status code.
    public let status: Int
    /// The `Retry-After` header in seconds (sent as a number or as an HTTP date); `nil` when absent or unreadable.
    public let retryAfterSeconds: Int?

    public init(status: Int, retryAfterSeconds: Int? = nil) {
        self.status = status
        self.retryAfterSeconds = retryAfterSeconds
    }
}

/// Why a POST got no HTTP status: a stable `code` and libcurl's explanation.
public struct HTTPPostError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable, machine-readable error class.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String

        public init(_ rawValue: String) {
            self.rawValue = rawValue
        }

        /// The connect or total timeout passed.
        public static let timeout = Code("timeout")
        /// The connection was refused, reset or closed without a response, or TLS failed.
        public static let connection = Code("connection")
        /// The URL or a header cannot be sent; retrying will not help.
        public static let invalidRequest = Code("invalid_request")
        /// libcurl could not be initialised.
        public static let setupFailed = Code("setup_failed")

        public var description: String { rawValue }
    }

    public let code: Code
    /// What happened, in libcurl's words.
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
