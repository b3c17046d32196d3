import AgentCostWire
import Testing

@testable import agentcostctl

@Suite("JSON-lines events for agentcostctl replay")
struct EventLinesTests {
    @Test func everyEventTypeParsesWithEveryField() throws {
        let text = """
            {"type":"cycle_start","agent_id":"a1","time_unix_nano":1}
            {"type":"spend","agent_id":"a1","cost_usd":0.05,"goal_id":"g","model":"gpt-4o","input_tokens":10,"output_tokens":5,"time_unix_nano":1700000000000000000}
            {"type":"cycle_end","agent_id":"a1","time_unix_nano":3}
            {"type":"set_budget","agent_id":"a1","budget_usd":25.5,"period":"weekly","warning_ratio":0.9,"clear":true}
            {"type":"resume","agent_id":"a1","force":true}
            {"type":"create_goal","goal_id":"g2","name":"Launch \\"Q3\\" \\u00e9\\ud83d\\ude00","budget_usd":500,"parent_id":"g"}
            """
        let events = try EventLines.parse(text)
        #expect(
            events == [
                Event(timeUnixNano: 1, .cycleStart(CycleStart(agentID: "a1"))),
                Event(
                    timeUnixNano: 1_700_000_000_000_000_000,
                    .spend(
                        Spend(
                            agentID: "a1", costUSD: 0.05, goalID: "g", model: "gpt-4o", inputTokens: 10,
                            outputTokens: 5))),
                Event(timeUnixNano: 3, .cycleEnd(CycleEnd(agentID: "a1"))),
                Event(
                    timeUnixNano: 0,
                    .setBudget(
                        SetBudget(agentID: "a1", budgetUSD: 25.5, period: .weekly, warningRatio: 0.9, clear: true))
                ),
                Event(timeUnixNano: 0, .resume(Resume(agentID: "a1", force: true))),
                Event(
                    timeUnixNano: 0,
                    .createGoal(CreateGoal(goalID: "g2", name: "Launch \"Q3\" é😀", budgetUSD: 500, parentID: "g"))),
            ])
    }

    @Test func omittedFieldsTakeTheProtoDefaults() throws {
        let event = try EventLines.parseLine(#"{"type":"set_budget","agent_id":"a1"}"#)
        #expect(event == Event(timeUnixNano: 0, .setBudget(SetBudget(agentID: "a1", budgetUSD: 0))))
    }

    @Test(arguments: ["lifetime", "daily", "weekly", "monthly", "MONTHLY"])
    func budgetPeriodsParse(period: String) throws {
        let event = try EventLines.parseLine(#"{"type":"set_budget","agent_id":"a","period":"\#(period)"}"#)
        guard case .setBudget(let fields) = event.payload else {
            Issue.record("not a set_budget event")
            return
        }
        #expect(fields.period.description == period.lowercased())
    }

    @Test(arguments: [
        (#""2023-11-14T22:13:20Z""#, Int64(1_700_000_000_000_000_000)),
        (#""2023-11-14T22:13:20.5Z""#, Int64(1_700_000_000_500_000_000)),
        (#""2023-11-14t23:13:20.123456789+01:00""#, Int64(1_700_000_000_123_456_789)),
        (#""2023-11-14 20:13:20-02:00""#, Int64(1_700_000_000_000_000_000)),
        (#""1970-01-01T00:00:00Z""#, Int64(0)),
        (#""1969-12-31T23:59:59Z""#, Int64(-1_000_000_000)),
        (#""2024-02-29T00:00:00Z""#, Int64(1_709_164_800_000_000_000)),
        ("1700000000", Int64(1_700_000_000_000_000_000)),
        ("1700000000.25", Int64(1_700_000_000_250_000_000)),
        ("1.7e9", Int64(1_700_000_000_000_000_000)),
    ])
    func timeFormsParse(time: String, expected: Int64) throws {
        let event = try EventLines.parseLine(#"{"type":"cycle_start","agent_id":"a","time":\#(time)}"#)
        #expect(event.timeUnixNano == expected)
    }

    @Test func missingTimeIsZeroSoTheServerUsesItsClock() throws {
        #expect(try EventLines.parseLine(#"{"type":"cycle_end","agent_id":"a"}"#).timeUnixNano == 0)
    }

    @Test(arguments: [
        ("not json", "invalid JSON at column 1"),
        (#"{"type":"spend","agent_id":"a""#, "invalid JSON at column 31: expected ',' or '}' but the line ended"),
        (#"[1,2]"#, "expected a JSON object"),
        (#"{"agent_id":"a"}"#, "missing \"type\""),
        (#"{"type":"teleport"}"#, "unknown type \"teleport\""),
        (#"{"type":"spend","agent_id":"a","cost":1}"#, "unknown field \"cost\" for type \"spend\""),
        (#"{"type":"spend","agent_id":7}"#, "field \"agent_id\" must be a string, found a number"),
        (#"{"type":"spend","cost_usd":"1"}"#, "field \"cost_usd\" must be a number, found a string"),
        (#"{"type":"spend","input_tokens":-1}"#, "field \"input_tokens\" must be a whole number from 0"),
        (#"{"type":"resume","force":"yes"}"#, "field \"force\" must be true or false"),
        (#"{"type":"set_budget","period":"hourly"}"#, "field \"period\" is \"hourly\""),
        (#"{"type":"spend","time":"2023-13-01T00:00:00Z"}"#, "not an RFC 3339 time"),
        (#"{"type":"spend","time":"2023-02-29T00:00:00Z"}"#, "not an RFC 3339 time"),
        (#"{"type":"spend","time":1,"time_unix_nano":1}"#, "both \"time\" and \"time_unix_nano\""),
        (#"{"type":"spend","time_unix_nano":1.5}"#, "whole number of nanoseconds (64-bit), found 1.5"),
        (#"{"type":"spend","time":1e300}"#, "outside the years"),
        (#"{"type":"spend","type":"spend"}"#, "field \"type\" appears twice"),
    ])
    func malformedLinesAreRefusedWithTheProblem(line: String, expected: String) {
        let error = #expect(throws: LineError.self) { _ = try EventLines.parseLine(line) }
        #expect(error?.message.contains(expected) == true, "\(error?.message ?? "no error")")
    }

    @Test func errorsNameTheFileAndLineNumberCountingBlankLines() {
        let text = """
            {"type":"cycle_start","agent_id":"a"}

            {"type":"spend","agent_id":"a","cost_usd":}
            """
        let error = #expect(throws: CtlError.self) { _ = try EventLines.parse(text, source: "events.jsonl") }
        #expect(error?.code == .invalidInput)
        #expect(
            error?.message.hasPrefix("events.jsonl:3: invalid JSON at column 43") == true, "\(error?.message ?? "")")
    }
}

@Suite("agentcostctl command lines")
struct CommandLineOptionsTests {
    @Test func flagsTakeValuesInEitherForm() throws {
        let options = try CommandLineOptions(
            ["file.jsonl", "--address", "h:1", "--batch-size=5", "--keep"], subcommand: "x",
            valued: ["address", "batch-size"], boolean: ["keep"])
        #expect(options.positionals == ["file.jsonl"])
        #expect(options.string("address", default: "") == "h:1")
        #expect(try options.integer("batch-size", default: 1, in: 1...10) == 5)
        #expect(options.isSet("keep"))
    }

    @Test func unknownFlagIsAUsageErrorNamingIt() {
        let error = #expect(throws: CtlError.self) {
            _ = try CommandLineOptions(["--adress", "x"], subcommand: "replay", valued: ["address"])
        }
        #expect(error?.code == .usage && error?.code.exitStatus == 2)
        #expect(error?.message.contains("'--adress'") == true)
    }

    @Test func outOfRangeValueIsAUsageError() throws {
        let options = try CommandLineOptions(["--batch-size", "0"], subcommand: "replay", valued: ["batch-size"])
        let error = #expect(throws: CtlError.self) { _ = try options.integer("batch-size", default: 1, in: 1...10) }
        #expect(error?.message.contains("--batch-size has value '0'") == true)
    }
}
