import Testing

@testable import AgentCostCore

@Suite("Money is exact")
struct MoneyTests {
    @Test("a million spends of $0.000001 sum to exactly $1")
    func millionMicroSpends() throws {
        let tracker = try HeartbeatTracker()
        for index in 0..<1_000_000 {
            try tracker.recordSpend("agent-1", 0.000001, at: at(Double(index) / 1000))
        }
        #expect(tracker.cumulativeSpend("agent-1") == usd("1"))
        #expect(tracker.cumulativeSpend("agent-1").nanos == 1_000_000_000)
    }

    @Test("a negative, NaN or infinite cost is rejected with an error naming it", arguments: [-0.01, .nan, .infinity])
    func rejectsBadCosts(cost: Double) throws {
        let tracker = try HeartbeatTracker()
        try tracker.recordSpend("agent-1", 0.25, at: at(0))

        let error = #expect(throws: TrackerError.self) {
            try tracker.recordSpend("agent-1", cost, at: at(1))
        }
        #expect(error?.code == .invalidAmount)
        #expect(error?.message.contains(String(cost)) == true)
        #expect(tracker.cumulativeSpend("agent-1") == usd("0.25"))
    }

    @Test("an overflowing spend is rejected without touching the totals")
    func rejectsOverflow() throws {
        let tracker = try HeartbeatTracker()
        try tracker.startCycle("agent-1", at: at(0))
        try tracker.recordSpend("agent-1", Money(nanos: Int64.max - 10), at: at(1))

        #expect(throws: TrackerError.self) {
            try tracker.recordSpend("agent-1", Money(nanos: 11), at: at(2))
        }
        #expect(tracker.cumulativeSpend("agent-1").nanos == Int64.max - 10)
        #expect(tracker.agentCycles("agent-1").first?.calls == 1)
    }

    @Test(
        "amounts print with two decimals, and sub-cent amounts keep their significant digits",
        arguments: [
            ("0", "$0.00"), ("0.08", "$0.08"), ("0.5", "$0.50"), ("12.345", "$12.35"), ("1000", "$1000.00"),
            ("0.0042", "$0.0042"), ("0.000001", "$0.000001"), ("0.00105", "$0.001"), ("0.009999", "$0.0099"),
        ]
    )
    func formatting(amount: String, printed: String) {
        #expect(usd(amount).description == printed)
    }

    @Test("dollars convert to the nearest nano-dollar")
    func conversion() throws {
        #expect(try Money(dollars: 0.1).nanos == 100_000_000)
        #expect(try Money(dollars: 0.000001).nanos == 1000)
        #expect(try Money(dollars: 3.75) == usd("3.75"))
    }
}

@Test(
    "exact decimals carry every nano-dollar and no trailing zeros",
    arguments: [(0, "0"), (1, "0.000000001"), (80_000_000, "0.08"), (12_000_000_000, "12"), (-1_500_000_000, "-1.5")]
)
func exactDecimal(nanos: Int64, text: String) {
    #expect(Money(nanos: nanos).exactDecimal == text)
}
