// agentcost-bench: the numbers behind the issues' speed and memory targets, measured on this machine.
//
// Each measurement prints its absolute figures and its ratio to the target or to a baseline taken in the same run.

import AgentCostCore

#if canImport(Glibc)
    import Glibc
#endif

/// Resident memory of this process, from the second field of /proc/self/statm (in pages).
func residentBytes() -> Int {
    guard let file = fopen("/proc/self/statm", "r") else { return 0 }
    defer { fclose(file) }
    var buffer = [CChar](repeating: 0, count: 128)
    guard fgets(&buffer, Int32(buffer.count), file) != nil else { return 0 }
    let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Int(fields[1]) else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
}

func monotonicSeconds() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}

func machineDescription() -> String {
    var model = "unknown CPU"
    if let file = fopen("/proc/cpuinfo", "r") {
        defer { fclose(file) }
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        while getline(&line, &capacity, file) > 0 {
            let text = String(cString: line!)
            if text.hasPrefix("model name") {
                model = String(text.split(separator: ":", maxSplits: 1).last ?? "").trimmingSpaces()
                break
            }
        }
        free(line)
    }
    return "\(model), \(sysconf(Int32(_SC_NPROCESSORS_ONLN))) cores"
}

extension String {
    func trimmingSpaces() -> String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " || $0 == "\n" }.reversed())
    }
}

func fixed(_ value: Double, _ decimals: Int) -> String {
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let scaled = Int64((value * scale).rounded())
    guard decimals > 0 else { return String(scaled) }
    let digits = String(scaled.magnitude)
    let padded = String(repeating: "0", count: max(0, decimals + 1 - digits.count)) + digits
    return (scaled < 0 ? "-" : "") + padded.dropLast(decimals) + "." + padded.suffix(decimals)
}

// MARK: Memory per agent

/// One million agents, each with a budget and a full default history (20 retained cycles, 10 in the rolling
/// window), must fit in 2 KiB of resident memory apiece.
func benchmarkMemory(agents: Int) throws {
    let configuration = TrackerConfiguration()
    let cyclesPerAgent = configuration.retainedCycles + 1
    let tracker = try HeartbeatTracker(configuration: configuration)
    let before = residentBytes()
    let start = monotonicSeconds()
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

    let elapsed = monotonicSeconds() - start
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

var agents = 1_000_000
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    if argument == "--agents", let value = arguments.popFirst().flatMap({ Int($0) }) {
        agents = value
    } else {
        print("usage: agentcost-bench [--agents N]")
        exit(2)
    }
}

print("agentcost-bench on \(machineDescription())")
do {
    try benchmarkMemory(agents: agents)
} catch {
    print("benchmark failed: \(error)")
    exit(1)
}
