/// One complete HTTP request, as a handler sees it: the body has been read in full.
public struct HTTPRequest: Sendable {
    /// The method as sent, e.g. `GET`.
    public var method: String
    /// The path, percent-decoded, without the query string, e.g. `/api/v1/agents/a1`.
    public var path: String
    /// Query parameters, percent-decoded; for a repeated name, the first value.
    public var query: [String: String]
    /// The request's header fields; lookups ignore case.
    public var headers: HTTPHeaders
    /// The body bytes (empty for most GETs).
    public var body: [UInt8]
    /// The peer as `host:port` (`[v6]:port` for IPv6), or `"unknown"`.
    public var peer: String

    /// Creates a request; the server builds these, tests may too.
    public init(
        method: String, path: String, query: [String: String] = [:], headers: HTTPHeaders = [:], body: [UInt8] = [],
        peer: String = "unknown"
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.peer = peer
    }
}
