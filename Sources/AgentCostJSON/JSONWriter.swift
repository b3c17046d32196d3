/// Builds JSON text: objects, arrays, strings escaped as RFC 8259 requires, numbers written exactly.
///
/// Used for the operator API's responses and `agentcostctl`'s output; appends to one string, no intermediate values.
public struct JSONWriter: Sendable {
    public private(set) var text = ""
    private var needsComma: [Bool] = [false]

    public init() {}

    public mutating func beginObject() {
        separate()
        text += "{"
        needsComma.append(false)
    }

    public mutating func endObject() {
        needsComma.removeLast()
        text += "}"
    }

    public mutating func beginArray() {
        separate()
        text += "["
        needsComma.append(false)
    }

    public mutating func endArray() {
        needsComma.removeLast()
        text += "]"
    }

    /// Writes an object key; the next value written is its value.
    public mutating func key(_ name: String) {
        separate()
        appendString(name)
        text += ":"
        needsComma[needsComma.count - 1] = false
    }

    public mutating func string(_ value: String) {
        separate()
        appendString(value)
    }

    /// A number written as given (for exact decimals such as money), which must be valid JSON number syntax.
    public mutating func number(literal: String) {
        separate()
        text += literal
    }

    public mutating func number(_ value: Int) {
        number(literal: String(value))
    }

    /// A float; NaN and infinities, which JSON cannot represent, are written as null.
    public mutating func number(_ value: Double) {
        number(
            literal: value.isFinite
                ? (value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : "\(value)") : "null")
    }

    public mutating func bool(_ value: Bool) {
        separate()
        text += value ? "true" : "false"
    }

    public mutating func null() {
        separate()
        text += "null"
    }

    /// Writes `key` and a string value, or null when the value is nil.
    public mutating func field(_ name: String, _ value: String?) {
        key(name)
        if let value { string(value) } else { null() }
    }

    public mutating func field(_ name: String, _ value: Int) {
        key(name)
        number(value)
    }

    public mutating func field(_ name: String, _ value: Double?) {
        key(name)
        if let value { number(value) } else { null() }
    }

    public mutating func field(_ name: String, _ value: Bool) {
        key(name)
        bool(value)
    }

    private mutating func separate() {
        if needsComma[needsComma.count - 1] {
            text += ","
        }
        needsComma[needsComma.count - 1] = true
    }

    private mutating func appendString(_ value: String) {
        text += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default:
                text.unicodeScalars.append(scalar)
            }
        }
        text += "\""
    }
}
