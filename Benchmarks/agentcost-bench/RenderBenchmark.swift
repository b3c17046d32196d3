import AgentCostCore
import AgentCostExposition
import AgentCostServer
import AgentCostSystem

/// Renders `/metrics` for many agents and compares the series per second with Python prometheus-client rendering
/// the same per-agent families (measured by Benchmarks/python/render_baseline.py in the same `make bench` run).
func benchmarkRender(agents: Int, pythonBaseline: (series: Int, seconds: Double)?) throws {
    let exporter = try makePopulatedExporter(agents: agents)
    var best = Double.infinity
    var bytes: [UInt8] = []
    for _ in 0..<3 {
        let start = Clock.monotonicSeconds()
        bytes = exporter.renderMetrics(format: .prometheusText)
        best = min(best, Clock.monotonicSeconds() - start)
    }
    let series = bytes.split(separator: UInt8(ascii: "\n")).filter { $0.first != UInt8(ascii: "#") }.count
    let rate = Double(series) / best

    print("render: /metrics for \(agents) agents, text format, \(fixed(Double(bytes.count) / 1_048_576, 1)) MiB")
    print("  exporter: \(series) series in \(fixed(best * 1000, 1)) ms = \(fixed(rate / 1e6, 2))M series/s")
    guard let pythonBaseline else {
        print("  Python prometheus-client baseline: not measured (run through `make bench`)")
        return
    }
    let pythonRate = Double(pythonBaseline.series) / pythonBaseline.seconds
    let ratio = rate / pythonRate
    print(
        "  Python prometheus-client, same families: \(pythonBaseline.series) series in "
            + "\(fixed(pythonBaseline.seconds * 1000, 0)) ms = \(fixed(pythonRate / 1e6, 3))M series/s"
    )
    print(
        "  ratio: \(fixed(ratio, 1))x faster  (target >= 20x)  "
            + "check: \(verdict("render: against Python prometheus-client", ratio >= 20))")
}

/// An exporter (not listening) whose tracker holds `agents` agents with a daily budget, a completed cycle and an
/// open one, so that every per-agent family has a sample for each.
func makePopulatedExporter(agents: Int) throws -> Exporter {
    var configuration = ExporterConfiguration()
    configuration.dataDirectory = "/tmp/agentcost-bench-unused"
    let exporter = try Exporter(configuration: configuration, logger: benchLogger)
    try populate(exporter.tracker, agents: agents)
    return exporter
}

/// Gives `tracker` that many agents, each with a daily budget, a completed cycle and an open one.
func populate(_ tracker: HeartbeatTracker, agents: Int) throws {
    let time = Timestamp(secondsSinceEpoch: 1_796_299_200)
    for index in 0..<agents {
        let agent = "agent-\(index)"
        try tracker.setBudget(agent, budget: Money(nanos: 10_000_000_000), period: .daily, at: time)
        _ = try tracker.apply(
            [
                .startCycle(at: time), .spend(Money(nanos: 50_000_000 + Int64(index)), at: time),
                .spend(Money(nanos: 30_000_000), at: time), .endCycle(at: time.advanced(bySeconds: 30)),
                .startCycle(at: time.advanced(bySeconds: 60)),
            ],
            to: agent
        )
    }
}
