import BillingContracts
import BillingKafka
import BillingPostgres
import BillingSupport
import Logging

/// Everything a worker reads from its environment, validated at start.
///
/// | variable | default | meaning |
/// |---|---|---|
/// | `DATABASE_URL` | required | libpq connection string of this service's own role |
/// | `BILLING_MIGRATION_DATABASE_URL` | `DATABASE_URL` | role that may apply migrations at start |
/// | `BILLING_MIGRATE_ON_START` | `true` | apply pending migrations at start (else only check the version) |
/// | `KAFKA_BOOTSTRAP_SERVERS` | required | brokers; every `KAFKA_*` passes through to librdkafka |
/// | `OPS_HOST` / `OPS_PORT` | `127.0.0.1` / per service | health and metrics endpoint |
/// | `WORKER_TOPICS` | the service's contract | comma-separated topic names to consume (no `^` patterns) |
/// | `BILLING_TOPIC_SUFFIX` | empty | appended to the contract's topic names, consumed and published |
/// | `WORKER_CONSUMER_GROUP` | service name | consumer group id |
/// | `WORKER_INSTANCE_ID` | `<host>-<pid>` | name of this replica in offsets and logs |
/// | `WORKER_CONCURRENCY` | 1 | worker loops in this process, each with its own consumer (same group) and connection |
/// | `WORKER_POLL_BATCH_COUNT_MAX` | 500 (payment-ingest: 4) | messages per batch transaction (1–10000) |
/// | `WORKER_POLL_TIMEOUT_MS` | 100 | wait for a batch's first message (1–5000) |
/// | `WORKER_MESSAGE_BYTES_MAX` | per service (1 MiB) | larger messages are dead-lettered |
/// | `WORKER_RETRY_BACKOFF_INITIAL_MS` / `_MAX_MS` | 100 / 5000 | transient-failure retry bounds |
/// | `WORKER_SHUTDOWN_TIMEOUT_MS` | 10000 | bound on a graceful stop |
/// | `WORKER_STARTUP_TIMEOUT_MS` | 60000 | how long start-up waits for the database |
/// | `OUTBOX_BATCH_COUNT_MAX` | 1000 | events the relay publishes per round (whole rows, at least one) |
/// | `OUTBOX_DELIVERY_TIMEOUT_MS` | 30000 | wait for delivery reports per round |
/// | `OUTBOX_IDLE_WAIT_MS` | 1000 | longest sleep between rounds when idle (NOTIFY wakes it) |
/// | `OUTBOX_RETENTION_HOURS` | 24 | sent rows are purged after this |
/// | `INBOX_RETENTION_DAYS` | 30 | consumed event ids are remembered for deduplication this long |
/// | `LOG_LEVEL` | `info` | trace, debug, info, notice, warn (or warning), error, critical |
/// | `PG_STATEMENT_TIMEOUT_MS` | 30000 | server-side bound on any one statement of the worker's sessions |
/// | `PG_LOCK_TIMEOUT_MS` | 10000 | bound on a wait for a row or table lock |
/// | `PG_IDLE_IN_TRANSACTION_TIMEOUT_MS` | 60000 | a transaction left open this long is ended by the server |
/// | `PG_DEAD_PEER_TIMEOUT_MS` | 30000 | the server ends a session whose client stopped answering (keepalives, `tcp_user_timeout`), releasing its locks |
/// | `WORKER_RECLAIM_AFTER_MS` | 60000 | a partition still assigned by Kafka whose fence another replica took is claimed again after this |
/// | `WORKER_ATTEMPTS_MAX` | 5 | a message failing this many times (crashes included) is dead-lettered with the last error |
/// | `WORKER_STALL_AFTER_MS` | 60000 | a partition with messages waiting and no progress this long is reported stalled |
public struct WorkerConfiguration: Sendable {
    public var service: ServiceDescriptor
    public var databaseURL: String
    public var migrationDatabaseURL: String
    public var migrateOnStart: Bool
    public var kafka: KafkaConfiguration
    public var opsHost: String
    public var opsPort: Int
    public var topics: [String]
    /// Appended to every topic the worker uses by default and every topic it publishes to:
    /// several systems (or tests) sharing one Kafka cluster keep apart.
    public var topicSuffix: String
    public var consumerGroup: String
    public var instanceID: String
    public var concurrency: Int
    public var pollBatchCountMax: Int
    public var pollTimeoutMs: Int
    public var messageBytesMax: Int
    public var retryBackoffInitialMs: Int
    public var retryBackoffMaxMs: Int
    public var shutdownTimeoutMs: Int
    public var startupTimeoutMs: Int
    public var outboxBatchCountMax: Int
    public var outboxDeliveryTimeoutMs: Int
    public var outboxIdleWaitMs: Int
    public var outboxRetentionHours: Int
    public var inboxRetentionDays: Int
    public var logLevel: Logger.Level
    /// `PG_STATEMENT_TIMEOUT_MS`, `PG_LOCK_TIMEOUT_MS`, `PG_IDLE_IN_TRANSACTION_TIMEOUT_MS`,
    /// `PG_DEAD_PEER_TIMEOUT_MS`: bounds on every session of the worker (not on migrations).
    public var sessionLimits: PGSessionLimits
    /// `WORKER_RECLAIM_AFTER_MS`: a partition Kafka still assigns to this worker but whose fence
    /// another replica took is claimed again after this long (a revocation normally comes first).
    public var reclaimAfterMs: Int
    /// `WORKER_ATTEMPTS_MAX`: a message that failed this many times (crashes included) is
    /// dead-lettered with the last error, and its partition moves on.
    public var attemptsMax: Int
    /// `WORKER_STALL_AFTER_MS`: a partition with messages waiting and no progress for this long is
    /// reported stalled (metric and readiness alarm).
    public var stallAfterMs: Int

