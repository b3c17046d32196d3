import AgentCostCore

/// The kind of a metric family.
public enum MetricType: String, Sendable {
    case counter, gauge, histogram, info
}

/// Renders metric families into a byte buffer in either exposition format.
///
/// A family is announced once with `family(_:type:help:unit:)`, then its samples follow. Names are written as given;
/// label values are escaped (backslash, double quote, newline) only when they contain such a byte, so the common
/// case is a plain copy. Money is written as an exact decimal from its nano-dollars, never through a float.
public struct MetricWriter {
    public let format: ExpositionFormat
    public private(set) var bytes: [UInt8] = []
    /// The current family's sample name (with `_total` for counters), pre-encoded.
    private var sampleName: [UInt8] = []
    private var familyName: [UInt8] = []

    public init(format: ExpositionFormat, reservingCapacity capacity: Int = 64 * 1024) {
        self.format = format
        bytes.reserveCapacity(capacity)
    }

    /// Starts a family. `name` is the family's name without `_total` (counters get it on their samples) and
    /// without `_info` (info families get it on their samples).
    public mutating func family(_ name: String, type: MetricType, help: String, unit: String? = nil) {
        familyName = Array(name.utf8)
        switch type {
        case .counter: sampleName = familyName + Array("_total".utf8)
        case .info: sampleName = familyName + Array("_info".utf8)
        case .gauge, .histogram: sampleName = familyName
        }

        // Text 0.0.4 names a counter's family by its sample name and has no info type.
        let announced: [UInt8]
        let typeName: String
        switch (format, type) {
        case (.prometheusText, .counter), (.prometheusText, .info): announced = sampleName
        default: announced = familyName
        }
        switch (format, type) {
        case (.prometheusText, .info): typeName = "gauge"
        default: typeName = type.rawValue
        }

        append("# HELP ")
        bytes += announced
        bytes.append(UInt8(ascii: " "))
        appendEscaped(help, escapingQuotes: format == .openMetrics)
        append("\n# TYPE ")
        bytes += announced
        append(" \(typeName)\n")
        if format == .openMetrics, let unit {
            append("# UNIT ")
            bytes += familyName
            append(" \(unit)\n")
        }
    }

    // MARK: Samples

    public mutating func sample(_ value: SampleValue) {
        bytes += sampleName
        finish(value)
    }

    public mutating func sample(_ label: String, _ labelValue: String, _ value: SampleValue) {
        bytes += sampleName
        bytes.append(UInt8(ascii: "{"))
        appendLabel(label, labelValue)
        bytes.append(UInt8(ascii: "}"))
        finish(value)
    }

    public mutating func sample(
        _ firstLabel: String,
        _ firstValue: String,
        _ secondLabel: String,
        _ secondValue: String,
        _ value: SampleValue
    ) {
        bytes += sampleName
        bytes.append(UInt8(ascii: "{"))
        appendLabel(firstLabel, firstValue)
        bytes.append(UInt8(ascii: ","))
        appendLabel(secondLabel, secondValue)
        bytes.append(UInt8(ascii: "}"))
        finish(value)
    }

    /// Writes a histogram's buckets (cumulative counts, `+Inf` last), `_sum` and `_count`.
    public mutating func histogram(bounds: [Double], cumulativeCounts: [UInt64], sum: SampleValue, count: UInt64) {
        for (bound, cumulative) in zip(bounds, cumulativeCounts) {
            bytes += familyName
            append("_bucket{le=\"")
            appendNumber(bound)
            append("\"} ")
            appendInteger(Int64(clamping: cumulative))
            bytes.append(UInt8(ascii: "\n"))
        }
        bytes += familyName
        append("_bucket{le=\"+Inf\"} ")
        appendInteger(Int64(clamping: count))
        bytes += [UInt8(ascii: "\n")] + familyName
        append("_sum ")
        appendValue(sum)
        bytes += [UInt8(ascii: "\n")] + familyName
        append("_count ")
        appendInteger(Int64(clamping: count))
        bytes.append(UInt8(ascii: "\n"))
    }

