// The errors agentcostctl reports: a usage mistake (exit 2) or a failure to do the work (exit 1).

/// An error that ends agentcostctl with a message on standard error.
struct CtlError: Error, Equatable, CustomStringConvertible {
    /// What kind of failure, and so the exit status.
    struct Code: Equatable, CustomStringConvertible {
        let rawValue: String
        let exitStatus: Int32

        /// A bad command line: unknown subcommand or flag, missing or malformed value. Exit status 2.
        static let usage = Code(rawValue: "usage", exitStatus: 2)
        /// Bad input data, e.g. a malformed JSON line. Exit status 1.
        static let invalidInput = Code(rawValue: "invalid_input", exitStatus: 1)
        /// The work could not be done: connection refused, file unreadable, server refused. Exit status 1.
        static let failure = Code(rawValue: "failure", exitStatus: 1)

        var description: String { rawValue }
    }

    let code: Code
    let message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    var description: String { message }
}
