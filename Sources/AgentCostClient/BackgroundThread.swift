// The one file that wraps pthreads: a detached thread for the client's flush timer, and a blocking sleep.

#if canImport(Glibc)
    import Glibc
#endif

/// Starts `body` on a new detached thread.
///
/// - Throws: `SpendClientError` with code `invalidConfiguration` when the system refuses to create a thread.
func startDetachedThread(_ body: @escaping @Sendable () -> Void) throws(SpendClientError) {
    let box = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
    var thread = pthread_t()
    let status = pthread_create(
        &thread, nil,
        { argument in
            let body = Unmanaged<ThreadBody>.fromOpaque(argument!).takeRetainedValue()
            body.run()
            return nil
        }, box)
    guard status == 0 else {
        Unmanaged<ThreadBody>.fromOpaque(box).release()
        throw SpendClientError(
            .invalidConfiguration,
            "cannot start the flush thread: \(String(cString: strerror(status))); raise the process's thread limit "
                + "or set flushInterval to nil")
    }
    pthread_detach(thread)
}

/// Blocks the calling thread for `duration` (no-op for zero or negative durations).
func sleepBlocking(for duration: Duration) {
    let (seconds, attoseconds) = duration.components
    guard seconds > 0 || attoseconds > 0 else { return }
    var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR {
        request = remaining
    }
}

private final class ThreadBody {
    let run: @Sendable () -> Void

    init(_ run: @escaping @Sendable () -> Void) {
        self.run = run
    }
}