    /// Defaults that differ per service.
    public struct Defaults: Sendable {
        public var opsPort: Int
        public var messageBytesMax: Int
        /// Messages per batch unless `WORKER_POLL_BATCH_COUNT_MAX` says: fewer for services whose
        /// messages are whole files, so a batch's memory stays bounded.
        public var pollBatchCountMax: Int

        public init(opsPort: Int, messageBytesMax: Int = 1 << 20, pollBatchCountMax: Int = 500) {
            self.opsPort = opsPort
            self.messageBytesMax = messageBytesMax
            self.pollBatchCountMax = pollBatchCountMax
        }
    }

    public init(service: ServiceDescriptor, defaults: Defaults, environment: ProcessEnvironment) throws {
        self.service = service
        databaseURL = try environment.required("DATABASE_URL")
        migrationDatabaseURL = environment.optional("BILLING_MIGRATION_DATABASE_URL") ?? databaseURL
        migrateOnStart = try environment.bool("BILLING_MIGRATE_ON_START", default: true)
        kafka = try KafkaConfiguration.fromEnvironment(environment)
        opsHost = environment.string("OPS_HOST", default: "127.0.0.1")
        opsPort = try environment.int("OPS_PORT", default: defaults.opsPort, range: 0...65535)
        topicSuffix = environment.string("BILLING_TOPIC_SUFFIX", default: "")
        guard topicSuffix.count <= 60,
            topicSuffix.utf8.allSatisfy({ byte in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                    || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: ".")
                    || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
            })
        else {
            throw ConfigurationError(
                variable: "BILLING_TOPIC_SUFFIX", problem: "must be at most 60 letters, digits, '.', '_' or '-'")
        }
        let suffix = topicSuffix
        topics =
            environment.optional("WORKER_TOPICS").map {
                $0.split(separator: ",").map { String($0).trimmedSpaces() }.filter { !$0.isEmpty }
            } ?? service.consumedTopics.map { $0 + suffix }
        if topics.isEmpty {
            throw ConfigurationError(variable: "WORKER_TOPICS", problem: "names no topic")
        }
        // Metrics label messages by topic from this list, so it names topics, not librdkafka patterns.
        if let pattern = topics.first(where: { $0.hasPrefix("^") }) {
            throw ConfigurationError(
                variable: "WORKER_TOPICS", problem: "'\(pattern)' is a pattern; name each topic")
        }
        consumerGroup = environment.string("WORKER_CONSUMER_GROUP", default: service.name)
        instanceID = environment.string("WORKER_INSTANCE_ID", default: "\(hostName())-\(getpid())")
        concurrency = try environment.int("WORKER_CONCURRENCY", default: 1, range: 1...16)
        pollBatchCountMax = try environment.int(
            "WORKER_POLL_BATCH_COUNT_MAX", default: defaults.pollBatchCountMax, range: 1...10_000)
        pollTimeoutMs = try environment.int("WORKER_POLL_TIMEOUT_MS", default: 100, range: 1...5_000)
        messageBytesMax = try environment.int(
            "WORKER_MESSAGE_BYTES_MAX", default: defaults.messageBytesMax, range: 1_024...(256 << 20))
        retryBackoffInitialMs = try environment.int("WORKER_RETRY_BACKOFF_INITIAL_MS", default: 100, range: 1...60_000)
        retryBackoffMaxMs = try environment.int(
            "WORKER_RETRY_BACKOFF_MAX_MS", default: 5_000, range: retryBackoffInitialMs...600_000)
        shutdownTimeoutMs = try environment.int("WORKER_SHUTDOWN_TIMEOUT_MS", default: 10_000, range: 100...300_000)
        startupTimeoutMs = try environment.int("WORKER_STARTUP_TIMEOUT_MS", default: 60_000, range: 1_000...3_600_000)
        outboxBatchCountMax = try environment.int("OUTBOX_BATCH_COUNT_MAX", default: 1_000, range: 1...50_000)
        outboxDeliveryTimeoutMs = try environment.int(
            "OUTBOX_DELIVERY_TIMEOUT_MS", default: 30_000, range: 100...600_000)
        outboxIdleWaitMs = try environment.int("OUTBOX_IDLE_WAIT_MS", default: 1_000, range: 1...60_000)
        outboxRetentionHours = try environment.int("OUTBOX_RETENTION_HOURS", default: 24, range: 1...24 * 365)
        inboxRetentionDays = try environment.int("INBOX_RETENTION_DAYS", default: 30, range: 1...3_650)
        logLevel = try environment.choice("LOG_LEVEL", default: .info, Logger.Level.byName)
        sessionLimits = PGSessionLimits(
            statementTimeoutMs: try environment.int("PG_STATEMENT_TIMEOUT_MS", default: 30_000, range: 100...3_600_000),
            lockTimeoutMs: try environment.int("PG_LOCK_TIMEOUT_MS", default: 10_000, range: 100...3_600_000),
            idleInTransactionTimeoutMs: try environment.int(
                "PG_IDLE_IN_TRANSACTION_TIMEOUT_MS", default: 60_000, range: 1_000...3_600_000),
            deadPeerTimeoutMs: try environment.int("PG_DEAD_PEER_TIMEOUT_MS", default: 30_000, range: 1_000...3_600_000))
        reclaimAfterMs = try environment.int("WORKER_RECLAIM_AFTER_MS", default: 60_000, range: 1_000...3_600_000)
        attemptsMax = try environment.int("WORKER_ATTEMPTS_MAX", default: 5, range: 1...1_000)
        stallAfterMs = try environment.int("WORKER_STALL_AFTER_MS", default: 60_000, range: 1_000...86_400_000)
    }
}

extension String {
    func trimmedSpaces() -> String {
        var text = Substring(self)
        while text.first == " " { text.removeFirst() }
        while text.last == " " { text.removeLast() }
        return String(text)
    }
}

#if canImport(Glibc)
    import Glibc
#endif

func hostName() -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    guard gethostname(&buffer, buffer.count) == 0 else { return "host" }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
