// How long the client waits between attempts to get a batch acknowledged, and when it gives up.

/// Exponential backoff with jitter, bounded by a deadline.
///
/// After the `n`th failed attempt in a row the client waits a random time between half and all of
/// `min(initialBackoff * 2^(n-1), maxBackoff)`, so that a fleet of clients cut off together does not reconnect in
/// lockstep. Once `deadline` has passed since the first failure, the call that was retrying throws
/// `deadlineExceeded`; the unacknowledged batches are kept, and the next call starts retrying again.
public struct RetryPolicy: Hashable, Sendable {
    /// The wait after the first failure (before jitter).
    public var initialBackoff: Duration
    /// The longest wait between two attempts (before jitter).
    public var maxBackoff: Duration
    /// How long one call keeps retrying before it gives up.
    public var deadline: Duration

    /// Creates a policy.
    public init(
        initialBackoff: Duration = .milliseconds(100), maxBackoff: Duration = .seconds(5),
        deadline: Duration = .seconds(60)
    ) {
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.deadline = deadline
    }

    /// The wait after `failures` failed attempts in a row (1 for the first), jittered with `generator`.
    public func backoff<Generator: RandomNumberGenerator>(
        afterFailures failures: Int, using generator: inout Generator
    ) -> Duration {
        let ceiling = backoffCeiling(afterFailures: failures)
        let nanoseconds = nanosecondCount(ceiling)
        guard nanoseconds > 1 else { return ceiling }
        let half = nanoseconds / 2
        return .nanoseconds(half + Int64.random(in: 0...(nanoseconds - half), using: &generator))
    }

    /// The wait after `failures` failed attempts in a row, before jitter: doubled each time, capped.
    public func backoffCeiling(afterFailures failures: Int) -> Duration {
        var ceiling = initialBackoff
        var doublings = max(0, failures - 1)
        while doublings > 0 && ceiling < maxBackoff {
            ceiling *= 2
            doublings -= 1
        }
        return min(ceiling, maxBackoff)
    }
}

/// A duration in whole nanoseconds, clamped to `Int64`.
func nanosecondCount(_ duration: Duration) -> Int64 {
    let (seconds, attoseconds) = duration.components
    let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
    guard !overflow else { return seconds < 0 ? .min : .max }
    return scaled &+ attoseconds / 1_000_000_000
}
