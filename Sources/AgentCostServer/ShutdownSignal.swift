#if canImport(Glibc)
    import Glibc
#endif

/// Waits for SIGTERM or SIGINT.
///
/// The signals are blocked in every thread (call `block()` before starting any), and one thread takes them with
/// `sigwait`, so a shutdown request is an ordinary return value rather than code running inside a signal handler.
public enum ShutdownSignal {
    /// Blocks SIGTERM and SIGINT in the calling thread and every thread it starts afterwards.
    public static func block() {
        var set = signalSet()
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Waits until SIGTERM or SIGINT arrives and returns its name.
    public static func wait() -> String {
        var set = signalSet()
        var received: Int32 = 0
        while sigwait(&set, &received) != 0 {}
        return received == SIGTERM ? "SIGTERM" : "SIGINT"
    }

    private static func signalSet() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        return set
    }
}
