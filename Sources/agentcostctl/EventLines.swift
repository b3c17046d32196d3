import AgentCostJSON
import AgentCostWire

// JSON lines to events: one event per line, with the proto's field names (see docs/protocol.md).

/// Reads events from JSON lines.
///
/// Each non-blank line is one object with a `type` (`cycle_start`, `spend`, `cycle_end`, `set_budget`, `resume`,
/// `create_goal`) and that kind's fields, named as in the proto. The time is `time_unix_nano` (an integer) or
/// `time` (RFC 3339, or seconds since the epoch as a number); without either it is 0, which the server reads as
/// "now". Fields left out take the proto's defaults; unknown fields are errors, to catch typos.
enum EventLines {
    /// Parses every line of `text`; blank lines are skipped.
    ///
    /// - Throws: `CtlError` with code `invalidInput` naming the line number (from 1) and the problem.
    static func parse(_ text: String, source: String = "input") throws(CtlError) -> [Event] {
        var events: [Event] = []
        var lineNumber = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let trimmed = line.trimmingSuffix("\r")
            guard trimmed.contains(where: { !$0.isWhitespace }) else { continue }
            do {
                events.append(try parseLine(String(trimmed)))
            } catch {
                throw CtlError(.invalidInput, "\(source):\(lineNumber): \(error.message)")
            }
        }
        return events
    }

    /// Parses one line into an event.
    ///
    /// - Throws: `LineError` saying what is wrong with the line.
    static func parseLine(_ line: String) throws(LineError) -> Event {
        let value: JSONValue
        do {
            value = try JSONValue(parsing: line)
        } catch {
            throw LineError("invalid JSON at column \(error.column): \(error.message)")
        }
        guard case .object(let fields) = value else {
            throw LineError("expected a JSON object with a \"type\" field, found \(value.typeName)")
        }
        var reader = FieldReader(fields: fields)
        let type = try reader.string("type")
        guard !type.isEmpty else {
            throw LineError("missing \"type\"; use one of \(kinds.joined(separator: ", "))")
        }
        let time = try reader.time()

        let payload: Event.Payload
        switch type {
        case "cycle_start":
            payload = .cycleStart(CycleStart(agentID: try reader.string("agent_id")))
        case "cycle_end":
            payload = .cycleEnd(CycleEnd(agentID: try reader.string("agent_id")))
        case "spend":
            payload = .spend(
                Spend(
                    agentID: try reader.string("agent_id"), costUSD: try reader.double("cost_usd"),
                    goalID: try reader.string("goal_id"), model: try reader.string("model"),
                    inputTokens: try reader.count("input_tokens"), outputTokens: try reader.count("output_tokens")))
        case "set_budget":
            payload = .setBudget(
                SetBudget(
                    agentID: try reader.string("agent_id"), budgetUSD: try reader.double("budget_usd"),
                    period: try reader.period("period"), warningRatio: try reader.double("warning_ratio"),
                    clear: try reader.bool("clear")))
        case "resume":
            payload = .resume(Resume(agentID: try reader.string("agent_id"), force: try reader.bool("force")))
        case "create_goal":
            payload = .createGoal(
                CreateGoal(
                    goalID: try reader.string("goal_id"), name: try reader.string("name"),
                    budgetUSD: try reader.double("budget_usd"), parentID: try reader.string("parent_id")))
        default:
            throw LineError("unknown type \"\(type)\"; use one of \(kinds.joined(separator: ", "))")
        }
        try reader.checkAllFieldsUsed(type: type)
        return Event(timeUnixNano: time, payload)
    }

    static let kinds = ["cycle_start", "spend", "cycle_end", "set_budget", "resume", "create_goal"]
}

/// What is wrong with one line.
struct LineError: Error, Equatable {
    let message: String

    init(_ message: String) {
        self.message = message
    }
}

/// Takes typed fields out of a JSON object, remembering which were read.
private struct FieldReader {
    let fields: [String: JSONValue]
    var used: Set<String> = []

