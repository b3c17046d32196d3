/// The latest `limit` values appended, oldest overwritten first.
///
/// Storage grows on demand (never past `limit`), so that an agent with two cycles pays for two, and one with a
/// full history pays for exactly `limit` rather than the next power of two.
struct BoundedRing<Element> {
    private var storage: [Element] = []
    /// Where the next value goes once the ring is full; also the position of the oldest value.
    private var next = 0
    let limit: Int

    init(limit: Int) {
        self.limit = limit
    }

    var count: Int { storage.count }
    var isEmpty: Bool { storage.isEmpty }

    /// Appends `value`, returning the value it displaced when the ring was full.
    @discardableResult
    mutating func append(_ value: Element) -> Element? {
        if storage.count < limit {
            if storage.count == storage.capacity {
                storage.reserveCapacity(min(limit, max(2, storage.count * 2)))
            }
            storage.append(value)
            return nil
        }
        let displaced = storage[next]
        storage[next] = value
        next = (next + 1) % limit
        return displaced
    }

    /// The newest value, if any.
    var newest: Element? {
        guard !storage.isEmpty else { return nil }
        return storage.count < limit ? storage.last : storage[(next + limit - 1) % limit]
    }

    /// The values from newest to oldest, at most `maximum` of them.
    func newestFirst(maximum: Int) -> [Element] {
        let wanted = min(maximum, storage.count)
        var result: [Element] = []
        result.reserveCapacity(wanted)
        let newestIndex = storage.count < limit ? storage.count - 1 : (next + limit - 1) % limit
        for offset in 0..<wanted {
            result.append(storage[(newestIndex - offset + storage.count) % storage.count])
        }
        return result
    }
}

extension BoundedRing: Sendable where Element: Sendable {}
