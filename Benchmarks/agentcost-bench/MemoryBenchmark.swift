import AgentCostCore
import AgentCostSystem

/// One million agents, each with a budget and a full default history (20 retained cycles, 10 in the rolling
/// window), must fit in 2 KiB of resident memory apiece. Measured with 36-character UUID-shaped agent ids, as
/// orchestrators hand them out (the checked figure), and with short ids (`agent-123456`, 12 bytes, which Swift keeps
/// inline in the string value without a heap allocation) for comparison.
func benchmarkMemory(agents: Int) throws {
    let configuration = TrackerConfiguration()
    print(
        "memory: \(agents) agents x \(configuration.retainedCycles + 1) cycles "
            + "(retention \(configuration.retainedCycles))")
    let target = 2048.0
    for (label, makeID) in [("UUID-shaped ids (36 bytes)", uuidShapedID), ("short ids (agent-N)", shortID)] {
        let perAgent = try measureTrackerMemory(agents: agents, configuration: configuration, label: label, makeID)
        guard label.hasPrefix("UUID") else { continue }
        print(
            "  check (UUID-shaped ids): \(fixed(perAgent, 0)) bytes per agent (target <= \(Int(target)); ratio to "
                + "target \(fixed(perAgent / target, 3)))  "
                + "check: \(verdict("memory: bytes per agent with UUID-shaped ids", perAgent <= target))"
        )
    }
}

/// Fills a fresh tracker and prints its resident growth, the process's total and the apply rate; returns the
/// growth per agent. The tracker is freed on return, so the next measurement starts from a trimmed heap.
private func measureTrackerMemory(
    agents: Int, configuration: TrackerConfiguration, label: String, _ makeID: (Int) -> String
) throws -> Double {
    let cyclesPerAgent = configuration.retainedCycles + 1
    let tracker = try HeartbeatTracker(configuration: configuration)
    let before = baselineResidentBytes()
    let start = Clock.monotonicSeconds()
    var operations = 0

    let epoch = Timestamp(secondsSinceEpoch: 1_796_299_200)
    for agent in 0..<agents {
        let id = makeID(agent)
        try tracker.setBudget(id, budget: Money(nanos: 1_000_000_000_000), period: .daily, at: epoch)
        for cycle in 0..<cyclesPerAgent {
            let time = epoch.advanced(bySeconds: Double(cycle * 30))
            try tracker.startCycle(id, at: time)
            try tracker.recordSpend(id, Money(nanos: Int64(10_000_000 + cycle * 1_000)), at: time)
            try tracker.recordSpend(id, Money(nanos: 5_000_000), at: time.advanced(bySeconds: 1))
            tracker.endCycle(id, at: time.advanced(bySeconds: 20))
        }
        operations += 1 + cyclesPerAgent * 4
    }

    let elapsed = Clock.monotonicSeconds() - start
    let total = residentBytes()
    let used = total - before
    let perAgent = Double(used) / Double(agents)
    guard tracker.agentCount == agents else {
        throw BenchmarkError("the tracker holds \(tracker.agentCount) agents, expected \(agents)")
    }
    print("  \(label), e.g. \(makeID(0)):")
    print(
        "    resident growth \(fixed(Double(used) / 1_048_576, 1)) MiB = \(fixed(perAgent, 0)) bytes per agent; "
            + "process resident total \(fixed(Double(total) / 1_048_576, 1)) MiB"
    )
    print(
        "    single-thread apply: \(fixed(Double(operations) / elapsed / 1e6, 2))M tracker operations/s "
            + "over \(fixed(elapsed, 1)) s"
    )
    return perAgent
}

private func shortID(_ index: Int) -> String {
    "agent-\(index)"
}

/// A 36-character id shaped like a random (version 4) UUID, `8-4-4-4-12` lower-case hex digits, derived from
/// `index` with splitmix64 so that every run uses the same ids.
func uuidShapedID(_ index: Int) -> String {
    var state = UInt64(truncatingIfNeeded: index)
    func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var mixed = state
        mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
        return mixed ^ (mixed >> 31)
    }
    let high = next()
    let low = (next() & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000
    let digits = Array("0123456789abcdef".utf8)
    var bytes: [UInt8] = []
    bytes.reserveCapacity(36)
    for position in 0..<32 {
        if position == 8 || position == 12 || position == 16 || position == 20 {
            bytes.append(UInt8(ascii: "-"))
        }
        let word = position < 16 ? high : low
        var nibble = Int((word >> UInt64(60 - (position % 16) * 4)) & 0xF)
        if position == 12 { nibble = 4 }
        bytes.append(digits[nibble])
    }
    return String(decoding: bytes, as: UTF8.self)
}
