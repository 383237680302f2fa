import BillingKafka
import BillingSupport
import Dispatch

/// The relay's Kafka producer, owned by one thread of its own (librdkafka's polls block, and
/// `KafkaProducer` is used from one thread at a time): requests queue up, each round enqueues
/// everything waiting and serves delivery reports until each has its answer or its deadline.
final class RelayProducer: @unchecked Sendable {
    struct Request {
        let message: KafkaOutgoingMessage
        let deadlineMs: Int64
        let answer: @Sendable (KafkaDeliveryResult) -> Void
    }

    private let producer: KafkaProducer
    private let queue = Locked<[Request]>([])
    private let wake = DispatchSemaphore(value: 0)
    private let stopping = Locked(false)
    private var thread: DedicatedThread?

    init(producer: KafkaProducer) {
        self.producer = producer
        thread = DedicatedThread.start(name: "relay-producer") { [self] in run() }
    }

    /// Produces `message` and returns its delivery result once the broker acknowledged it (or it
    /// failed, or `timeoutMs` passed: `.pending`, which the caller treats as not delivered).
    func deliver(_ message: KafkaOutgoingMessage, timeoutMs: Int) async -> KafkaDeliveryResult {
        await withCheckedContinuation { continuation in
            queue.withLock {
                $0.append(
                    Request(
                        message: message, deadlineMs: monotonicMs() + Int64(timeoutMs),
                        answer: { continuation.resume(returning: $0) }))
            }
            wake.signal()
        }
    }

    func isBrokerReachable(timeoutMs: Int32) -> Bool { producer.isBrokerReachable(timeoutMs: timeoutMs) }

    /// Answers what is waiting as not delivered, stops the thread, closes the producer (bounded).
    func close(timeoutMs: Int) {
        stopping.withLock { $0 = true }
        wake.signal()
        _ = thread?.join(timeoutMs: timeoutMs)
        for request in queue.withLock({ taken in defer { taken = [] }; return taken }) { request.answer(.pending) }
        _ = producer.close(timeoutMs: timeoutMs)
    }

    private func run() {
        var inFlight: [(Request, KafkaDeliveryTicket)] = []
        while !stopping.current || !inFlight.isEmpty {
            if inFlight.isEmpty { _ = wake.wait(timeout: .now() + .milliseconds(200)) }
            let waiting = queue.withLock { taken in
                defer { taken = [] }
                return taken
            }
            for request in waiting {
                inFlight.append((request, producer.enqueue(request.message, deadlineMs: request.deadlineMs)))
            }
            guard !inFlight.isEmpty else { continue }
            try? producer.poll(timeoutMs: 20)
            let now = monotonicMs()
            inFlight.removeAll { request, ticket in
                if ticket.isPending, now < request.deadlineMs, !stopping.current { return false }
                request.answer(ticket.result)
                return true
            }
        }
    }
}
