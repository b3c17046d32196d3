/// The two formats `/metrics` speaks: Prometheus text 0.0.4 (the default) and OpenMetrics 1.0, chosen from the
/// scraper's Accept header.
public enum ExpositionFormat: Sendable, Hashable {
    case prometheusText
    case openMetrics

    public var contentType: String {
        switch self {
        case .prometheusText: "text/plain; version=0.0.4; charset=utf-8"
        case .openMetrics: "application/openmetrics-text; version=1.0.0; charset=utf-8"
        }
    }

    /// The format a scraper asks for: OpenMetrics 1.0 when its Accept header ranks it at least as high as plain
    /// text (Prometheus sends both, OpenMetrics first); plain text otherwise, and for a missing header.
    public static func negotiate(accept: String?) -> ExpositionFormat {
        guard let accept else { return .prometheusText }
        var openMetricsQuality = 0.0
        var textQuality = 0.0
        for range in accept.split(separator: ",") {
            let parts = range.split(separator: ";").map { $0.trimmingWhitespace() }
            guard let mediaType = parts.first?.lowercased() else { continue }
            var quality = 1.0
            var version: String?
            for parameter in parts.dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingWhitespace() }
                guard pair.count == 2 else { continue }
                switch pair[0].lowercased() {
                case "q": quality = Double(pair[1]) ?? 0
                case "version": version = pair[1]
                default: break
                }
            }
            switch mediaType {
            case "application/openmetrics-text" where version == nil || version == "1.0.0":
                openMetricsQuality = max(openMetricsQuality, quality)
            case "text/plain", "*/*", "text/*":
                textQuality = max(textQuality, quality)
            default:
                break
            }
        }
        return openMetricsQuality > 0 && openMetricsQuality >= textQuality ? .openMetrics : .prometheusText
    }
}

extension Substring {
    func trimmingWhitespace() -> String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
