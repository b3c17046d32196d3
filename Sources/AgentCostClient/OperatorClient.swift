import AgentCostJSON
import AgentCostSystem

/// A client for the exporter's operator API over HTTP (docs/operations.md): list and inspect agents, set budgets,
/// resume agents, manage goals, and fetch `/metrics`.
///
/// Each call opens one connection and closes it (`Connection: close`): operator calls are rare, and this keeps the
/// client free of connection state.
public struct OperatorClient: Sendable {
    public let address: ListenAddress
    /// Sent as `Authorization: Bearer …` on every call when set.
    public let token: String?
    public let timeout: Duration

    public init(address: ListenAddress, token: String? = nil, timeout: Duration = .seconds(10)) {
        self.address = address
        self.token = token
        self.timeout = timeout
    }

    /// An HTTP response: status, headers (names lower-cased) and body.
    public struct Reply: Sendable {
        public let status: Int
        public let headers: [String: String]
        public let body: [UInt8]

        public var text: String { String(decoding: body, as: UTF8.self) }

        /// The body parsed as JSON.
        public func json() throws(OperatorClientError) -> JSONValue {
            do {
                return try JSONValue(parsing: text)
            } catch {
                throw OperatorClientError("the server's reply is not JSON (column \(error.column): \(error.message))")
            }
        }
    }

    // MARK: Calls

    public func agents(pausedOnly: Bool = false) throws(OperatorClientError) -> Reply {
        try send("GET", "/api/v1/agents" + (pausedOnly ? "?paused=true" : ""))
    }

    public func agent(_ agentID: String) throws(OperatorClientError) -> Reply {
        try send("GET", "/api/v1/agents/" + Self.escape(agentID))
    }

    public func cycles(_ agentID: String, limit: Int? = nil) throws(OperatorClientError) -> Reply {
        try send("GET", "/api/v1/agents/\(Self.escape(agentID))/cycles" + (limit.map { "?limit=\($0)" } ?? ""))
    }

    public func setBudget(
        _ agentID: String, dollars: String, period: String = "lifetime", warningRatio: String? = nil
    ) throws(OperatorClientError) -> Reply {
        var json = JSONWriter()
        json.beginObject()
        json.key("budget_usd")
        json.number(literal: dollars)
        json.field("period", period)
        if let warningRatio {
            json.key("warning_ratio")
            json.number(literal: warningRatio)
        }
        json.endObject()
        return try send("PUT", "/api/v1/agents/\(Self.escape(agentID))/budget", body: json.text)
    }

    public func clearBudget(_ agentID: String) throws(OperatorClientError) -> Reply {
        try send("DELETE", "/api/v1/agents/\(Self.escape(agentID))/budget")
    }

    public func resume(_ agentID: String, force: Bool = false) throws(OperatorClientError) -> Reply {
        try send("POST", "/api/v1/agents/\(Self.escape(agentID))/resume" + (force ? "?force=true" : ""))
    }

    public func goals() throws(OperatorClientError) -> Reply {
        try send("GET", "/api/v1/goals")
    }

    public func goal(_ goalID: String) throws(OperatorClientError) -> Reply {
        try send("GET", "/api/v1/goals/" + Self.escape(goalID))
    }

    public func createGoal(
        _ goalID: String, name: String? = nil, budgetDollars: String? = nil, parent: String? = nil
    ) throws(OperatorClientError) -> Reply {
        var json = JSONWriter()
        json.beginObject()
        json.field("goal_id", goalID)
        if let name { json.field("name", name) }
        if let budgetDollars {
            json.key("budget_usd")
            json.number(literal: budgetDollars)
        }
        if let parent { json.field("parent_id", parent) }
        json.endObject()
        return try send("POST", "/api/v1/goals", body: json.text)
    }

    /// `/metrics`, in the format `accept` asks for (e.g. `application/openmetrics-text; version=1.0.0`).
    public func metrics(accept: String? = nil) throws(OperatorClientError) -> Reply {
        try send("GET", "/metrics", headers: accept.map { ["Accept": $0] } ?? [:])
    }

    // MARK: HTTP

    /// Sends one request and reads the whole response.
    ///
    /// - Throws: `OperatorClientError` naming the address when the server cannot be reached or the reply is not
    ///   HTTP.
    public func send(
        _ method: String, _ target: String, body: String? = nil, headers: [String: String] = [:]
    ) throws(OperatorClientError) -> Reply {
        var request = "\(method) \(target) HTTP/1.1\r\nHost: \(address)\r\nConnection: close\r\n"
        request += "User-Agent: agentcostctl\r\n"
        if let token { request += "Authorization: Bearer \(token)\r\n" }
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { request += "\(name): \(value)\r\n" }
        if let body {
            request += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        } else {
            request += "\r\n"
        }

        var received: [UInt8] = []
        do {
            let socket = try Socket.connect(to: address, connectTimeout: timeout, ioTimeout: timeout)
            defer { socket.close() }
            try socket.writeAll(Array(request.utf8), to: address)
            while try socket.read(appendingTo: &received, from: address) > 0 {}
        } catch {
            throw OperatorClientError(error.message)
        }
        return try Self.parse(received, from: address)
    }

    /// Splits a complete HTTP/1.1 response (read until the server closed) into status, headers and body.
    static func parse(_ bytes: [UInt8], from address: ListenAddress) throws(OperatorClientError) -> Reply {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = bytes.indices.first(where: { bytes[$0...].starts(with: separator) }) else {
            throw OperatorClientError("\(address) sent no complete HTTP response; is it the exporter's web address?")
        }
        let head = String(decoding: bytes[..<end], as: UTF8.self).split(separator: "\r\n")
        let statusParts = head.first?.split(separator: " ") ?? []
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/"), let status = Int(statusParts[1]) else {
            throw OperatorClientError("\(address) answered something that is not HTTP: \(head.first ?? "")")
        }
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let value = line[line.index(after: colon)...].drop { $0 == " " }
            headers[line[..<colon].lowercased()] = String(value)
        }
        var body = Array(bytes[(end + 4)...])
        if let length = headers["content-length"].flatMap({ Int($0) }), length <= body.count {
            body = Array(body.prefix(length))
        }
        return Reply(status: status, headers: headers, body: body)
    }

    /// Percent-encodes a path segment: everything but unreserved characters.
    static func escape(_ segment: String) -> String {
        var result = ""
        for byte in segment.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                result.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                result += "%" + (hex.count == 1 ? "0" : "") + hex
            }
        }
        return result
    }
}

/// An operator API call that could not be made or understood.
public struct OperatorClientError: Error, Sendable, CustomStringConvertible {
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
