import AgentCostJSON
import Testing

@Suite("JSON")
struct JSONTests {
    @Test("the writer escapes strings as RFC 8259 requires and nests objects and arrays")
    func writer() {
        var json = JSONWriter()
        json.beginObject()
        json.field("agent", "a\"b\\c\nd\u{1}é")
        json.field("paused", true)
        json.field("ratio", 0.375 as Double?)
        json.field("budget", nil as String?)
        json.key("spend")
        json.number(literal: "3.75")
        json.key("cycles")
        json.beginArray()
        json.number(1)
        json.beginObject()
        json.endObject()
        json.number(Double.nan)
        json.endArray()
        json.endObject()
        #expect(
            json.text
                == #"{"agent":"a\"b\\c\nd\u0001é","paused":true,"ratio":0.375,"budget":null,"spend":3.75,"cycles":[1,{},null]}"#
        )
    }

    @Test("what the writer writes, the parser reads back")
    func roundTrip() throws {
        var json = JSONWriter()
        json.beginObject()
        json.field("text", "quote \" backslash \\ tab \t control \u{7} snowman ☃")
        json.endObject()
        let parsed = try JSONValue(parsing: json.text)
        #expect(parsed == .object(["text": .string("quote \" backslash \\ tab \t control \u{7} snowman ☃")]))
    }
}
