import Synchronization

/// The highest batch sequence applied for each producer: what makes delivery exactly-once.
///
/// A batch is applied while its producer's entry is locked, so two connections re-sending the same batch at the
/// same moment cannot both apply it. Producers are spread over shards so that unrelated producers do not wait.
final class ProducerLedger: Sendable {
    private let shards: [Shard]

    private final class Shard: Sendable {
        let sequences = Mutex<[String: UInt64]>([:])
    }

    init(shardCount: Int = 32) {
        shards = (0..<max(1, shardCount)).map { _ in Shard() }
    }

    /// Runs `body` with the producer's highest applied sequence (0 when none), under the producer's lock; `body`
    /// returns the result and the new highest sequence.
    func withProducer<Result: Sendable>(
        _ producerID: String,
        _ body: (_ lastApplied: UInt64) -> (Result, newLastApplied: UInt64)
    ) -> Result {
        let shard = shards[Int(UInt(bitPattern: producerID.hashValue) % UInt(shards.count))]
        return shard.sequences.withLock { sequences in
            let (result, newLast) = body(sequences[producerID] ?? 0)
            if newLast > 0 {
                sequences[producerID] = newLast
            }
            return result
        }
    }

    /// Sets producers' highest applied sequences, from a snapshot.
    func restore(_ sequences: [String: UInt64]) {
        for (producerID, sequence) in sequences {
            withProducer(producerID) { _ in ((), sequence) }
        }
    }

    /// The highest applied sequence of every producer, for snapshots and tests.
    func snapshot() -> [String: UInt64] {
        var result: [String: UInt64] = [:]
        for shard in shards {
            shard.sequences.withLock { result.merge($0) { _, new in new } }
        }
        return result
    }
}
