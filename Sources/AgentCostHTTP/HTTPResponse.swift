/// What a handler answers: a status, header fields and the body bytes.
public struct HTTPResponse: Sendable, Hashable {
    /// The status code, e.g. 200.
    public var status: Int
    /// Header fields to send; the server adds `Content-Length` and `Date` itself.
    public var headers: HTTPHeaders
    /// The body bytes.
    public var body: [UInt8]

    /// Creates a response.
    public init(status: Int, headers: HTTPHeaders = [:], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A `text/plain; charset=utf-8` response.
    public static func text(_ text: String, status: Int = 200) -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": "text/plain; charset=utf-8"], body: Array(text.utf8))
    }

    /// A response whose body is already-encoded JSON.
    public static func json(_ bytes: [UInt8], status: Int = 200) -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": "application/json"], body: bytes)
    }

    /// An error as JSON, `{"error":"<message>"}`: the message should name the problem and the fix.
    public static func error(status: Int, _ message: String) -> HTTPResponse {
        json(Array(#"{"error":"#.utf8) + jsonString(message) + Array("}\n".utf8), status: status)
    }

    /// 404 naming the path that matched nothing.
    public static func notFound(_ request: HTTPRequest) -> HTTPResponse {
        error(status: 404, "no resource at \(request.path); see / for the available paths")
    }

    /// 405 naming the method and the methods the path allows, with an `Allow` header.
    public static func methodNotAllowed(_ request: HTTPRequest, allowed: [String]) -> HTTPResponse {
        let list = allowed.joined(separator: ", ")
        var response = error(status: 405, "\(request.method) is not allowed on \(request.path); use \(list)")
        response.headers.set("Allow", list)
        return response
    }

    /// `text` as a JSON string literal, quotes included.
    static func jsonString(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = [0x22]
        bytes.reserveCapacity(text.utf8.count + 2)
        let hex = Array("0123456789abcdef".utf8)
        for byte in text.utf8 {
            switch byte {
            case 0x22: bytes += [0x5C, 0x22]
            case 0x5C: bytes += [0x5C, 0x5C]
            case 0x0A: bytes += [0x5C, 0x6E]
            case 0x0D: bytes += [0x5C, 0x72]
            case 0x09: bytes += [0x5C, 0x74]
            case 0..<0x20: bytes += Array(#"\u00"#.utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            default: bytes.append(byte)
            }
        }
        bytes.append(0x22)
        return bytes
    }
}
