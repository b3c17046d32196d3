// Flag parsing for the subcommands: `--name value`, `--name=value`, boolean `--name`, and positionals.

/// The parsed arguments of one subcommand.
struct CommandLineOptions {
    /// The arguments that are not flags, in order.
    var positionals: [String] = []
    /// The value of each flag given, by name without dashes; boolean flags map to `"true"`.
    var values: [String: String] = [:]

    /// Parses `arguments` against the flags a subcommand knows.
    ///
    /// - Throws: `CtlError` with code `usage` naming an unknown flag or a flag without its value.
    init(
        _ arguments: some Sequence<String>, subcommand: String, valued: Set<String>, boolean: Set<String> = []
    ) throws(CtlError) {
        var iterator = arguments.makeIterator()
        while let argument = iterator.next() {
            guard argument.hasPrefix("-"), argument != "-" else {
                positionals.append(argument)
                continue
            }
            if argument == "-h" {
                values["help"] = "true"
                continue
            }
            let body = argument.drop { $0 == "-" }
            let name = String(body.prefix { $0 != "=" })
            let inline = body.firstIndex(of: "=").map { String(body[body.index(after: $0)...]) }
            if name == "help" || boolean.contains(name) {
                guard inline == nil else {
                    throw CtlError(.usage, "flag --\(name) of '\(subcommand)' takes no value; write just --\(name)")
                }
                values[name] = "true"
            } else if valued.contains(name) {
                guard let value = inline ?? iterator.next() else {
                    throw CtlError(.usage, "flag --\(name) of '\(subcommand)' needs a value, e.g. --\(name)=VALUE")
                }
                values[name] = value
            } else {
                let known = (valued.union(boolean).union(["help"])).sorted().map { "--\($0)" }.joined(separator: ", ")
                throw CtlError(.usage, "unknown flag '\(argument)' for '\(subcommand)'; known flags: \(known)")
            }
        }
    }

    /// Whether `--help` (or `-h`) was given.
    var wantsHelp: Bool { values["help"] != nil }

    /// Whether a boolean flag was given.
    func isSet(_ name: String) -> Bool { values[name] != nil }

    /// A string flag's value, or `fallback`.
    func string(_ name: String, default fallback: String) -> String {
        values[name] ?? fallback
    }

    /// An integer flag's value within `range`, or `fallback`.
    ///
    /// - Throws: `CtlError` with code `usage` naming the flag and its range.
    func integer(_ name: String, default fallback: Int, in range: ClosedRange<Int>) throws(CtlError) -> Int {
        guard let text = values[name] else { return fallback }
        guard let value = Int(text), range.contains(value) else {
            throw CtlError(
                .usage,
                "flag --\(name) has value '\(text)'; use a whole number from \(range.lowerBound) to \(range.upperBound)"
            )
        }
        return value
    }

    /// A number of seconds, or `fallback`.
    ///
    /// - Throws: `CtlError` with code `usage` naming the flag.
    func seconds(_ name: String, default fallback: Duration) throws(CtlError) -> Duration {
        guard let text = values[name] else { return fallback }
        guard let value = Double(text), value >= 0, value <= 86_400 else {
            throw CtlError(
                .usage, "flag --\(name) has value '\(text)'; use a number of seconds from 0 to 86400, e.g. 2.5")
        }
        return .nanoseconds(Int64(value * 1e9))
    }

    /// The single positional argument a subcommand needs.
    ///
    /// - Throws: `CtlError` with code `usage` when there is none or more than one.
    func onlyPositional(_ what: String, subcommand: String) throws(CtlError) -> String {
        guard positionals.count == 1 else {
            let given = positionals.isEmpty ? "none" : positionals.map { "'\($0)'" }.joined(separator: ", ")
            throw CtlError(.usage, "'\(subcommand)' needs exactly one \(what) argument (given: \(given)); see --help")
        }
        return positionals[0]
    }
}
