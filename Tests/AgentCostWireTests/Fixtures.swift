import AgentCostWire

/// One event of every kind, with every field set to a value other than its default.
let everyKindOfEvent: [Event] = [
    Event(timeUnixNano: 1_700_000_000_000_000_001, .cycleStart(CycleStart(agentID: "planner-1"))),
    Event(
        timeUnixNano: 1_700_000_000_000_000_002,
        .spend(
            Spend(
                agentID: "planner-1", costUSD: 0.0125, goalID: "q3-launch", model: "gpt-4o", inputTokens: 1200,
                outputTokens: 340))),
    Event(timeUnixNano: 1_700_000_000_000_000_003, .cycleEnd(CycleEnd(agentID: "planner-1"))),
    Event(
        timeUnixNano: 1_700_000_000_000_000_004,
        .setBudget(SetBudget(agentID: "coder-7", budgetUSD: 25, period: .weekly, warningRatio: 0.9, clear: true))),
    Event(timeUnixNano: 1_700_000_000_000_000_005, .resume(Resume(agentID: "coder-7", force: true))),
    Event(
        timeUnixNano: 1_700_000_000_000_000_006,
        .createGoal(CreateGoal(goalID: "q3-launch", name: "Q3 launch", budgetUSD: 500, parentID: "2026"))),
]

/// A batch of `count` spend events spread over a few agents, like a busy fleet sends.
func makeSpendBatch(count: Int, sequence: UInt64 = 1) -> Batch {
    var events: [Event] = []
    for index in 0..<count {
        let spend = Spend(
            agentID: "agent-\(index % 50)", costUSD: Double(index % 100) / 1000, goalID: "goal-\(index % 5)",
            model: "gpt-4o-mini", inputTokens: UInt64(100 + index), outputTokens: UInt64(20 + index % 7))
        events.append(Event(timeUnixNano: 1_700_000_000_000_000_000 + Int64(index), .spend(spend)))
    }
    return Batch(producerID: "fleet-a", sequence: sequence, events: events)
}

/// Decodes every frame in `bytes`, failing on the first error.
func decodeAllFrames(_ bytes: [UInt8], limits: WireLimits = .default) throws -> [Frame] {
    var decoder = FrameDecoder(limits: limits)
    decoder.append(bytes)
    var frames: [Frame] = []
    while let frame = try decoder.nextFrame() {
        frames.append(frame)
    }
    try decoder.finish()
    return frames
}

/// The `WireError` `body` throws, or `nil` when it throws none (or another error).
func wireError<Result>(_ body: () throws -> Result) -> WireError? {
    do {
        _ = try body()
        return nil
    } catch {
        return error as? WireError
    }
}
