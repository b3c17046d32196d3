import Synchronization

/// The ingest server's own counters: what arrived, what was applied or rejected and why.
///
/// Hot counters are atomics; counters labelled by a reason (rare, error paths) sit behind a lock. The `/metrics`
/// endpoint reads them with `snapshot()`.
public final class IngestMetrics: Sendable {
    let framesOK = Atomic<UInt64>(0)
    let framesDuplicate = Atomic<UInt64>(0)
    let eventsApplied = Atomic<UInt64>(0)
    let bytesReceived = Atomic<UInt64>(0)
    let bytesInflated = Atomic<UInt64>(0)
    let connectionsAccepted = Atomic<UInt64>(0)
    let connectionsOpen = Atomic<Int>(0)
    let decodeNanoseconds = Atomic<UInt64>(0)
    private let framesRejectedByReason = Mutex<[String: UInt64]>([:])
    private let eventsRejectedByReason = Mutex<[String: UInt64]>([:])
    private let connectionsClosedByReason = Mutex<[String: UInt64]>([:])

    public init() {}

    func frameRejected(_ reason: String) {
        framesRejectedByReason.withLock { $0[reason, default: 0] += 1 }
    }

    func eventsRejected(_ reasons: some Sequence<String>) {
        eventsRejectedByReason.withLock { counts in
            for reason in reasons { counts[reason, default: 0] += 1 }
        }
    }

    func connectionClosed(_ reason: String) {
        connectionsClosedByReason.withLock { $0[reason, default: 0] += 1 }
    }

    /// A consistent-enough copy of every counter.
    public struct Snapshot: Sendable, Equatable {
        public var framesOK: UInt64
        public var framesDuplicate: UInt64
        public var framesRejected: [String: UInt64]
        public var eventsApplied: UInt64
        public var eventsRejected: [String: UInt64]
        public var bytesReceived: UInt64
        public var bytesInflated: UInt64
        public var connectionsAccepted: UInt64
        public var connectionsOpen: Int
        public var connectionsClosed: [String: UInt64]
        public var decodeSeconds: Double
    }

    public func snapshot() -> Snapshot {
        Snapshot(
            framesOK: framesOK.load(ordering: .relaxed),
            framesDuplicate: framesDuplicate.load(ordering: .relaxed),
            framesRejected: framesRejectedByReason.withLock { $0 },
            eventsApplied: eventsApplied.load(ordering: .relaxed),
            eventsRejected: eventsRejectedByReason.withLock { $0 },
            bytesReceived: bytesReceived.load(ordering: .relaxed),
            bytesInflated: bytesInflated.load(ordering: .relaxed),
            connectionsAccepted: connectionsAccepted.load(ordering: .relaxed),
            connectionsOpen: connectionsOpen.load(ordering: .relaxed),
            connectionsClosed: connectionsClosedByReason.withLock { $0 },
            decodeSeconds: Double(decodeNanoseconds.load(ordering: .relaxed)) / 1e9
        )
    }
}
