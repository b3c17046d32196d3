// What the process may use: processors to run threads on, file descriptors to hold connections with.

import CAgentCostSystem

/// The processor count and the open-file limit, read (and raised) once at start-up to size the server.
public enum ProcessLimits {
    /// The limits on open file descriptors (`RLIMIT_NOFILE`); `UInt64.max` stands for unlimited.
    public struct OpenFiles: Sendable, Equatable {
        /// The limit the kernel enforces now: `accept` fails with EMFILE past it.
        public let soft: UInt64
        /// The ceiling an unprivileged process may raise `soft` to.
        public let hard: UInt64
    }

    /// The number of processors online now (`sysconf(_SC_NPROCESSORS_ONLN)`), at least 1.
    public static func onlineProcessorCount() -> Int {
        max(1, Int(acsys_online_processors()))
    }

    /// Raises the soft limit on open files to the hard limit: each ingest connection holds a descriptor, and
    /// distributions often start services with a soft limit of 1,024.
    ///
    /// - Returns: the limits in effect afterwards.
    /// - Throws: `SystemError` for `setrlimit` (or `getrlimit`), with the limits still in effect in its detail.
    public static func raiseOpenFileLimit() throws(SystemError) -> OpenFiles {
        var soft: UInt64 = 0
        var hard: UInt64 = 0
        guard acsys_raise_open_file_limit(&soft, &hard) == 0 else {
            throw SystemError(
                "setrlimit(RLIMIT_NOFILE)", "to raise the soft limit \(soft) to the hard limit \(hard)")
        }
        return OpenFiles(soft: soft, hard: hard)
    }
}
