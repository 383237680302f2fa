import BillingContracts
import BillingDomain
import BillingKafka
import BillingPostgres
import BillingSupport
import Logging

/// A message that passed `decode`, with its payload and the id used to deduplicate it.
public struct DecodedMessage<Payload: Sendable>: Sendable {
    public let message: KafkaMessage
    /// The message's own identity (CloudEvents `ce_id`); the runtime applies each id once.
    /// `nil` for raw inputs, which handlers deduplicate by business identity.
    public let eventID: String?
    public let payload: Payload
}

/// A handler signals a poison message inside `apply` by throwing this with the message's index
/// in the batch it was given; the runtime rolls back, dead-letters that message, and retries the rest.
public enum BatchFailure: Error {
    case rejected(index: Int, MessageRejection)
}

/// The business logic of one worker.
///
/// `decode` is pure (no I/O): it validates one message and says what it means. `apply` runs inside
/// the batch's PostgreSQL transaction, which also records the consumed offsets and the outbox rows,
/// so whatever it writes commits exactly when the offsets do. It must be idempotent with respect to
/// the business identity of raw inputs (the runtime already deduplicates offsets and event ids).
public protocol WorkerHandler: Sendable {
    associatedtype Payload: Sendable

    func decode(_ message: KafkaMessage) throws(MessageRejection) -> (eventID: String?, payload: Payload)

    func apply(_ batch: [DecodedMessage<Payload>], in context: BatchContext) throws

    /// Reads and locks that can travel in the batch's first round trip, right after BEGIN and the
    /// offset fence: statements built from the decoded messages alone, so a batch spends no round
    /// trip of its own on them. They see every message of the poll, including those the inbox then
    /// finds already applied, so they must ask for a superset of what `apply` needs. `apply` finds
    /// their results in `context.opened`; nil (the default) when the handler has none for this
    /// batch. Not used while messages are applied one at a time.
    func opening(_ batch: [DecodedMessage<Payload>]) -> BatchOpening?

    /// The handler's own metric families (counted through `BatchContext.count`), declared at
    /// start beside the runtime's. None by default.
    static var metricFamilies: [MetricFamily] { get }
}

extension WorkerHandler {
    public func opening(_ batch: [DecodedMessage<Payload>]) -> BatchOpening? { nil }
    public static var metricFamilies: [MetricFamily] { [] }
}

/// Statements for a batch's first round trip, and the handler's own note of what they ask.
public struct BatchOpening: @unchecked Sendable {
    public let statements: [PGStatement]
    /// Whatever the handler needs to read the results (handed back unchanged).
    public let plan: Any

    public init(statements: [PGStatement], plan: Any) {
        self.statements = statements
        self.plan = plan
    }
}

/// A batch opening after its round trip: the plan and one result per statement.
public struct OpenedBatch: @unchecked Sendable {
    public let plan: Any
    public let results: [PGRows]
}

/// What a handler may do inside the batch transaction besides its own SQL.
///
/// - Important: Valid only during `apply`, on the worker thread.
public final class BatchContext: @unchecked Sendable {
    public let connection: PGConnection
    public let service: ServiceDescriptor
    public let logger: Logger
    /// Appended to every topic published to (`BILLING_TOPIC_SUFFIX`).
    public let topicSuffix: String
    /// The results of the handler's `opening` statements, when the first round trip carried them.
    public internal(set) var opened: OpenedBatch?
    var outbox: [OutboxEntry] = []
    var deferred: [PGStatement] = []
    var counts: [Count] = []

    struct Count {
        let name: String
        let labels: [(String, String)]
        let amount: Int64
    }

    /// The log generation each partition of the batch is read in (see `PartitionOwnership`).
    let generations: [TopicPartition: Int64]
    /// The batch's messages, for `eventBody`.
    let messages: [KafkaMessage]
    private var bodies: [String: [UInt8]]?

    init(
        connection: PGConnection, service: ServiceDescriptor, logger: Logger, topicSuffix: String = "",
        generations: [TopicPartition: Int64] = [:], messages: [KafkaMessage] = []
    ) {
        self.connection = connection
        self.service = service
        self.logger = logger
        self.topicSuffix = topicSuffix
        self.generations = generations
        self.messages = messages
    }

    /// The value (a CloudEvent's data) of the batch's message whose `ce_id` is `id`; the first one
    /// when several carry it.
    public func eventBody(_ id: String) -> [UInt8]? {
        if bodies == nil {
            var found: [String: [UInt8]] = [:]
            for message in messages {
                if let eventID = message.headers.text("ce_id"), found[eventID] == nil { found[eventID] = message.value }
            }
            bodies = found
        }
        return bodies?[id]
    }

    /// Where a message was read, as records keep it: a log that started over is a new generation,
    /// so `(topic, partition, generation, offset)` names one message even across restarts.
    public func logGeneration(topic: String, partition: Int32) -> Int64 {
        generations[TopicPartition(topic: topic, partition: partition)] ?? 0
    }

    /// How much of the outbox, the deferred statements and the counts one message has added to.
    struct Mark {
        let outbox: Int
        let deferred: Int
        let counts: Int
    }

    func mark() -> Mark { Mark(outbox: outbox.count, deferred: deferred.count, counts: counts.count) }

    /// Forgets what was added since `mark` (its message was rolled back to a savepoint).
    func rollBack(to mark: Mark) {
        outbox.removeSubrange(mark.outbox...)
        deferred.removeSubrange(mark.deferred...)
        counts.removeSubrange(mark.counts...)
    }

    /// The deferred statements so far, to run now; they are no longer run before COMMIT.
    func takeDeferred() -> [PGStatement] {
        defer { deferred = [] }
        return deferred
    }

    /// Publishes `event` on `topic` (with the configured suffix) after COMMIT, through the outbox
    /// (ordered by key).
    public func publish(topic: String, key: String?, event: CloudEvent) {
        outbox.append(
            OutboxEntry(
                message: KafkaOutgoingMessage(topic: topic + topicSuffix, key: key, event: event), eventID: event.id))
    }

    /// Publishes what a service's decisions said to publish, in order: each a CloudEvent with its
    /// given id or a fresh one, the service's source and one time for the batch (when it decided them).
    public func publish(_ events: [OutgoingEvent]) {
        guard !events.isEmpty else { return }
        let time = UTCClock.timestamp()
        let source = service.eventSource
        for event in events {
            publish(
                topic: event.topic, key: event.key,
                event: CloudEvent(
                    id: event.id ?? CloudEvent.newID(), type: event.type, source: source, time: time, data: event.data))
        }
    }

    /// The UTC day the batch runs on: the day commands post on when they name none.
    public var today: LocalDate { LocalDate(daysSinceEpoch: Int(wallClockMs() / 86_400_000)) }

    /// Adds to a counter of the worker's metrics once the batch has committed (not if it rolls back).
    /// The counter and its labels must be among the handler's `metricFamilies`.
    public func count(_ family: MetricFamily, labels: [(String, String)] = [], by amount: Int64 = 1) {
        counts.append(Count(name: family.name, labels: labels, amount: amount))
    }

    /// Runs `statement` in the batch's final round trip, just before COMMIT (no result is returned).
    public func deferStatement(_ statement: PGStatement) {
        deferred.append(statement)
    }
}

struct OutboxEntry: Sendable {
    let message: KafkaOutgoingMessage
    let eventID: String?
}
