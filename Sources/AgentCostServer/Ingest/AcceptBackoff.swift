/// What an ingest loop does when `accept` fails, typically with EMFILE or ENFILE (out of file descriptors).
///
/// The failed connection stays in the listen backlog, so the listening socket stays readable: a loop that went on
/// watching it would wake at once, fail again and log again, spinning a core. Instead the loop stops watching the
/// listener for `pauseSeconds` (connections wait in the backlog meanwhile, or time out there) and logs through a
/// throttle. Time is passed in (monotonic seconds).
struct AcceptBackoff {
    /// How long the listener is left unwatched after a failed accept.
    static let pauseSeconds = 0.1

    /// When to watch the listener again; nil while it is watched.
    private(set) var resumeAt: Double?
    private var log: LogThrottle

    init(logIntervalSeconds: Double = 1) {
        log = LogThrottle(intervalSeconds: logIntervalSeconds)
    }

    /// Records a failed accept at `now`; the listener is to be unwatched until `resumeAt`.
    ///
    /// - Returns: the failures not logged since the last line when this one is to be logged; nil to stay silent.
    mutating func failed(now: Double) -> Int? {
        resumeAt = now + Self.pauseSeconds
        return log.admit(now: now)
    }

    /// Whether the pause is over at `now`; if so the listener is to be watched again, and the pause ends.
    mutating func resumeIfDue(now: Double) -> Bool {
        guard let resumeAt, now >= resumeAt else { return false }
        self.resumeAt = nil
        return true
    }

    /// How long the loop may wait for readiness at `now`: `longest`, or less so that it wakes when the pause ends.
    func waitMilliseconds(now: Double, longest: Int32) -> Int32 {
        guard let resumeAt else { return longest }
        let remaining = ((resumeAt - now) * 1000).rounded(.up)
        return Int32(max(0, min(Double(longest), remaining)))
    }
}
