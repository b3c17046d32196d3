// `agentcostctl replay FILE`: sends JSON-lines events through the Swift client and prints every ack.

import AgentCostClient
import AgentCostWire
import Synchronization

enum ReplayCommand {
    static let help = """
        Usage: agentcostctl replay FILE [FLAGS]

        Sends the events of FILE (- for standard input), one JSON object per line, and prints each ack and a
        total.
        A line looks like
          {"type":"spend","agent_id":"a1","cost_usd":0.05,"goal_id":"g","model":"gpt-4o",
           "input_tokens":10,"output_tokens":5,"time_unix_nano":1700000000000000000}
        with type cycle_start, spend, cycle_end, set_budget (budget_usd, period lifetime|daily|weekly|monthly,
        warning_ratio, clear), resume (force) or create_goal (goal_id, name, budget_usd, parent_id). Instead of
        time_unix_nano, "time" may be RFC 3339 ("2026-12-03T19:30:00Z") or seconds since the epoch (1700000000.5);
        without a time the server uses its clock. Blank lines are skipped; a malformed line stops the replay
        before anything is sent, naming its line number.

        Flags:
          --address HOST:PORT    the exporter's ingest address (default 127.0.0.1:9471)
          --producer ID          producer id (default: agentcostctl-PID-TIME, unique per run, so a second replay
                                 of the same file is applied again rather than taken for a duplicate)
          --first-sequence N     sequence of the first batch (default 1)
          --batch-size N         events per batch (default 1000)
          --token-file F         send a hello with the token in F first
          --deadline SECONDS     how long to keep retrying a failed connection (default 10)

        """

    static func run(_ arguments: ArraySlice<String>) throws(CtlError) {
        let options = try CommandLineOptions(
            arguments, subcommand: "replay",
            valued: ["address", "producer", "first-sequence", "batch-size", "token-file", "deadline"])
        if options.wantsHelp {
            print(help, terminator: "")
            return
        }
        let path = try options.onlyPositional("FILE", subcommand: "replay")

        // Settings, and every event read before anything is sent.
        var configuration = SpendClientConfiguration(
            address: try InputOutput.address(options),
            producerID: options.string("producer", default: InputOutput.uniqueProducerID(prefix: "agentcostctl")))
        configuration.maxBatchEvents = try options.integer("batch-size", default: 1000, in: 1...1_000_000)
        configuration.firstSequence = UInt64(try options.integer("first-sequence", default: 1, in: 1...Int.max))
        configuration.token = try InputOutput.token(fromFile: options.values["token-file"])
        configuration.retry.deadline = try options.seconds("deadline", default: .seconds(10))
        configuration.flushInterval = nil
        let text = String(decoding: try InputOutput.readFile(path), as: UTF8.self)
        let events = try EventLines.parse(text, source: path)

        // Send, printing acks as they arrive.
        let totals = Mutex(ReplayTotals())
        configuration.onAck = { ack in
            print(describe(ack))
            totals.withLock { $0.add(ack) }
        }
        let address = configuration.address
        do {
            let client = try SpendClient(configuration: configuration)
            try client.connect()
            for event in events {
                try client.send(event)
            }
            try client.close()
            let summary = totals.withLock { $0 }
            print(
                "total events=\(events.count) batches=\(summary.batches) applied=\(summary.applied) "
                    + "rejected=\(summary.rejected) rejected_batches=\(summary.rejectedBatches) "
                    + "paused_agents=\(client.pausedAgents.sorted().joined(separator: ","))")
        } catch {
            throw CtlError(.failure, "replay to \(address) failed: \(error.message)")
        }
    }

    /// One ack as a line, and one indented line per rejection.
    static func describe(_ ack: Ack) -> String {
        var line =
            "ack sequence=\(ack.sequence) status=\(ack.status) applied=\(ack.applied) rejected=\(ack.rejected) "
            + "paused_agents=\(ack.pausedAgents.joined(separator: ","))"
        if !ack.message.isEmpty {
            line += " message=\"\(ack.message)\""
        }
        for rejection in ack.rejections {
            line += "\n  rejection index=\(rejection.index) reason=\(rejection.reason)"
        }
        return line
    }
}

private struct ReplayTotals {
    var batches = 0
    var applied: UInt64 = 0
    var rejected: UInt64 = 0
    var rejectedBatches = 0

    mutating func add(_ ack: Ack) {
        batches += 1
        applied += UInt64(ack.applied)
        rejected += UInt64(ack.rejected)
        if ack.status != .ok {
            rejectedBatches += 1
        }
    }
}
