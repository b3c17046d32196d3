import AgentCostCore
import AgentCostSystem

/// One million agents, each with a budget and a full default history (20 retained cycles, 10 in the rolling
/// window), must fit in 2 KiB of resident memory apiece.
func benchmarkMemory(agents: Int) throws {
    let configuration = TrackerConfiguration()
    let cyclesPerAgent = configuration.retainedCycles + 1
    let tracker = try HeartbeatTracker(configuration: configuration)
    let before = baselineResidentBytes()
    let start = Clock.monotonicSeconds()
    var operations = 0

    let epoch = Timestamp(secondsSinceEpoch: 1_796_299_200)
    for agent in 0..<agents {
        let id = "agent-\(agent)"
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
    let used = residentBytes() - before
    let perAgent = Double(used) / Double(agents)
    let target = 2048.0
    print("memory: \(agents) agents x \(cyclesPerAgent) cycles (retention \(configuration.retainedCycles))")
    print("  resident growth:  \(fixed(Double(used) / 1_048_576, 1)) MiB")
    print(
        "  bytes per agent:  \(fixed(perAgent, 0))  (target <= \(Int(target)); "
            + "ratio to target \(fixed(perAgent / target, 3)))"
    )
    print(
        "  single-thread apply: \(fixed(Double(operations) / elapsed / 1e6, 2))M tracker operations/s "
            + "over \(fixed(elapsed, 1)) s"
    )
    print("  check: \(perAgent <= target ? "PASS" : "FAIL") (agents tracked: \(tracker.agentCount))")
}
