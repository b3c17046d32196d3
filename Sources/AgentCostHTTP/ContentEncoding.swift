// Content negotiation for the response body's encoding: gzip when the client's Accept-Encoding allows it.
import AgentCostWire

/// Whether `request`'s `Accept-Encoding` allows a gzip-encoded response.
///
/// Follows RFC 9110 §12.5.3: `gzip` (or `x-gzip`) with a q-value above 0 allows it, `gzip;q=0` forbids it even when
/// `*` is listed, and `*` with a q-value above 0 allows it when gzip is not named. No header means no gzip.
public func acceptsGzip(_ request: HTTPRequest) -> Bool {
    acceptsGzip(acceptEncoding: request.headers.values(for: "Accept-Encoding").joined(separator: ","))
}

/// Whether an `Accept-Encoding` value allows gzip; see `acceptsGzip(_:)`.
public func acceptsGzip(acceptEncoding: String) -> Bool {
    var gzipWeight: Double?
    var wildcardWeight: Double?
    for element in acceptEncoding.split(separator: ",") {
        let parts = element.split(separator: ";")
        guard let first = parts.first else { continue }
        let coding = first.trimmingSpaces().lowercased()
        var weight = 1.0
        for parameter in parts.dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, pair[0].trimmingSpaces().lowercased() == "q" else { continue }
            // An unreadable q-value is treated as 0: the client did not clearly allow the coding.
            weight = Double(pair[1].trimmingSpaces()).map { min(max($0, 0), 1) } ?? 0
        }
        switch coding {
        case "gzip", "x-gzip": gzipWeight = max(gzipWeight ?? 0, weight)
        case "*": wildcardWeight = weight
        default: break
        }
    }
    if let gzipWeight { return gzipWeight > 0 }
    return (wildcardWeight ?? 0) > 0
}

extension HTTPResponse {
    /// This response, gzip-compressed when `request` accepts gzip and the body is at least `minimumBytes` long.
    ///
    /// A compressed response carries `Content-Encoding: gzip`; every response that could have been compressed
    /// carries `Vary: Accept-Encoding`, so that caches keep the two forms apart. A response that already has a
    /// `Content-Encoding` is returned unchanged.
    ///
    /// - Parameters:
    ///   - request: the request being answered; its `Accept-Encoding` decides.
    ///   - minimumBytes: bodies shorter than this go uncompressed (gzip's ~20 bytes of framing would not pay).
    ///   - level: the zlib level, 1 (fastest) to 9 (smallest); 6 is zlib's usual trade-off.
    /// - Returns: the response to send.
    public func encoded(for request: HTTPRequest, minimumBytes: Int = 1024, level: Int = 6) -> HTTPResponse {
        guard !headers.contains("Content-Encoding"), body.count >= minimumBytes else { return self }
        var response = self
        if !headers.values(for: "Vary").contains(where: { $0.lowercased().contains("accept-encoding") }) {
            response.headers.add("Vary", "Accept-Encoding")
        }
        guard acceptsGzip(request), let compressed = try? Zlib.gzip(body, level: level) else { return response }
        response.body = compressed
        response.headers.set("Content-Encoding", "gzip")
        return response
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let start = firstIndex(where: { !isSpace($0) }), let end = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return self[start...end]
    }
}
