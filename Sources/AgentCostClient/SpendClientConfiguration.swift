// Everything a SpendClient needs to know: where to send, as whom, and how to batch, pipeline and retry.

import AgentCostLog
import AgentCostWire

/// The settings of a `SpendClient`; only the address and the producer id have no default.
public struct SpendClientConfiguration: Sendable {
    /// The ingest server.
    public var address: ServerAddress
    /// The sender's stable identity: keep it across restarts, and never share it between concurrent senders.
    public var producerID: String
    /// When set, every connection opens with a hello carrying this token (use `""` for a server without one).
    public var token: String?
    /// Sent in the hello, for the server's logs.
    public var clientVersion: String
    /// A batch is cut when it holds this many events.
    public var maxBatchEvents: Int
    /// A batch is cut when its oldest event has waited this long; `nil` to cut only on size and `flush()`.
    public var flushInterval: Duration?
    /// The zlib level for batches (0...9), or `nil` to send them uncompressed.
    public var compressionLevel: Int?
    /// How many batches may be sent before the first of them is acknowledged.
    public var maxUnackedBatches: Int
    /// The sequence of the first batch; continue from the last one a previous run used (plus one).
    public var firstSequence: UInt64
    /// How long one connection attempt may take.
    public var connectTimeout: Duration
    /// How long the client waits for an ack (or for the server to take a write) before it reconnects.
    public var ackTimeout: Duration
    /// Backoff and deadline for retrying failed connections and `RETRY_LATER` answers.
    public var retry: RetryPolicy
    /// The limits acks from the server are checked against.
    public var limits: WireLimits
    /// Receives reconnects and rejected batches; `nil` for silence.
    public var logger: Logger?
    /// Called with every ack (OK or REJECTED) as it arrives, on the thread that read it, while the client is
    /// locked: it must not call the client. An ack the server sent with sequence 0 (it could not read the batch)
    /// carries the sequence of the batch it answers.
    public var onAck: (@Sendable (Ack) -> Void)?

    /// Creates a configuration with the defaults: no hello, 1,000 events or 1 second per batch,
    /// zlib level 6, 4 batches in flight, sequences from 1, 5 s to connect, 10 s for an ack, retries for 60 s.
    public init(address: ServerAddress, producerID: String) {
        self.address = address
        self.producerID = producerID
        self.token = nil
        self.clientVersion = "agentcost-swift/0.1.0"
        self.maxBatchEvents = 1000
        self.flushInterval = .seconds(1)
        self.compressionLevel = 6
        self.maxUnackedBatches = 4
        self.firstSequence = 1
        self.connectTimeout = .seconds(5)
        self.ackTimeout = .seconds(10)
        self.retry = RetryPolicy()
        self.limits = .default
        self.logger = nil
        self.onAck = nil
    }

    /// Checks the values the assembler does not.
    ///
    /// - Throws: `SpendClientError` with code `invalidConfiguration` naming the setting and its valid range.
    func validate() throws(SpendClientError) {
        if let compressionLevel, !(0...9).contains(compressionLevel) {
            throw SpendClientError(
                .invalidConfiguration, "compression level \(compressionLevel) is outside 0...9; 6 is a good default")
        }
        guard maxUnackedBatches >= 1 else {
            throw SpendClientError(
                .invalidConfiguration,
                "max unacked batches \(maxUnackedBatches) is below 1; use 1 (no pipelining) or more")
        }
        guard connectTimeout > .zero, ackTimeout > .zero else {
            throw SpendClientError(
                .invalidConfiguration,
                "timeouts must be positive (connect \(connectTimeout), ack \(ackTimeout)); use a few seconds")
        }
        guard retry.initialBackoff > .zero, retry.maxBackoff >= retry.initialBackoff, retry.deadline >= .zero else {
            throw SpendClientError(
                .invalidConfiguration,
                "retry policy needs 0 < initial backoff (\(retry.initialBackoff)) <= max backoff (\(retry.maxBackoff)) "
                    + "and a deadline of 0 or more (\(retry.deadline))")
        }
    }
}
