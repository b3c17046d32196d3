// File access and the settings the subcommands share.

import AgentCostClient
import Foundation

enum InputOutput {
    /// The contents of `path`, or of standard input for `-`.
    ///
    /// - Throws: `CtlError` with code `failure` naming the file.
    static func readFile(_ path: String) throws(CtlError) -> Data {
        if path == "-" {
            return FileHandle.standardInput.readDataToEndOfFile()
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CtlError(.failure, "cannot read file '\(path)'; check that it exists and is readable")
        }
        return data
    }

    /// The token in `path`, without surrounding whitespace, or `nil` when no token file was given.
    static func token(fromFile path: String?) throws(CtlError) -> String? {
        guard let path else { return nil }
        let text = String(decoding: try readFile(path), as: UTF8.self)
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The `--address` flag's value, parsed.
    static func address(_ options: CommandLineOptions) throws(CtlError) -> ServerAddress {
        let text = options.string("address", default: "127.0.0.1:\(ServerAddress.defaultPort)")
        do {
            return try ServerAddress(parsing: text)
        } catch {
            throw CtlError(.usage, "flag --address: \(error.message)")
        }
    }

    /// A producer id unique to this run, so that replaying or blasting twice is not taken for a duplicate.
    static func uniqueProducerID(prefix: String) -> String {
        let nanoseconds = UInt64(Date().timeIntervalSince1970 * 1e9)
        return "\(prefix)-\(ProcessInfo.processInfo.processIdentifier)-\(String(nanoseconds, radix: 36))"
    }
}
