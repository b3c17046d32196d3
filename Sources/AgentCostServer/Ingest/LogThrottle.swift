/// Lets at most one log line through per interval and counts the lines it held back, so that a client sending bad
/// input in a tight loop costs one line per interval, which says how many were suppressed before it.
///
/// Time is passed in (monotonic seconds), so that the rule can be tested without waiting.
struct LogThrottle {
    let intervalSeconds: Double
    private var nextAllowed = -Double.infinity
    /// Lines held back since the last one let through.
    private(set) var suppressed = 0

    init(intervalSeconds: Double) {
        self.intervalSeconds = intervalSeconds
    }

    /// Whether a line may be logged at `now`.
    ///
    /// - Returns: the number of lines suppressed before this one (to log with it), or nil when this line is to be
    ///   suppressed too.
    mutating func admit(now: Double) -> Int? {
        guard now >= nextAllowed else {
            suppressed += 1
            return nil
        }
        nextAllowed = now + intervalSeconds
        defer { suppressed = 0 }
        return suppressed
    }
}
