// One target's delivery thread: takes the oldest undelivered event of its target, sends it, and only moves on once
// it is delivered or abandoned, so that each target receives its events in order.

import AgentCostCore
import AgentCostExposition
import AgentCostLog
import AgentCostSystem
import Synchronization

/// The queue and thread of one target.
final class DeliveryWorker: Sendable {
    let target: WebhookTarget
    private let configuration: WebhookConfiguration
    private let outbox: Outbox
    private let counters: WebhookMetrics.Counters
    private let latency: Histogram
    private let logger: Logger
    private let queue = Mutex(PendingQueue())
    private let doorbell: Doorbell
    private let stopping = Atomic<Bool>(false)
    private let thread = Mutex<OSThread?>(nil)

    /// Oldest first; popping advances a head index that is trimmed now and then.
    private struct PendingQueue {
        var items: [OutboxEntry] = []
        var head = 0

        var count: Int { items.count - head }
        var first: OutboxEntry? { head < items.count ? items[head] : nil }

        mutating func append(_ entry: OutboxEntry) {
            items.append(entry)
        }

        mutating func removeFirst() {
            head += 1
            if head == items.count {
                items.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 1024, head * 2 >= items.count {
                items.removeFirst(head)
                head = 0
            }
        }
    }

    init(
        target: WebhookTarget, configuration: WebhookConfiguration, outbox: Outbox, counters: WebhookMetrics.Counters,
        latency: Histogram, logger: Logger
    ) throws(WebhookError) {
        self.target = target
        self.configuration = configuration
        self.outbox = outbox
        self.counters = counters
        self.latency = latency
        self.logger = logger
        doorbell = try Doorbell()
    }

    /// Events waiting for this target, the one in flight included.
    var depth: Int { queue.withLock { $0.count } }

    /// Whether another event fits under `max_queue`.
    var hasRoom: Bool { depth < configuration.maxQueueLength }

    /// Queues an entry and wakes the thread; returns at once.
    func enqueue(_ entry: OutboxEntry) {
        let depth = queue.withLock { queue in
            queue.append(entry)
            return queue.count
        }
        counters.queueDepth.store(depth, ordering: .relaxed)
        doorbell.ring()
    }

    func start() throws(WebhookError) {
        do {
            let started = try OSThread { [self] in run() }
            thread.withLock { $0 = started }
        } catch {
            throw WebhookError(.threadFailed, "cannot start the delivery thread of target \(target.name): \(error)")
        }
    }

    /// Stops the thread after the attempt in flight (at most the request timeout); what is left stays queued in the
    /// outbox for the next start.
    func stop() {
        stopping.store(true, ordering: .releasing)
        doorbell.ring()
        thread.withLock { thread in
            thread?.join()
            thread = nil
        }
    }

    // MARK: The delivery loop

    private enum Outcome {
        case delivered(status: Int)
        /// `retryAfterSeconds`: what the receiver's Retry-After asked for, if anything.
        case retry(WebhookMetrics.FailureReason, detail: String, retryAfterSeconds: Int? = nil)
        case abandon(WebhookMetrics.FailureReason, detail: String)
    }

    private func run() {
        let poster: HTTPPoster
        do {
            poster = try HTTPPoster(
                connectTimeoutSeconds: configuration.connectTimeoutSeconds,
                totalTimeoutSeconds: configuration.requestTimeoutSeconds)
        } catch {
            logger.error("webhook target cannot deliver", ["target": target.name, "error": error])
            return
        }

        // The head entry's failed attempts so far, and when it may be tried again (monotonic seconds).
        var attempts = 0
        var retryAt = 0.0
        while !stopping.load(ordering: .acquiring) {
            guard let entry = queue.withLock({ $0.first }) else {
                doorbell.wait(seconds: 60)
                continue
            }
            let now = Clock.monotonicSeconds()
            if now < retryAt {
                doorbell.wait(seconds: retryAt - now)
                continue
            }

            // Too old: give up without another attempt.
            let ageSeconds = Double(Clock.realTimeNanoseconds() - entry.createdAtNanoseconds) / 1e9
            if ageSeconds > configuration.maxAgeSeconds {
                abandon(entry, reason: "older than max_age", attempts: attempts)
                (attempts, retryAt) = (0, 0)
                continue
            }

            // One attempt.
            attempts += 1
            switch send(entry, with: poster) {
            case .delivered(let status):
                finishDelivered(entry, status: status, attempts: attempts)
                (attempts, retryAt) = (0, 0)
            case .abandon(let reason, let detail):
                counters.fail(reason)
                abandon(entry, reason: "\(reason.rawValue): \(detail); not retried", attempts: attempts)
                (attempts, retryAt) = (0, 0)
            case .retry(let reason, let detail, let retryAfterSeconds):
                counters.fail(reason)
                guard attempts < configuration.maxAttempts else {
                    abandon(entry, reason: "\(reason.rawValue): \(detail); max_attempts reached", attempts: attempts)
                    (attempts, retryAt) = (0, 0)
                    continue
                }
                let delay = delay(afterAttempts: attempts, retryAfterSeconds: retryAfterSeconds)
                retryAt = Clock.monotonicSeconds() + delay
                counters.retries.add(1, ordering: .relaxed)
                let nextRetry = Timestamp(nanosecondsSinceEpoch: Clock.realTimeNanoseconds())
                    .advanced(bySeconds: delay)
                logger.warn(
                    "webhook delivery failed; will retry",
                    [
                        "target": target.name, "event_id": entry.eventID, "event": entry.eventType,
                        "reason": reason.rawValue, "detail": detail, "attempt": attempts, "next_retry": nextRetry,
                    ])
            }
        }
    }

