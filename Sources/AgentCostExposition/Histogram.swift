import Synchronization

/// A fleet-wide histogram with fixed bucket bounds, observed from many threads without a lock.
public final class Histogram: Sendable {
    /// Upper bounds of the buckets, ascending; `+Inf` is implied.
    public let bounds: [Double]
    private let buckets: [Counter]
    private let total = Atomic<UInt64>(0)
    /// The sum, in units of `1 / sumScale` (nano-dollars, nanoseconds), so that it adds exactly.
    private let scaledSum = Atomic<Int64>(0)
    private let sumScale: Double

    private final class Counter: Sendable {
        let value = Atomic<UInt64>(0)
    }

    /// - Parameters:
    ///   - bounds: bucket upper bounds, ascending.
    ///   - sumScale: observations are summed as whole multiples of `1 / sumScale`.
    public init(bounds: [Double], sumScale: Double) {
        self.bounds = bounds
        self.buckets = bounds.map { _ in Counter() }
        self.sumScale = sumScale
    }

    public func observe(_ value: Double) {
        if let index = bounds.firstIndex(where: { value <= $0 }) {
            buckets[index].value.add(1, ordering: .relaxed)
        }
        total.add(1, ordering: .relaxed)
        scaledSum.add(Int64((value * sumScale).rounded()), ordering: .relaxed)
    }

    /// Cumulative bucket counts, the count and the sum, as the exposition formats want them.
    public func snapshot() -> (cumulativeCounts: [UInt64], count: UInt64, sum: Double) {
        var running: UInt64 = 0
        var cumulative: [UInt64] = []
        cumulative.reserveCapacity(buckets.count)
        for bucket in buckets {
            running += bucket.value.load(ordering: .relaxed)
            cumulative.append(running)
        }
        let count = max(running, total.load(ordering: .relaxed))
        return (cumulative, count, Double(scaledSum.load(ordering: .relaxed)) / sumScale)
    }
}
