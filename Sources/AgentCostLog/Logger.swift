import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A structured logger writing logfmt lines to standard error, in the style of Prometheus' own tools:
///
///     ts=2026-12-03T19:16:21.042Z level=info component=ingest msg="listening" address=127.0.0.1:9471
///
/// Messages and metadata are autoclosures, so a disabled level costs a comparison and nothing else.
public struct Logger: Sendable {
    public enum Level: Int, Sendable, Comparable, CustomStringConvertible {
        case debug, info, warn, error

        public init?(name: String) {
            switch name {
            case "debug": self = .debug
            case "info": self = .info
            case "warn", "warning": self = .warn
            case "error": self = .error
            default: return nil
            }
        }

        public var description: String {
            switch self {
            case .debug: "debug"
            case .info: "info"
            case .warn: "warn"
            case .error: "error"
            }
        }

        public static func < (lhs: Level, rhs: Level) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    /// Where lines go; standard error unless a test captures them.
    public typealias Sink = @Sendable (String) -> Void

    public let component: String
    public let level: Level
    private let sink: Sink

    public init(component: String, level: Level = .info, sink: Sink? = nil) {
        self.component = component
        self.level = level
        self.sink = sink ?? Logger.standardError
    }

    /// A logger for another component, sharing this one's level and sink.
    public func child(_ component: String) -> Logger {
        Logger(component: component, level: level, sink: sink)
    }

    public func debug(
        _ message: @autoclosure () -> String, _ metadata: @autoclosure () -> KeyValuePairs<String, Any> = [:]
    ) {
        log(.debug, message(), metadata())
    }

    public func info(
        _ message: @autoclosure () -> String, _ metadata: @autoclosure () -> KeyValuePairs<String, Any> = [:]
    ) {
        log(.info, message(), metadata())
    }

    public func warn(
        _ message: @autoclosure () -> String, _ metadata: @autoclosure () -> KeyValuePairs<String, Any> = [:]
    ) {
        log(.warn, message(), metadata())
    }

    public func error(
        _ message: @autoclosure () -> String, _ metadata: @autoclosure () -> KeyValuePairs<String, Any> = [:]
    ) {
        log(.error, message(), metadata())
    }

    private func log(
        _ lineLevel: Level, _ message: @autoclosure () -> String,
        _ metadata: @autoclosure () -> KeyValuePairs<String, Any>
    ) {
        guard lineLevel >= level else { return }
        var line =
            "ts=\(Logger.now()) level=\(lineLevel) component=\(Logger.quoted(component)) "
            + "msg=\(Logger.quoted(message()))"
        for (key, value) in metadata() {
            line += " \(key)=\(Logger.quoted(String(describing: value)))"
        }
        sink(line)
    }

    /// Quotes a logfmt value when it is empty or holds a space, a quote, an equals sign or a control character.
    static func quoted(_ value: String) -> String {
        let needsQuotes =
            value.isEmpty
            || value.unicodeScalars.contains { $0 == " " || $0 == "\"" || $0 == "=" || $0.value < 0x20 || $0 == "\\" }
        guard needsQuotes else { return value }
        var result = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            case "\r": result += "\\r"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }

    private static let writeLock = Mutex(())

    private static let standardError: Sink = { line in
        let bytes = Array((line + "\n").utf8)
        writeLock.withLock { _ in
            bytes.withUnsafeBufferPointer { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = write(2, buffer.baseAddress! + offset, buffer.count - offset)
                    if written < 0 && errno == EINTR { continue }
                    guard written > 0 else { return }
                    offset += written
                }
            }
        }
    }

    /// The wall clock as RFC 3339 UTC with milliseconds.
    static func now() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        var seconds = time_t(spec.tv_sec)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))."
            + "\(pad(Int32(spec.tv_nsec / 1_000_000), 3))Z"
    }
}