    private func send(_ entry: OutboxEntry, with poster: HTTPPoster) -> Outcome {
        let headers = WebhookPayload.headers(
            for: entry, target: target, unixSeconds: Clock.realTimeNanoseconds() / 1_000_000_000)
        switch poster.post(url: target.url + entry.path, headers: headers, body: entry.body) {
        case .success(let response):
            let status = response.status
            let retryAfter = response.retryAfterSeconds
            let asked = retryAfter.map { "; Retry-After \($0)s" } ?? ""
            switch status {
            case 200...299: return .delivered(status: status)
            case 429: return .retry(.http429, detail: "status 429\(asked)", retryAfterSeconds: retryAfter)
            case 500...599: return .retry(.http5xx, detail: "status \(status)\(asked)", retryAfterSeconds: retryAfter)
            case 400...499: return .abandon(.http4xx, detail: "status \(status)")
            default: return .abandon(.httpOther, detail: "status \(status)")
            }
        case .failure(let error):
            switch error.code {
            case .timeout: return .retry(.timeout, detail: error.message)
            case .invalidRequest: return .abandon(.invalidRequest, detail: error.message)
            default: return .retry(.connection, detail: error.message)
            }
        }
    }

    /// The wait before the next attempt: the backoff, or longer when the receiver's Retry-After asks for it (never
    /// past `max_backoff`, so that a receiver cannot park an event beyond the operator's limit).
    private func delay(afterAttempts attempts: Int, retryAfterSeconds: Int?) -> Double {
        let backoff = backoff(afterAttempts: attempts)
        guard let retryAfterSeconds else { return backoff }
        return max(backoff, min(Double(retryAfterSeconds), configuration.maxBackoffSeconds))
    }

    /// Exponential backoff with jitter: the base doubles per failure up to `max_backoff`, and the wait is a random
    /// point between half the base and the whole of it, so that many exporters do not retry in step.
    private func backoff(afterAttempts attempts: Int) -> Double {
        let base = min(
            configuration.maxBackoffSeconds,
            configuration.initialBackoffSeconds * Double(1 << min(attempts - 1, 40)))
        return base * Double.random(in: 0.5...1.0)
    }

    private func finishDelivered(_ entry: OutboxEntry, status: Int, attempts: Int) {
        outbox.finish(entry.sequence, delivered: true)
        pop()
        counters.delivered.add(1, ordering: .relaxed)
        let seconds = Double(Clock.realTimeNanoseconds() - entry.createdAtNanoseconds) / 1e9
        latency.observe(max(0, seconds))
        logger.debug(
            "webhook delivered",
            [
                "target": target.name, "event_id": entry.eventID, "event": entry.eventType, "status": status,
                "attempts": attempts,
            ])
    }

    private func abandon(_ entry: OutboxEntry, reason: String, attempts: Int) {
        outbox.finish(entry.sequence, delivered: false)
        pop()
        counters.abandoned.add(1, ordering: .relaxed)
        logger.warn(
            "webhook delivery abandoned",
            [
                "target": target.name, "event_id": entry.eventID, "event": entry.eventType, "reason": reason,
                "attempts": attempts,
            ])
    }

    private func pop() {
        let depth = queue.withLock { queue in
            queue.removeFirst()
            return queue.count
        }
        counters.queueDepth.store(depth, ordering: .relaxed)
    }
}