    /// Ends the exposition (OpenMetrics requires `# EOF`) and returns the bytes.
    public mutating func finish() -> [UInt8] {
        if format == .openMetrics {
            append("# EOF\n")
        }
        return bytes
    }

    // MARK: Bytes

    private mutating func finish(_ value: SampleValue) {
        bytes.append(UInt8(ascii: " "))
        appendValue(value)
        bytes.append(UInt8(ascii: "\n"))
    }

    private mutating func appendLabel(_ name: String, _ value: String) {
        append(name)
        append("=\"")
        appendEscaped(value, escapingQuotes: true)
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func append(_ text: String) {
        var text = text
        text.withUTF8 { bytes.append(contentsOf: $0) }
    }

    /// Appends `text`, escaping backslash and newline (and double quote when asked), as both formats require.
    private mutating func appendEscaped(_ text: String, escapingQuotes: Bool) {
        var text = text
        text.withUTF8 { utf8 in
            let needsEscaping = utf8.contains { $0 == UInt8(ascii: "\\") || $0 == 0x0A || $0 == UInt8(ascii: "\"") }
            guard needsEscaping else {
                bytes.append(contentsOf: utf8)
                return
            }
            for byte in utf8 {
                switch byte {
                case UInt8(ascii: "\\"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
                case 0x0A: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
                case UInt8(ascii: "\"") where escapingQuotes: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
                default: bytes.append(byte)
                }
            }
        }
    }

    private mutating func appendValue(_ value: SampleValue) {
        switch value {
        case .integer(let integer): appendInteger(integer)
        case .money(let money): appendMoney(money)
        case .number(let number): appendNumber(number)
        }
    }

    private mutating func appendInteger(_ value: Int64) {
        if value < 0 {
            bytes.append(UInt8(ascii: "-"))
        }
        appendDigits(value.magnitude, minimumWidth: 1)
    }

    /// Nano-dollars as an exact decimal: `0.08`, `12`, `0.000001`.
    private mutating func appendMoney(_ money: Money) {
        let nanos = money.nanos
        if nanos < 0 {
            bytes.append(UInt8(ascii: "-"))
        }
        let magnitude = nanos.magnitude
        appendDigits(magnitude / 1_000_000_000, minimumWidth: 1)
        var fraction = magnitude % 1_000_000_000
        guard fraction != 0 else { return }
        var width = 9
        while fraction % 10 == 0 {
            fraction /= 10
            width -= 1
        }
        bytes.append(UInt8(ascii: "."))
        appendDigits(fraction, minimumWidth: width)
    }

    /// Appends the decimal digits of `value`, zero-padded on the left to `minimumWidth`.
    private mutating func appendDigits(_ value: UInt64, minimumWidth: Int) {
        let start = bytes.count
        var remaining = value
        repeat {
            bytes.append(UInt8(ascii: "0") + UInt8(remaining % 10))
            remaining /= 10
        } while remaining > 0 || bytes.count - start < minimumWidth
        bytes[start...].reverse()
    }

    /// A float as Prometheus writes it: shortest round-trip digits, `+Inf`, `-Inf`, `NaN`.
    private mutating func appendNumber(_ value: Double) {
        if value.isNaN {
            append("NaN")
        } else if value.isInfinite {
            append(value > 0 ? "+Inf" : "-Inf")
        } else if value == value.rounded(), abs(value) < 1e15 {
            appendInteger(Int64(value))
        } else {
            append(value.description)
        }
    }
}

/// A sample's value, kept in the form it is exact in.
public enum SampleValue: Sendable {
    case integer(Int64)
    case money(Money)
    case number(Double)

    public static func count(_ value: Int) -> SampleValue { .integer(Int64(value)) }
    public static func flag(_ value: Bool) -> SampleValue { .integer(value ? 1 : 0) }
}
