// agentcostctl: replays JSON-lines events to an agentcost exporter, generates and blasts load-test frames, and
// inspects and steers agents through the exporter's operator API.

import Foundation

let usage = """
    Usage: agentcostctl SUBCOMMAND [FLAGS]

    Subcommands:
      replay FILE   send the events of a JSON-lines file and print every ack
      gen           write a file of pre-compressed batch frames for load tests
      blast FILE    send a file written by gen as fast as possible and print events/s

    Operator subcommands (see 'agentcostctl agents --help'):
      agents, agent ID, cycles ID, set-budget ID USD, clear-budget ID, resume ID, goals, goal ID, create-goal ID

    Run 'agentcostctl SUBCOMMAND --help' for a subcommand's flags.

    Exit status: 0 on success, 1 when the work failed (bad input, connection refused), 2 on a usage error.

    """

let arguments = Array(CommandLine.arguments.dropFirst())
do {
    guard let subcommand = arguments.first else {
        throw CtlError(.usage, "no subcommand given; use replay, gen, blast or an operator subcommand (see --help)")
    }
    let rest = arguments.dropFirst()
    switch subcommand {
    case "replay": try ReplayCommand.run(rest)
    case "gen": try GenerateCommand.run(rest)
    case "blast": try BlastCommand.run(rest)
    case _ where OperatorCommands.names.contains(subcommand): try OperatorCommands.run(subcommand, rest)
    case "-h", "--help", "help": print(usage, terminator: "")
    default: throw CtlError(.usage, "unknown subcommand '\(subcommand)'; see --help for the list")
    }
} catch let error as CtlError {
    FileHandle.standardError.write(Data("agentcostctl: \(error.message)\n".utf8))
    exit(error.code.exitStatus)
} catch {
    FileHandle.standardError.write(Data("agentcostctl: \(error)\n".utf8))
    exit(1)
}
