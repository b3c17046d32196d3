// Tests against a real server on 127.0.0.1, spoken to by a raw-socket client and by curl.
import AgentCostHTTP
import AgentCostSystem
import AgentCostWire
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Echoes what the server understood of the request, one `key=value` per line.
@Sendable private func echo(_ request: HTTPRequest) -> HTTPResponse {
    var lines = ["method=\(request.method)", "path=\(request.path)", "peer=\(request.peer)"]
    for key in request.query.keys.sorted() { lines.append("query.\(key)=\(request.query[key] ?? "")") }
    lines.append("x-agent=\(request.headers["x-agent"] ?? "-")")
    lines.append("body=\(request.body.count)")
    return .text(lines.joined(separator: "\n") + "\n")
}

/// A small router: 404 for unknown paths, 405 for the wrong method.
@Sendable private func route(_ request: HTTPRequest) -> HTTPResponse {
    switch request.path {
    case "/echo": return echo(request)
    case "/body":
        guard request.method == "POST" else { return .methodNotAllowed(request, allowed: ["POST"]) }
        return HTTPResponse(status: 200, headers: ["Content-Type": "application/octet-stream"], body: request.body)
    case "/big": return .text(String(repeating: "agentcost_cycle_cost_usd_bucket{le=\"0.1\"} 42\n", count: 200))
    default: return .notFound(request)
    }
}

