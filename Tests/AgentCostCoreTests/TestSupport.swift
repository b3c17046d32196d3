import AgentCostCore
import Synchronization

/// Collects the events a tracker or goal service emits, for tests to inspect.
final class EventLog: Sendable {
    private let storage = Mutex<[TrackerEvent]>([])

    var events: [TrackerEvent] { storage.withLock { $0 } }

    var handler: @Sendable (TrackerEvent) -> Void {
        { event in self.storage.withLock { $0.append(event) } }
    }

    var pauses: [PauseNotice] {
        events.compactMap { if case .paused(let notice) = $0 { notice } else { nil } }
    }

    var resumes: [ResumeNotice] {
        events.compactMap { if case .resumed(let notice) = $0 { notice } else { nil } }
    }

    var warnings: [BudgetNotice] {
        events.compactMap { if case .budgetWarning(let notice) = $0 { notice } else { nil } }
    }
}

/// A fixed point in time (2026-12-03T12:00:00Z) and offsets from it, so tests never read the clock.
let noon = Timestamp(secondsSinceEpoch: 1_796_299_200)

func at(_ seconds: Double) -> Timestamp {
    noon.advanced(bySeconds: seconds)
}

/// Dollars as exact money, for expectations.
func usd(_ text: String) -> Money {
    let parts = text.split(separator: ".", omittingEmptySubsequences: false)
    let whole = Int64(parts[0])!
    var fraction = parts.count > 1 ? String(parts[1]) : ""
    fraction += String(repeating: "0", count: 9 - fraction.count)
    return Money(nanos: whole * Money.nanosPerDollar + Int64(fraction)!)
}

/// A small deterministic random generator (SplitMix64), so property tests replay the same sequences.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
