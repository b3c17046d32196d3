import Testing

@testable import AgentCostServer

@Suite("Throttled warnings and the accept backoff")
struct IngestThrottleTests {
    @Test("a throttle lets one line through per interval and reports how many it held back")
    func logThrottle() {
        var throttle = LogThrottle(intervalSeconds: 1)
        var admitted: [Int?] = []
        for now in [10.0, 10.2, 10.9] {
            admitted.append(throttle.admit(now: now))
        }
        #expect(admitted == [0, nil, nil])
        #expect(throttle.suppressed == 2)

        admitted = []
        for now in [11.0, 11.5, 30, 31] {
            admitted.append(throttle.admit(now: now))
        }
        #expect(admitted == [2, nil, 1, 0])
        #expect(throttle.suppressed == 0)
    }

    @Test("after a failed accept the listener is unwatched for 100 ms, and the failures are logged once a second")
    func acceptBackoff() {
        var backoff = AcceptBackoff()
        #expect(backoff.resumeAt == nil)
        #expect(backoff.waitMilliseconds(now: 5, longest: 250) == 250)

        // The first failure is logged and pauses accepting until 100 ms later; the loop waits no longer than that.
        let first = backoff.failed(now: 5.0)
        #expect(first == 0)
        #expect(backoff.resumeAt == 5.1)
        #expect(backoff.waitMilliseconds(now: 5.0, longest: 250) == 100)
        #expect((40...41).contains(backoff.waitMilliseconds(now: 5.06, longest: 250)))
        #expect(backoff.waitMilliseconds(now: 5.06, longest: 10) == 10)
        let early = backoff.resumeIfDue(now: 5.05)
        let due = backoff.resumeIfDue(now: 5.1)
        let again = backoff.resumeIfDue(now: 5.2)
        #expect(!early && due && !again)
        #expect(backoff.resumeAt == nil)

        // Failing again at every resume, checked every 10 ms for 2.4 s: at most ten tries a second, and one log
        // line a second (at 6.0 s and 7.0 s) naming the failures it skipped.
        var logged: [Int] = []
        var tries = 0
        for milliseconds in stride(from: 5100, to: 7500, by: 10) {
            let now = Double(milliseconds) / 1000
            if backoff.resumeIfDue(now: now) || backoff.resumeAt == nil {
                tries += 1
                if let suppressed = backoff.failed(now: now) { logged.append(suppressed) }
            }
        }
        #expect((20...24).contains(tries), "\(tries) accept attempts in 2.4 s")
        #expect(logged.count == 2 && logged.allSatisfy { (8...9).contains($0) }, "\(logged)")
        let resumeAt = backoff.resumeAt ?? 0
        #expect(backoff.waitMilliseconds(now: resumeAt + 1, longest: 250) == 0)
    }
}
