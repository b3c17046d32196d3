import AgentCostHTTP
import AgentCostWire
import Testing

@Suite struct ContentEncodingTests {
    @Test(arguments: [
        ("gzip", true),
        ("GZip", true),
        ("deflate, gzip;q=0.5", true),
        ("x-gzip", true),
        ("*", true),
        ("gzip;q=0", false),
        ("gzip; q=0.000", false),
        ("*, gzip;q=0", false),
        ("*;q=0", false),
        ("deflate, br", false),
        ("identity", false),
        ("", false),
        ("gzip;q=nonsense", false),
    ])
    func acceptEncodingDecidesGzip(value: String, expected: Bool) {
        #expect(acceptsGzip(acceptEncoding: value) == expected)
    }

    @Test func requestWithoutAcceptEncodingGetsNoGzip() {
        #expect(!acceptsGzip(HTTPRequest(method: "GET", path: "/")))
        #expect(acceptsGzip(HTTPRequest(method: "GET", path: "/", headers: ["accept-encoding": "gzip"])))
    }

    @Test func encodedResponseIsGzipThatInflatesToTheBody() throws {
        let body = Array(String(repeating: "agentcost_spend_usd_total 1.5\n", count: 100).utf8)
        let request = HTTPRequest(method: "GET", path: "/metrics", headers: ["Accept-Encoding": "gzip"])
        let response = HTTPResponse(status: 200, body: body).encoded(for: request)
        #expect(response.headers["content-encoding"] == "gzip")
        #expect(response.headers["Vary"] == "Accept-Encoding")
        #expect(response.body.count < body.count)
        #expect(Array(try Inflater(gzip: true).inflate(response.body, limit: 1 << 20)) == body)
    }

    @Test func smallOrAlreadyEncodedBodiesStayAsTheyAre() {
        let request = HTTPRequest(method: "GET", path: "/", headers: ["Accept-Encoding": "gzip"])
        let small = HTTPResponse.text("OK\n").encoded(for: request)
        #expect(small.headers["Content-Encoding"] == nil)
        #expect(small.body == Array("OK\n".utf8))

        let encoded = HTTPResponse(
            status: 200, headers: ["Content-Encoding": "br"], body: [UInt8](repeating: 1, count: 4096))
        #expect(encoded.encoded(for: request) == encoded)
    }

    @Test func refusedGzipStillVariesOnAcceptEncoding() {
        let request = HTTPRequest(method: "GET", path: "/", headers: ["Accept-Encoding": "gzip;q=0"])
        let response = HTTPResponse(status: 200, body: [UInt8](repeating: 65, count: 4096)).encoded(for: request)
        #expect(response.headers["Content-Encoding"] == nil)
        #expect(response.headers["Vary"] == "Accept-Encoding")
        #expect(response.body.count == 4096)
    }

    @Test func errorResponsesAreJSONWithTheMessageEscaped() {
        let response = HTTPResponse.error(status: 400, "budget \"x\" is not a number\n")
        #expect(response.status == 400)
        #expect(response.headers["Content-Type"] == "application/json")
        #expect(String(decoding: response.body, as: UTF8.self) == #"{"error":"budget \"x\" is not a number\n"}"# + "\n")
    }

    @Test func headerLookupIgnoresCase() {
        var headers: HTTPHeaders = ["Content-Type": "text/plain", "X-Agent": "a1"]
        #expect(headers["content-type"] == "text/plain")
        #expect(headers["X-AGENT"] == "a1")
        headers.add("x-agent", "a2")
        #expect(headers.values(for: "X-Agent") == ["a1", "a2"])
        headers.set("X-Agent", "a3")
        #expect(headers.values(for: "x-agent") == ["a3"])
        headers.remove("CONTENT-TYPE")
        #expect(!headers.contains("Content-Type"))
    }

    @Test func configurationOutOfRangeNamesTheSetting() {
        let error = #expect(throws: HTTPServerError.self) {
            try HTTPServerConfiguration(threads: 4, maxConnections: 2).validate()
        }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message.contains("maxConnections is 2") == true)
    }
}