    mutating func take(_ name: String) -> JSONValue? {
        used.insert(name)
        guard let value = fields[name], value != .null else { return nil }
        return value
    }

    mutating func string(_ name: String) throws(LineError) -> String {
        guard let value = take(name) else { return "" }
        guard case .string(let string) = value else {
            throw LineError("field \"\(name)\" must be a string, found \(value.typeName)")
        }
        return string
    }

    mutating func double(_ name: String) throws(LineError) -> Double {
        guard let value = take(name) else { return 0 }
        guard case .number(let text) = value, let number = Double(text) else {
            throw LineError("field \"\(name)\" must be a number, found \(value.typeName)")
        }
        return number
    }

    mutating func count(_ name: String) throws(LineError) -> UInt64 {
        guard let value = take(name) else { return 0 }
        guard case .number(let text) = value, let number = UInt64(text) else {
            throw LineError(
                "field \"\(name)\" must be a whole number from 0 to \(UInt64.max), found \(describe(value))")
        }
        return number
    }

    mutating func bool(_ name: String) throws(LineError) -> Bool {
        guard let value = take(name) else { return false }
        guard case .bool(let flag) = value else {
            throw LineError("field \"\(name)\" must be true or false, found \(value.typeName)")
        }
        return flag
    }

    mutating func period(_ name: String) throws(LineError) -> BudgetPeriod {
        let text = try string(name)
        switch text.lowercased() {
        case "", "lifetime": return .lifetime
        case "daily": return .daily
        case "weekly": return .weekly
        case "monthly": return .monthly
        default: throw LineError("field \"\(name)\" is \"\(text)\"; use lifetime, daily, weekly or monthly")
        }
    }

    /// `time_unix_nano`, or `time` as RFC 3339 or seconds; 0 when neither is given.
    mutating func time() throws(LineError) -> Int64 {
        let nano = take("time_unix_nano")
        let time = take("time")
        switch (nano, time) {
        case (nil, nil):
            return 0
        case (.some, .some):
            throw LineError("both \"time\" and \"time_unix_nano\" are given; keep one")
        case (.some(let value), nil):
            guard case .number(let text) = value, let nanoseconds = Int64(text) else {
                throw LineError(
                    "field \"time_unix_nano\" must be a whole number of nanoseconds (64-bit), found \(describe(value))")
            }
            return nanoseconds
        case (nil, .some(.string(let text))):
            guard let nanoseconds = Timestamps.parseRFC3339(text) else {
                throw LineError(
                    "field \"time\" is \"\(text)\", not an RFC 3339 time; write e.g. 2026-12-03T19:30:00Z or "
                        + "2026-12-03T20:30:00.25+01:00, or seconds since the epoch as a number")
            }
            return nanoseconds
        case (nil, .some(.number(let text))):
            guard let nanoseconds = Timestamps.parseSeconds(text) else {
                throw LineError("field \"time\" is \(text) seconds, outside the years 1678 to 2262")
            }
            return nanoseconds
        case (nil, .some(let value)):
            throw LineError("field \"time\" must be an RFC 3339 string or a number of seconds, found \(value.typeName)")
        }
    }

    func checkAllFieldsUsed(type: String) throws(LineError) {
        let unknown = Set(fields.keys).subtracting(used).sorted()
        guard unknown.isEmpty else {
            let known = used.subtracting(["type"]).sorted().joined(separator: ", ")
            throw LineError(
                "unknown field\(unknown.count == 1 ? "" : "s") \(unknown.map { "\"\($0)\"" }.joined(separator: ", ")) "
                    + "for type \"\(type)\"; its fields are: \(known)")
        }
    }
}

/// A value for an error message: a number as written, else its JSON type.
private func describe(_ value: JSONValue) -> String {
    if case .number(let text) = value {
        return text
    }
    return value.typeName
}

extension Substring {
    fileprivate func trimmingSuffix(_ suffix: Character) -> Substring {
        last == suffix ? dropLast() : self
    }
}
