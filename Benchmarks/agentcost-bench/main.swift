// agentcost-bench: the numbers behind the issues' speed and memory targets, measured on this machine.
//
// Each measurement prints its absolute figures and its ratio to the target or to a baseline taken in the same run.
// A measurement with a target prints `check: PASS` or `check: FAIL`; the tool exits 1 when any check failed.
// `agentcost-bench [all|memory|ingest|scrape|connections|render|storage] [--agents N] [--frames N] ...`

#if canImport(Glibc)
    import Glibc
#endif

var selected = "all"
var agents = 1_000_000
var framesPerConnection = 1500
var renderAgents = 100_000
var scrapeAgents = 10_000
var scrapeStressAgents = 100_000
var pythonRender: (series: Int, seconds: Double)?
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "all", "memory", "ingest", "scrape", "connections", "render", "storage":
        selected = argument
    case "--agents":
        guard let value = arguments.popFirst().flatMap({ Int($0) }), value > 0 else { usage() }
        agents = value
    case "--frames":
        guard let value = arguments.popFirst().flatMap({ Int($0) }), value > 0 else { usage() }
        framesPerConnection = value
    case "--render-agents":
        guard let value = arguments.popFirst().flatMap({ Int($0) }), value > 0 else { usage() }
        renderAgents = value
    case "--scrape-agents":
        guard let value = arguments.popFirst().flatMap({ Int($0) }), value > 0 else { usage() }
        scrapeAgents = value
    case "--scrape-stress-agents":
        guard let value = arguments.popFirst().flatMap({ Int($0) }), value >= 0 else { usage() }
        scrapeStressAgents = value
    case "--python-render":
        // "<series> <seconds>" as printed by Benchmarks/python/render_baseline.py
        let fields = arguments.popFirst()?.split(separator: " ") ?? []
        guard fields.count == 2, let series = Int(fields[0]), let seconds = Double(fields[1]) else { usage() }
        pythonRender = (series, seconds)
    default:
        usage()
    }
}

func usage() -> Never {
    print(
        "usage: agentcost-bench [all|memory|ingest|scrape|connections|render|storage] [--agents N] "
            + "[--frames N-per-connection] [--render-agents N] [--scrape-agents N] [--scrape-stress-agents N (0: skip)] "
            + "[--python-render \"SERIES SECONDS\"]"
    )
    exit(2)
}

print("agentcost-bench on \(machineDescription())")
do {
    if selected == "all" || selected == "ingest" {
        try benchmarkIngest(framesPerConnection: framesPerConnection)
    }
    if selected == "all" || selected == "scrape" {
        try benchmarkScrapedIngest(fleet: scrapeAgents)
        if scrapeStressAgents > 0 {
            try benchmarkScrapedIngest(fleet: scrapeStressAgents, pairs: 1, checked: false)
        }
    }
    if selected == "all" || selected == "storage" {
        try benchmarkStorage(framesPerConnection: min(framesPerConnection, 300))
    }
    if selected == "all" || selected == "render" {
        try benchmarkRender(agents: renderAgents, pythonBaseline: pythonRender)
    }
    if selected == "all" || selected == "connections" {
        try benchmarkIdleConnections(count: 5_000)
    }
    if selected == "all" || selected == "memory" {
        try benchmarkMemory(agents: agents)
    }
} catch {
    print("benchmark failed: \(error)")
    exit(1)
}

let failed = failedCheckNames()
if !failed.isEmpty {
    print("\(failed.count) check(s) failed: \(failed.joined(separator: "; "))")
    exit(1)
}
