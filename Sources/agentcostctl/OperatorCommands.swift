// The operator subcommands: inspect agents and goals, set budgets, resume agents, over the exporter's HTTP API.

import AgentCostClient
import AgentCostJSON
import AgentCostSystem

enum OperatorCommands {
    static let names = [
        "agents", "agent", "cycles", "set-budget", "clear-budget", "resume", "goals", "goal", "create-goal",
    ]

    static let help = """
        Usage: agentcostctl OPERATOR-SUBCOMMAND [ARGS] [FLAGS]

        Operator subcommands (they talk to the exporter's web address):
          agents [--paused]                        list agents: spend, budget, use, paused
          agent ID                                 one agent's summary
          cycles ID [--limit N]                    an agent's cycles, newest first
          set-budget ID USD [--period P] [--warning-ratio R]
                                                   P is lifetime (default), daily, weekly or monthly
          clear-budget ID                          remove an agent's budget (resumes it)
          resume ID [--force]                      resume a paused agent; --force even when still over budget
          goals                                    list goals with their costs
          goal ID                                  one goal's cost
          create-goal ID [--name N] [--budget USD] [--parent ID]

        Flags for all of them:
          --web-address HOST:PORT   the exporter's web address (default 127.0.0.1:9470)
          --token-file F            bearer token for calls that change state (--web.api-token-file)
          --json                    print the server's JSON instead of text

        """

    static func run(_ subcommand: String, _ arguments: ArraySlice<String>) throws(CtlError) {
        let options = try CommandLineOptions(
            arguments, subcommand: subcommand,
            valued: ["web-address", "token-file", "limit", "period", "warning-ratio", "name", "budget", "parent"],
            boolean: ["json", "paused", "force"])
        if options.wantsHelp {
            print(help, terminator: "")
            return
        }
        let addressText = options.string("web-address", default: "127.0.0.1:9470")
        guard let address = ListenAddress(parsing: addressText) else {
            throw CtlError(
                .usage, "flag --web-address has value '\(addressText)'; write host:port, e.g. 127.0.0.1:9470")
        }
        let client = OperatorClient(
            address: address, token: try InputOutput.token(fromFile: options.values["token-file"]))

        let reply: OperatorClient.Reply
        do {
            switch subcommand {
            case "agents":
                reply = try client.agents(pausedOnly: options.isSet("paused"))
            case "agent":
                reply = try client.agent(try options.onlyPositional("ID", subcommand: subcommand))
            case "cycles":
                let limit =
                    options.values["limit"] == nil ? nil : try options.integer("limit", default: 20, in: 1...100_000)
                reply = try client.cycles(try options.onlyPositional("ID", subcommand: subcommand), limit: limit)
            case "set-budget":
                guard options.positionals.count == 2, Double(options.positionals[1]) != nil else {
                    throw CtlError(.usage, "'set-budget' needs an agent ID and an amount in USD, e.g. set-budget a1 10")
                }
                reply = try client.setBudget(
                    options.positionals[0], dollars: options.positionals[1],
                    period: options.string("period", default: "lifetime"), warningRatio: options.values["warning-ratio"]
                )
            case "clear-budget":
                reply = try client.clearBudget(try options.onlyPositional("ID", subcommand: subcommand))
            case "resume":
                reply = try client.resume(
                    try options.onlyPositional("ID", subcommand: subcommand), force: options.isSet("force"))
            case "goals":
                reply = try client.goals()
            case "goal":
                reply = try client.goal(try options.onlyPositional("ID", subcommand: subcommand))
            default:
                if let budget = options.values["budget"], Double(budget) == nil {
                    throw CtlError(.usage, "flag --budget has value '\(budget)'; give an amount in USD, e.g. 50")
                }
                reply = try client.createGoal(
                    try options.onlyPositional("ID", subcommand: subcommand), name: options.values["name"],
                    budgetDollars: options.values["budget"], parent: options.values["parent"])
            }
        } catch let error as CtlError {
            throw error
        } catch {
            throw CtlError(.failure, "\(error)")
        }

        guard (200..<300).contains(reply.status) else {
            let message: String
            if case .object(let fields)? = try? reply.json(), case .string(let text)? = fields["error"] {
                message = text
            } else {
                message = reply.text
            }
            throw CtlError(.failure, "the exporter answered \(reply.status): \(message)")
        }
        if options.isSet("json") {
            print(reply.text)
            return
        }
        do {
            print(render(try reply.json()), terminator: "")
        } catch {
            throw CtlError(.failure, "\(error)")
        }
    }

    /// A readable rendering: a table for listings, `key: value` lines for one object.
    static func render(_ value: JSONValue) -> String {
        guard case .object(let fields) = value else { return "\(text(value))\n" }
        for (listName, columns) in [
            ("agents", ["agent_id", "cumulative_spend", "budget", "budget_used_pct", "period", "paused"]),
            ("cycles", ["cycle_id", "started_at", "cost", "calls", "duration_s", "status", "anomaly_reason"]),
            ("goals", ["goal_id", "name", "direct_cost", "total_cost", "budget", "budget_used_pct"]),
        ] {
            if case .array(let rows)? = fields[listName], fields.count == 1 {
                return table(rows, columns: columns)
            }
        }
        return fields.keys.sorted().map { "\($0): \(text(fields[$0]!))\n" }.joined()
    }

    private static func table(_ rows: [JSONValue], columns: [String]) -> String {
        var cells = [columns]
        for row in rows {
            guard case .object(let fields) = row else { continue }
            cells.append(columns.map { fields[$0].map(text) ?? "" })
        }
        let widths = columns.indices.map { column in cells.map { $0[column].count }.max() ?? 0 }
        return cells.map { line in
            line.enumerated().map { $1.padding(to: widths[$0]) }.joined(separator: "  ") + "\n"
        }.joined()
    }

    private static func text(_ value: JSONValue) -> String {
        switch value {
        case .string(let text): return text
        case .number(let text): return text
        case .bool(let flag): return flag ? "true" : "false"
        case .null: return "-"
        case .array(let items): return items.map(text).joined(separator: ",")
        case .object(let fields):
            return "{" + fields.keys.sorted().map { "\($0)=\(text(fields[$0]!))" }.joined(separator: " ") + "}"
        }
    }
}

extension String {
    fileprivate func padding(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
