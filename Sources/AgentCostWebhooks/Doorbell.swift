// How an ingest thread wakes a delivery thread at once: an eventfd rung by the enqueue, waited on with a timeout
// (the next retry time) by the delivery thread. No polling interval stands between a pause and its webhook.

import AgentCostSystem

#if canImport(Glibc)
    import Glibc
#endif

/// A wakeup that can be rung from any thread and waited for, with a timeout, by one thread.
final class Doorbell: Sendable {
    private let wakeup: Wakeup

    init() throws(WebhookError) {
        do {
            wakeup = try Wakeup()
        } catch {
            throw WebhookError(.threadFailed, "cannot create the delivery thread's wakeup: \(error)")
        }
    }

    deinit {
        wakeup.close()
    }

    /// Wakes the waiting thread (or makes its next wait return at once).
    func ring() {
        wakeup.signal()
    }

    /// Blocks until rung or until `seconds` pass (at most a minute at a time), then clears the bell.
    func wait(seconds: Double) {
        let milliseconds = Int32(max(0, min(60_000, (seconds * 1000).rounded(.up))))
        var poller = pollfd(fd: wakeup.descriptor, events: Int16(POLLIN), revents: 0)
        var result: Int32
        repeat {
            result = poll(&poller, 1, milliseconds)
        } while result < 0 && errno == EINTR
        if result > 0 {
            wakeup.drain()
        }
    }
}
