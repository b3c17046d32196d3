import AgentCostJSON

/// A JSON object sent to the operator API, read field by field with errors that name the field.
struct RequestBody {
    private let fields: [String: JSONValue]

    /// - Parameter allowed: the field names this call takes; any other is an error (a typo should not be ignored).
    init(_ bytes: [UInt8], allowed: Set<String>) throws(RequestBodyError) {
        let value: JSONValue
        do {
            value = try JSONValue(parsing: String(decoding: bytes, as: UTF8.self))
        } catch {
            throw RequestBodyError("the body is not valid JSON (column \(error.column): \(error.message))")
        }
        guard case .object(let fields) = value else {
            throw RequestBodyError("the body must be a JSON object, not \(value.typeName)")
        }
        if let unknown = fields.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw RequestBodyError(
                "unknown field \"\(unknown)\"; this call takes \(allowed.sorted().joined(separator: ", "))")
        }
        self.fields = fields
    }

    func number(_ name: String, required: Bool = false) throws(RequestBodyError) -> Double? {
        switch fields[name] {
        case .number(let text)?:
            guard let value = Double(text) else { throw RequestBodyError("\(name) \(text) is not a usable number") }
            return value
        case nil, .null?:
            if required { throw RequestBodyError("\(name) is required") }
            return nil
        case let other?:
            throw RequestBodyError("\(name) must be a number, not \(other.typeName)")
        }
    }

    func string(_ name: String, required: Bool = false) throws(RequestBodyError) -> String? {
        switch fields[name] {
        case .string(let text)?:
            return text
        case nil, .null?:
            if required { throw RequestBodyError("\(name) is required") }
            return nil
        case let other?:
            throw RequestBodyError("\(name) must be a string, not \(other.typeName)")
        }
    }

    func bool(_ name: String) throws(RequestBodyError) -> Bool? {
        switch fields[name] {
        case .bool(let value)?: return value
        case nil, .null?: return nil
        case let other?: throw RequestBodyError("\(name) must be true or false, not \(other.typeName)")
        }
    }
}

struct RequestBodyError: Error {
    let message: String

    init(_ message: String) {
        self.message = message
    }
}