@Suite struct HTTPServerTests {
    @Test func getWithQueryReachesTheHandlerDecoded() throws {
        let server = try startServer(handler: route)
        defer { server.stop() }
        #expect(server.port != 0)

        let response = try #require(
            try send(
                server.port, target: "/echo?agent=a%201&limit=5&empty=&flag&plus=a+b&escaped=%2B",
                headers: ["X-AGENT: a1"]))
        #expect(response.status == 200)
        #expect(response.headers["Content-Type"] == "text/plain; charset=utf-8")
        let lines = Set(response.text.split(separator: "\n").map(String.init))
        #expect(lines.contains("method=GET"))
        #expect(lines.contains("path=/echo"))
        #expect(lines.contains("query.agent=a 1"))
        #expect(lines.contains("query.limit=5"))
        #expect(lines.contains("query.empty="))
        #expect(lines.contains("query.flag="))
        #expect(lines.contains("query.plus=a b"))
        #expect(lines.contains("query.escaped=+"))
        #expect(lines.contains("x-agent=a1"))
        #expect(lines.contains { $0.hasPrefix("peer=127.0.0.1:") })
    }

    @Test func percentEncodedPathIsDecoded() throws {
        let server = try startServer(handler: echo)
        defer { server.stop() }
        let response = try #require(try send(server.port, target: "/api/v1/agents/agent%2Fone"))
        #expect(response.text.contains("path=/api/v1/agents/agent/one\n"))
    }

    @Test func postBodyArrivesWhole() throws {
        let server = try startServer(handler: route)
        defer { server.stop() }
        // Large enough that libmicrohttpd hands it over in several upload callbacks.
        let body = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
        let response = try #require(try send(server.port, method: "POST", target: "/body", body: body))
        #expect(response.status == 200)
        #expect(response.body == body)
    }

    @Test func chunkedPostBodyArrivesWhole() throws {
        let server = try startServer(handler: route)
        defer { server.stop() }
        let request =
            "POST /body HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        let response = try #require(try exchange(server.port, request).response)
        #expect(response.status == 200)
        #expect(response.text == "hello world")
    }

    @Test func unknownPathIs404AndWrongMethodIs405() throws {
        let server = try startServer(handler: route)
        defer { server.stop() }
        let missing = try #require(try send(server.port, target: "/nope"))
        #expect(missing.status == 404)
        #expect(missing.headers["Content-Type"] == "application/json")
        #expect(missing.text.contains("/nope"))

        let wrong = try #require(try send(server.port, method: "GET", target: "/body"))
        #expect(wrong.status == 405)
        #expect(wrong.headers["Allow"] == "POST")
        #expect(wrong.text.contains("GET is not allowed on /body"))
    }

    @Test func gzipIsNegotiated() throws {
        let server = try startServer(handler: route)
        defer { server.stop() }
        let plain = try #require(try send(server.port, target: "/big"))
        #expect(plain.headers["Content-Encoding"] == nil)
        #expect(plain.headers["Vary"] == "Accept-Encoding")

        let compressed = try #require(
            try send(server.port, target: "/big", headers: ["Accept-Encoding: deflate, gzip"]))
        #expect(compressed.status == 200)
        #expect(compressed.headers["Content-Encoding"] == "gzip")
        #expect(compressed.headers["Vary"] == "Accept-Encoding")
        #expect(compressed.body.count < plain.body.count)
        #expect(Array(try Inflater(gzip: true).inflate(compressed.body, limit: 1 << 20)) == plain.body)

        let refused = try #require(try send(server.port, target: "/big", headers: ["Accept-Encoding: *, gzip;q=0"]))
        #expect(refused.headers["Content-Encoding"] == nil)
        #expect(refused.body == plain.body)
    }

    @Test func declaredBodyOverTheLimitIs413BeforeTheBodyIsSent() throws {
        let handled = Atomic<Int>(0)
        let server = try startServer(HTTPServerConfiguration(maxBodyBytes: 1024)) { request in
            handled.add(1, ordering: .relaxed)
            return route(request)
        }
        defer { server.stop() }
        let result = try exchange(
            server.port, "POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n", timeout: 5)
        let response = try #require(result.response)
        #expect(response.status == 413)
        #expect(response.text.contains("5000 bytes is over the limit of 1024 bytes"))
        #expect(handled.load(ordering: .relaxed) == 0)

        // At the limit is fine.
        let fits = try #require(
            try send(server.port, method: "POST", target: "/body", body: [UInt8](repeating: 7, count: 1024)))
        #expect(fits.status == 200)
    }

    @Test func bodyOverTheLimitSentWithHeadersIs413() throws {
        let server = try startServer(HTTPServerConfiguration(maxBodyBytes: 1024), handler: route)
        defer { server.stop() }
        let response = try #require(
            try send(server.port, method: "POST", target: "/body", body: [UInt8](repeating: 1, count: 4000)))
        #expect(response.status == 413)
    }

    @Test func chunkedBodyOverTheLimitIs413WithoutCallingTheHandler() throws {
        let handled = Atomic<Int>(0)
        let server = try startServer(HTTPServerConfiguration(maxBodyBytes: 100)) { request in
            handled.add(1, ordering: .relaxed)
            return route(request)
        }
        defer { server.stop() }
        let chunk = String(repeating: "a", count: 80)
        let request =
            "POST /body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "50\r\n\(chunk)\r\n50\r\n\(chunk)\r\n0\r\n\r\n"
        let result = try exchange(server.port, request, timeout: 5)

        let response = try #require(result.response)
        #expect(response.status == 413)
        #expect(String(decoding: response.body, as: UTF8.self).contains("over the limit of 100 bytes"))
        #expect(result.closedByServer)
        #expect(handled.load(ordering: .relaxed) == 0)
        let after = try #require(try send(server.port, target: "/echo"))
        #expect(after.status == 200)
    }

    @Test func chunkedBodyFarOverTheLimitClosesTheConnection() throws {
        let handled = Atomic<Int>(0)
        let server = try startServer(HTTPServerConfiguration(maxBodyBytes: 100)) { request in
            handled.add(1, ordering: .relaxed)
            return route(request)
        }
        defer { server.stop() }
        let chunk = String(repeating: "a", count: 80)
        let request =
            "POST /body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            + String(repeating: "50\r\n\(chunk)\r\n", count: 10) + "0\r\n\r\n"
        let result = try exchange(server.port, request, timeout: 5)

        #expect(result.closedByServer)
        #expect(result.response.map { $0.status == 200 } != true)
        #expect(handled.load(ordering: .relaxed) == 0)
    }

    // libmicrohttpd answers most malformed requests 400 (or 505 for an unknown version) and closes; a request line
    // with no spaces at all it closes without an answer.
    @Test(arguments: [
        "GARBAGE\r\n\r\n",
        "GET\r\n\r\n",
        "GET / HTTP/9.9\r\nHost: x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nBad Header Without Colon\r\n\r\n",
    ])
    func malformedRequestIsRefusedAndTheServerKeepsServing(request: String) throws {
        let server = try startServer(handler: route)
        defer { server.stop() }
        let result = try exchange(server.port, request, timeout: 5)
        #expect(result.closedByServer)
        if let response = result.response {
            #expect((400..<600).contains(response.status))
        }
        let after = try #require(try send(server.port, target: "/echo"))
        #expect(after.status == 200)
    }

    @Test func binaryGarbageIsClosedByTheTimeoutAndTheServerKeepsServing() throws {
        let server = try startServer(HTTPServerConfiguration(connectionTimeoutSeconds: 1), handler: route)
        defer { server.stop() }
        let result = try exchange(server.port, [0, 1, 2, 0xFF, 13, 10, 13, 10, 0x80, 0], timeout: 5)
        #expect(result.closedByServer)
        #expect(result.response.map { $0.status == 200 } != true)
        let after = try #require(try send(server.port, target: "/echo"))
        #expect(after.status == 200)
    }

    @Test(arguments: [
        "GET / FOO/1.1\r\nHost: x\r\n\r\n", "GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n", "GET  HTTP/1.1\r\n\r\n",
    ])
    func malformedRequestLineIs400(request: String) throws {
        let server = try startServer(handler: route)
        defer { server.stop() }
        let response = try #require(try exchange(server.port, request).response)
        #expect(response.status == 400)
        #expect(response.headers["Connection"] == "close")
    }

    @Test func hugeHeadersAreRefusedWithinTheMemoryLimit() throws {
        let server = try startServer(HTTPServerConfiguration(maxHeaderBytes: 16 * 1024), handler: route)
        defer { server.stop() }
        let huge = String(repeating: "x", count: 64 * 1024)
        let result = try exchange(server.port, "GET /echo HTTP/1.1\r\nHost: x\r\nX-Huge: \(huge)\r\n\r\n", timeout: 5)
        #expect(result.closedByServer)
        if let response = result.response {
            #expect(response.status == 431 || response.status == 413 || response.status == 414)
        }
        let after = try #require(try send(server.port, target: "/echo"))
        #expect(after.status == 200)
    }

    @Test func manyConcurrentRequestsAreAllAnswered() throws {
        let server = try startServer(HTTPServerConfiguration(threads: 2), handler: route)
        defer { server.stop() }
        let port = server.port
        let answered = Atomic<Int>(0)
        let clients = 16
        let requestsPerClient = 25
        var threads: [OSThread] = []
        for client in 0..<clients {
            threads.append(
                try OSThread {
                    for index in 0..<requestsPerClient {
                        let response = try? send(port, target: "/echo?client=\(client)&index=\(index)")
                        if let response, response.status == 200,
                            response.text.contains("query.client=\(client)\n"),
                            response.text.contains("query.index=\(index)\n")
                        {
                            answered.add(1, ordering: .relaxed)
                        }
                    }
                })
        }
        for thread in threads { thread.join() }
        #expect(answered.load(ordering: .relaxed) == clients * requestsPerClient)
    }

    @Test func keepAliveConnectionServesSeveralRequests() throws {
        let server = try startServer(handler: route)
        defer { server.stop() }
        let socket = try Socket.connect(to: loopback(server.port))
        defer { socket.close() }
        let request =
            "GET /echo?n=1 HTTP/1.1\r\nHost: x\r\n\r\nGET /echo?n=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        try socket.sendAll(Array(request.utf8))
        let result = readToEnd(socket, timeout: 5)
        let text = String(decoding: result.bytes, as: UTF8.self)
        #expect(text.contains("query.n=1\n"))
        #expect(text.contains("query.n=2\n"))
    }

    @Test func connectionsPastTheLimitWaitInTheBacklogUntilOneCloses() throws {
        let server = try startServer(HTTPServerConfiguration(threads: 1, maxConnections: 2), handler: route)
        defer { server.stop() }
        let first = try Socket.connect(to: loopback(server.port))
        let second = try Socket.connect(to: loopback(server.port))
        defer { second.close() }
        // Let the server accept both before the third arrives.
        usleep(200_000)

        // At the limit libmicrohttpd stops accepting: the third connection waits in the kernel's backlog, unserved.
        let third = try Socket.connect(to: loopback(server.port))
        defer { third.close() }
        try third.sendAll(Array("GET /echo?n=3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8))
        let waiting = readToEnd(third, timeout: 1)
        #expect(!waiting.closedByServer)
        #expect(waiting.bytes.isEmpty)

        // Once a slot frees up, the waiting connection is accepted and served.
        first.close()
        let served = readToEnd(third, timeout: 5)
        let response = try #require(served.response)
        #expect(response.status == 200)
        #expect(response.text.contains("query.n=3\n"))
    }

    @Test func slowClientIsDisconnectedAfterTheTimeout() throws {
        let server = try startServer(HTTPServerConfiguration(connectionTimeoutSeconds: 1), handler: route)
        defer { server.stop() }
        let socket = try Socket.connect(to: loopback(server.port))
        defer { socket.close() }
        let started = Clock.monotonicSeconds()
        try socket.sendAll(Array("GET /echo HTTP/1.1\r\nHost: x\r\n".utf8))
        let result = readToEnd(socket, timeout: 10)
        let elapsed = Clock.monotonicSeconds() - started
        #expect(result.closedByServer)
        #expect(elapsed >= 0.5)
        #expect(elapsed < 5)
        #expect(result.response.map { $0.status == 200 } != true)
    }

    @Test func stopWaitsForRequestsInFlight() throws {
        let entered = Atomic<Int>(0)
        let server = try startServer { request in
            entered.add(1, ordering: .relaxed)
            usleep(500_000)
            return .text("finished\n")
        }
        let port = server.port
        let status = Atomic<Int>(0)
        let client = try OSThread {
            let response = try? send(port, target: "/slow")
            status.store(response?.status ?? -1, ordering: .relaxed)
        }
        let deadline = Clock.monotonicSeconds() + 5
        while entered.load(ordering: .relaxed) == 0, Clock.monotonicSeconds() < deadline { usleep(5_000) }
        #expect(server.requestsInFlight == 1)

        server.stop()
        client.join()
        #expect(status.load(ordering: .relaxed) == 200)
        #expect(server.requestsInFlight == 0)
        #expect(throws: ConnectionError.self) { try Socket.connect(to: loopback(port)) }
        server.stop()
    }

    @Test func startOnAPortInUseFailsNamingTheAddress() throws {
        let server = try startServer(handler: route)
        defer { server.stop() }
        let error = #expect(throws: HTTPServerError.self) {
            try HTTPServer.start(on: loopback(server.port), logger: quietLogger, handler: route)
        }
        #expect(error?.code == .startFailed)
        #expect(error?.message.contains("127.0.0.1:\(server.port)") == true)
    }

    @Test func startOnANonNumericHostFailsNamingIt() {
        let error = #expect(throws: HTTPServerError.self) {
            try HTTPServer.start(
                on: ListenAddress(host: "metrics.example", port: 0), logger: quietLogger, handler: route)
        }
        #expect(error?.code == .startFailed)
        #expect(error?.message.contains("'metrics.example' is not a numeric IPv4 address") == true)
    }

    @Test func servesOnIPv6Loopback() throws {
        let server: HTTPServer
        do {
            server = try HTTPServer.start(on: ListenAddress(host: "::1", port: 0), logger: quietLogger, handler: echo)
        } catch {
            Issue.record("cannot listen on [::1] (is IPv6 disabled here?): \(error)")
            return
        }
        defer { server.stop() }
        let socket = try Socket.connect(to: ListenAddress(host: "::1", port: server.port))
        defer { socket.close() }
        try socket.sendAll(Array("GET /v6 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8))
        let response = try #require(readToEnd(socket, timeout: 5).response)
        #expect(response.text.contains("peer=[::1]:"))
    }

    @Test func expectContinueOverTheLimitIs413WithoutContinue() throws {
        let server = try startServer(HTTPServerConfiguration(maxBodyBytes: 10), handler: route)
        defer { server.stop() }
        let request = "POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n"
        let result = try exchange(server.port, request)
        #expect(!String(decoding: result.bytes, as: UTF8.self).contains("100 Continue"))
        #expect(result.response?.status == 413)
    }

    @Test(.enabled(if: curlPath() != nil, "skipped: curl is not installed; apt-get install curl to run this check"))
    func curlInterop() throws {
        let curl = try #require(curlPath())
        let server = try startServer(handler: route)
        defer { server.stop() }
        let base = "http://127.0.0.1:\(server.port)"

        let get = try #require(runCommand("\(curl) -sS '\(base)/echo?agent=a%201' -H 'X-Agent: c1'"))
        #expect(get.contains("query.agent=a 1\n"))
        #expect(get.contains("x-agent=c1\n"))

        let post = try #require(runCommand("\(curl) -sS -X POST --data-binary 'spend=1.5' '\(base)/body'"))
        #expect(post == "spend=1.5")

        let compressed = try #require(runCommand("\(curl) -sS --compressed -D - -o /dev/null '\(base)/big'"))
        #expect(compressed.lowercased().contains("content-encoding: gzip"))
        let inflated = try #require(runCommand("\(curl) -sS --compressed '\(base)/big'"))
        #expect(inflated == String(repeating: "agentcost_cycle_cost_usd_bucket{le=\"0.1\"} 42\n", count: 200))

        let missing = try #require(runCommand("\(curl) -s -o /dev/null -w '%{http_code}' '\(base)/nope'"))
        #expect(missing == "404")
    }
}
