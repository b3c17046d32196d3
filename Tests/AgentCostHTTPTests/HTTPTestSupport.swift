// A raw HTTP/1.1 client over AgentCostSystem's Socket, so that tests can send exactly the bytes they mean to,
// malformed ones included, and a way to run curl.
import AgentCostHTTP
import AgentCostLog
import AgentCostSystem

#if canImport(Glibc)
    import Glibc
#endif

/// A parsed response as it came off the wire.
struct WireResponse {
    var status: Int
    var headers: HTTPHeaders
    var body: [UInt8]

    var text: String { String(decoding: body, as: UTF8.self) }
}

/// What reading a connection to its end produced.
struct Exchange {
    var bytes: [UInt8]
    /// The server closed the connection (rather than the read timing out).
    var closedByServer: Bool

    var response: WireResponse? { parseResponse(bytes) }
}

/// A logger that drops everything, so test output stays readable.
let quietLogger = Logger(component: "http-test", level: .error, sink: { _ in })

func loopback(_ port: UInt16) -> ListenAddress {
    ListenAddress(host: "127.0.0.1", port: port)
}

/// Starts a server on 127.0.0.1 with a kernel-chosen port.
func startServer(
    _ configuration: HTTPServerConfiguration = HTTPServerConfiguration(),
    handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse
) throws -> HTTPServer {
    try HTTPServer.start(
        on: ListenAddress(host: "127.0.0.1", port: 0), configuration: configuration, logger: quietLogger,
        handler: handler)
}

/// Connects, writes `request`, and reads until the server closes the connection or `timeout` seconds pass.
func exchange(_ port: UInt16, _ request: [UInt8], timeout: Double = 5) throws -> Exchange {
    let socket = try Socket.connect(to: loopback(port))
    defer { socket.close() }
    try socket.sendAll(request)
    return readToEnd(socket, timeout: timeout)
}

func exchange(_ port: UInt16, _ request: String, timeout: Double = 5) throws -> Exchange {
    try exchange(port, Array(request.utf8), timeout: timeout)
}

/// Sends one request with `Connection: close` and parses the response.
func send(
    _ port: UInt16, method: String = "GET", target: String, headers: [String] = [], body: [UInt8] = []
) throws -> WireResponse? {
    var head = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    for header in headers { head += header + "\r\n" }
    if !body.isEmpty || method == "POST" { head += "Content-Length: \(body.count)\r\n" }
    head += "\r\n"
    return try exchange(port, Array(head.utf8) + body).response
}

/// Reads until end of stream (or an error such as a reset), or until `timeout` seconds pass.
func readToEnd(_ socket: Socket, timeout: Double) -> Exchange {
    let deadline = Clock.monotonicSeconds() + timeout
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65_536)
    while Clock.monotonicSeconds() < deadline {
        guard socket.waitReadable(milliseconds: 50) else { continue }
        switch socket.read(into: &buffer) {
        case .bytes(let count): received += buffer[0..<count]
        case .wouldBlock: continue
        case .endOfStream, .failed: return Exchange(bytes: received, closedByServer: true)
        }
    }
    return Exchange(bytes: received, closedByServer: false)
}

/// Parses a response with a Content-Length or chunked body; nil when the bytes are not a complete response.
func parseResponse(_ bytes: [UInt8]) -> WireResponse? {
    let separator: [UInt8] = [13, 10, 13, 10]
    guard let end = (0..<max(0, bytes.count - 3)).first(where: { Array(bytes[$0..<$0 + 4]) == separator }) else {
        return nil
    }
    let lines = String(decoding: bytes[0..<end], as: UTF8.self).split(
        separator: "\r\n", omittingEmptySubsequences: false)
    guard let statusLine = lines.first, statusLine.hasPrefix("HTTP/1."), statusLine.count >= 12,
        let status = Int(statusLine.dropFirst(9).prefix(3))
    else { return nil }
    var headers = HTTPHeaders()
    for line in lines.dropFirst() {
        guard let colon = line.firstIndex(of: ":") else { continue }
        headers.add(String(line[..<colon]), String(line[line.index(after: colon)...].drop { $0 == " " }))
    }
    var body = Array(bytes[(end + 4)...])
    if headers["Transfer-Encoding"]?.lowercased() == "chunked" {
        body = dechunk(body)
    } else if let length = headers["Content-Length"].flatMap({ Int($0) }) {
        guard body.count >= length else { return nil }
        body = Array(body.prefix(length))
    }
    return WireResponse(status: status, headers: headers, body: body)
}

private func dechunk(_ bytes: [UInt8]) -> [UInt8] {
    var output: [UInt8] = []
    var index = 0
    while index < bytes.count {
        guard let lineEnd = (index..<bytes.count - 1).first(where: { bytes[$0] == 13 && bytes[$0 + 1] == 10 }),
            let size = Int(String(decoding: bytes[index..<lineEnd], as: UTF8.self), radix: 16), size > 0
        else { break }
        output += bytes[(lineEnd + 2)..<min(bytes.count, lineEnd + 2 + size)]
        index = lineEnd + 2 + size + 2
    }
    return output
}

/// Runs a shell command and returns its standard output; nil when it cannot be started.
func runCommand(_ command: String) -> String? {
    guard let pipe = popen(command, "r") else { return nil }
    var output: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = fread(&chunk, 1, chunk.count, pipe)
        if count <= 0 { break }
        output += chunk[0..<count]
    }
    pclose(pipe)
    return String(decoding: output, as: UTF8.self)
}

/// The path of curl, or nil when it is not installed.
func curlPath() -> String? {
    ["/usr/bin/curl", "/usr/local/bin/curl", "/bin/curl"].first { access($0, X_OK) == 0 }
}

extension Socket {
    /// Writes all of `bytes` to the test server on loopback.
    func sendAll(_ bytes: [UInt8]) throws {
        try writeAll(bytes, to: ListenAddress(host: "127.0.0.1", port: localPort))
    }
}
