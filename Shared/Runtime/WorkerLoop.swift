import BillingContracts
import BillingKafka
import BillingPostgres
import BillingSupport

/// A partition this replica owns, as recorded (and fenced) in PostgreSQL.
struct PartitionOwnership: Sendable {
    var epoch: Int64
    var nextOffset: Int64
}

/// A jump in a partition's offsets: messages that can no longer be read, recorded in `offset_gaps`.
struct OffsetGap: Sendable {
    let partition: TopicPartition
    let expected: Int64
    let resumed: Int64
    let detail: String
}

/// The batch has partitions whose ownership moved to another replica since we claimed them.
struct FencedOut: Error {
    let partitions: [TopicPartition]
}

/// Consume → one transaction (fenced offsets, inbox, handler, outbox, dead letters) → COMMIT →
/// store offsets in Kafka. Everything runs on one dedicated thread, including rebalance callbacks.
///
/// - Important: Single-threaded by design: the consumer's rebalance handlers run inside `poll`
///   on the same thread, so ownership state needs no lock, except the copy the metrics read.
final class WorkerLoop<Handler: WorkerHandler>: @unchecked Sendable {
    let configuration: WorkerConfiguration
    let handler: Handler
    let metrics: Metrics
    let logger: Logger
    let stop: Locked<Bool>
    let database: PGClient
    private let schema: String
    private var owned: [TopicPartition: PartitionOwnership] = [:]
    /// Next offsets for the lag gauge, read by the metrics thread.
    let progress = Locked<[TopicPartition: Int64]>([:])
    private(set) var consumer: KafkaConsumer!
    /// Where committed outbox rows go to this process's relay (see `OutboxHandoff`).
    private let handoff: OutboxHandoff

    init(
        configuration: WorkerConfiguration, handler: Handler, metrics: Metrics, logger: Logger, stop: Locked<Bool>,
        handoff: OutboxHandoff
    ) {
        self.configuration = configuration
        self.handoff = handoff
        self.handler = handler
        self.metrics = metrics
        self.logger = logger
        self.stop = stop
        self.schema = configuration.service.schema
        self.database = PGClient(
            conninfo: configuration.databaseURL, applicationName: "\(configuration.service.name)-worker")
    }

    func makeConsumer() throws {
        consumer = try KafkaConsumer(
            configuration: configuration.kafka, groupID: configuration.consumerGroup,
            handlers: KafkaRebalanceHandlers(
                assigned: { [unowned self] partitions in self.claim(partitions) },
                revoked: { [unowned self] partitions in self.release(partitions) }),
            logger: logger)
    }

    /// Runs until `stop` is set. Never throws: failures are retried with backoff or dead-lettered.
    func run() {
        do {
            try consumer.subscribe(topics: configuration.topics)
        } catch {
            logger.error("subscribe failed", ["error": .string("\(error)")])
            return
        }
        logger.info(
            "consuming",
            [
                "topics": .string(configuration.topics.joined(separator: ",")),
                "group": .string(configuration.consumerGroup),
            ])
        var lastErrorLogMs: Int64 = 0
        while !stop.current {
            let events = consumer.poll(
                countMax: configuration.pollBatchCountMax, timeoutMs: Int32(configuration.pollTimeoutMs))
            var messages: [KafkaMessage] = []
            for event in events {
                switch event {
                case .message(let message):
                    messages.append(message)
                case .offsetOutOfRange(let partition, let detail):
                    recoverFromOffsetOutOfRange(partition, detail: detail)
                case .error(let error, let partition):
                    metrics.increment("billing_consumer_errors_total", labels: [("code", error.name)])
                    // Broker-down errors repeat quickly; one line a second is enough to see them.
                    if monotonicMs() - lastErrorLogMs > 1_000 {
                        lastErrorLogMs = monotonicMs()
                        logger.warn(
                            "consumer error",
                            ["error": .string(error.description), "partition": .string(partition?.description ?? "")])
                    }
                }
            }
            if !messages.isEmpty { process(messages) }
        }
    }

    // MARK: Ownership

    /// Claims partitions in PostgreSQL (bumping their epoch, which fences the previous owner) and
    /// returns where to resume each. Retries until the database answers or the worker stops.
    private func claim(_ partitions: [TopicPartition]) -> [TopicPartition: Int64] {
        let sorted = partitions.sorted()
        var backoff = Backoff(initialMs: configuration.retryBackoffInitialMs, maxMs: configuration.retryBackoffMaxMs)
        while !stop.current {
            do {
                let rows = try database.transaction { connection in
                    try connection.query(
                        """
                        INSERT INTO \(schema).consumer_offsets AS o
                            (consumer_group, topic, partition, next_offset, owner_epoch, owner, claimed_at)
                        SELECT $1, v.topic, v.partition, 0, 1, $4, now()
                        FROM unnest($2::text[], $3::int[]) AS v(topic, partition)
                        ORDER BY v.topic, v.partition
                        ON CONFLICT (consumer_group, topic, partition) DO UPDATE
                            SET owner_epoch = o.owner_epoch + 1, owner = EXCLUDED.owner, claimed_at = now()
                        RETURNING topic, partition, next_offset, owner_epoch
                        """,
                        [
                            configuration.consumerGroup, PGArray.strings(sorted.map(\.topic)),
                            PGArray.integers(sorted.map(\.partition)), configuration.instanceID,
                        ])
                }
                var starts: [TopicPartition: Int64] = [:]
                for row in rows.rows {
                    let partition = TopicPartition(
                        topic: try row.string("topic"), partition: Int32(try row.int("partition")))
                    let ownership = PartitionOwnership(
                        epoch: try row.int64("owner_epoch"), nextOffset: try row.int64("next_offset"))
                    owned[partition] = ownership
                    starts[partition] = ownership.nextOffset
                }
                publishProgress()
                logger.info(
                    "partitions assigned",
                    [
                        "partitions": .string(sorted.map(\.description).joined(separator: ",")),
                        "instance": .string(configuration.instanceID),
                    ])
                return starts
            } catch {
                metrics.increment("billing_retries_total", labels: [("stage", "claim")])
                logger.warn("claiming partitions failed; retrying", ["error": .string("\(error)")])
                sleep(milliseconds: backoff.nextDelayMs(), unless: stop)
            }
        }
        return [:]
    }

    private func release(_ partitions: [TopicPartition]) {
        for partition in partitions { owned[partition] = nil }
        publishProgress()
        logger.info(
            "partitions revoked", ["partitions": .string(partitions.sorted().map(\.description).joined(separator: ","))]
        )
    }

    private func publishProgress() {
        let snapshot = owned.mapValues(\.nextOffset)
        progress.withLock { $0 = snapshot }
    }

    // MARK: Batches

    private struct Attempt {
        var decoded: [DecodedMessage<Handler.Payload>]
        var rejected: [(KafkaMessage, MessageRejection)]
        var isolate = false
    }

    private struct Committed {
        var applied: Int
        var duplicates: Int
        var rejected: [(KafkaMessage, MessageRejection)]
        var gaps: [OffsetGap]
        var nextOffsets: [TopicPartition: Int64]
        /// Counters the handler asked for, counted only now that the batch committed.
        var counts: [BatchContext.Count] = []
        /// The batch's outbox row, committed, for the relay.
        var outboxRow: OutboxHandoff.Row?
    }

    /// Applies one polled batch; returns when it is committed, fenced off, or the worker stops.
    private func process(_ messages: [KafkaMessage]) {
        let startedMicros = monotonicMicros()
        var staleCount = 0
        var current: [KafkaMessage] = []
        for message in messages {
            guard let ownership = owned[message.topicPartition], message.offset >= ownership.nextOffset else {
                staleCount += 1
                continue
            }
            current.append(message)
        }
        if staleCount > 0 { metrics.increment("billing_messages_stale_total", by: Int64(staleCount)) }
        guard !current.isEmpty else { return }
        var consumedByTopic: [String: Int64] = [:]
        for message in current { consumedByTopic[message.topic, default: 0] += 1 }
        for (topic, count) in consumedByTopic {
            metrics.increment("billing_messages_consumed_total", labels: [("topic", topic)], by: count)
        }

        var attempt = Attempt(decoded: [], rejected: [])
        for message in current {
            if message.value.count > configuration.messageBytesMax {
                attempt.rejected.append(
                    (
                        message,
                        MessageRejection(
                            EnvelopeError.oversized(
                                byteCount: message.value.count, limit: configuration.messageBytesMax))
                    ))
                continue
            }
            do {
                let (eventID, payload) = try handler.decode(message)
                attempt.decoded.append(DecodedMessage(message: message, eventID: eventID, payload: payload))
            } catch {
                attempt.rejected.append((message, error))
            }
        }

        var backoff = Backoff(initialMs: configuration.retryBackoffInitialMs, maxMs: configuration.retryBackoffMaxMs)
        while true {
            do {
                let committed = try commit(attempt, batch: current)
                finish(committed, batch: current, startedMicros: startedMicros)
                return
            } catch BatchFailure.rejected(let index, let rejection) {
                let message = attempt.decoded.remove(at: index).message
                attempt.rejected.append((message, rejection))
            } catch let error as PGError where error.kind == .server && Self.isDataError(error) && !attempt.isolate {
                // Some message's data broke a constraint: apply one at a time to find it.
                logger.warn("batch hit a data error; isolating messages", ["error": .string(error.description)])
                attempt.isolate = true
            } catch let fenced as FencedOut {
                // Either another replica claimed these partitions (their epoch moved on), or an
                // earlier attempt of this very batch committed and only the reply to its COMMIT was
                // lost (the epoch is still ours and the offsets are already past the batch).
                let recorded: [TopicPartition: PartitionOwnership]
                do {
                    recorded = try recordedOwnership(fenced.partitions)
                } catch {
                    metrics.increment("billing_retries_total", labels: [("stage", "batch")])
                    logger.warn("reading partition ownership failed; retrying", ["error": .string("\(error)")])
                    sleep(milliseconds: backoff.nextDelayMs(), unless: stop)
                    if stop.current { return }
                    continue
                }
                var lost: [TopicPartition] = []
                var applied: [TopicPartition: Int64] = [:]
                for partition in fenced.partitions {
                    if let mine = owned[partition], let now = recorded[partition], now.epoch == mine.epoch,
                        now.nextOffset > mine.nextOffset
                    {
                        applied[partition] = now.nextOffset
                    } else {
                        lost.append(partition)
                    }
                }
                if !applied.isEmpty {
                    logger.info(
                        "an earlier attempt of this batch had committed; its messages are not applied again",
                        ["partitions": .string(applied.keys.sorted().map(\.description).joined(separator: ","))])
                    for (partition, next) in applied { owned[partition]?.nextOffset = next }
                    consumer.storeOffsets(applied)
                }
                if !lost.isEmpty {
                    metrics.increment("billing_fenced_batches_total")
                    logger.warn(
                        "partitions were claimed by another replica; dropping their messages",
                        ["partitions": .string(lost.map(\.description).joined(separator: ","))])
                    for partition in lost { owned[partition] = nil }
                }
                // What is left to apply: messages of partitions still ours, past what was committed.
                let gone = Set(lost)
                let settled = { (message: KafkaMessage) in
                    gone.contains(message.topicPartition)
                        || applied[message.topicPartition].map { message.offset < $0 } ?? false
                }
                current.removeAll(where: settled)
                attempt.decoded.removeAll { settled($0.message) }
                attempt.rejected.removeAll { settled($0.0) }
                publishProgress()
                if current.isEmpty { return }
            } catch {
                metrics.increment("billing_retries_total", labels: [("stage", "batch")])
                logger.warn(
                    "batch failed; retrying", ["error": .string("\(error)"), "attempt": .of(backoff.attempt + 1)])
                sleep(milliseconds: backoff.nextDelayMs(), unless: stop)
                if stop.current {
                    // Abandoned: nothing committed, offsets not stored; the batch is replayed later.
                    logger.info(
                        "stopping with an uncommitted batch; it will be replayed", ["messages": .of(current.count)])
                    return
                }
            }
        }
    }

    /// Each partition's owner epoch and next offset as PostgreSQL records them now.
    private func recordedOwnership(_ partitions: [TopicPartition]) throws -> [TopicPartition: PartitionOwnership] {
        let rows = try database.connection().query(
            """
            SELECT o.topic, o.partition, o.owner_epoch, o.next_offset FROM \(schema).consumer_offsets AS o
            JOIN unnest($2::text[], $3::int[]) AS v(topic, partition) USING (topic, partition)
            WHERE o.consumer_group = $1
            """,
            [
                configuration.consumerGroup, PGArray.strings(partitions.map(\.topic)),
                PGArray.integers(partitions.map(\.partition)),
            ])
        var recorded: [TopicPartition: PartitionOwnership] = [:]
        for row in rows.rows {
            let partition = TopicPartition(topic: try row.string("topic"), partition: Int32(try row.int("partition")))
            recorded[partition] = PartitionOwnership(
                epoch: try row.int64("owner_epoch"), nextOffset: try row.int64("next_offset"))
        }
        return recorded
    }

    /// SQLSTATE classes 22 (data exception) and 23 (integrity constraint violation): the input, not
    /// the system, is at fault, so retrying the same batch would fail forever.
    static func isDataError(_ error: PGError) -> Bool {
        guard let state = error.sqlState else { return false }
        return state.hasPrefix("22") || state.hasPrefix("23")
    }

    private func commit(_ attempt: Attempt, batch: [KafkaMessage]) throws -> Committed {
        let connection = try database.connection()
        do {
            return try commitInTransaction(attempt, batch: batch, connection: connection)
        } catch {
            connection.rollbackIfOpen()
            throw error
        }
    }

    /// The batch's transaction: BEGIN travels with the first statements (the fence, the inbox and
    /// the handler's opening reads) and COMMIT with the last, so a batch costs two round trips plus
    /// whatever the handler could not send in the first.
    private func commitInTransaction(
        _ attempt: Attempt, batch: [KafkaMessage], connection: PGConnection
    ) throws -> Committed {
        let group = configuration.consumerGroup
        // Per owned partition: the recorded ownership, where the batch ends, and any jump between
        // the recorded offset and the batch's first message.
        var ranges: [TopicPartition: (first: Int64, last: Int64)] = [:]
        for message in batch {
            let range = ranges[message.topicPartition] ?? (message.offset, message.offset)
            ranges[message.topicPartition] = (min(range.first, message.offset), max(range.last, message.offset))
        }
        var fence: [(TopicPartition, PartitionOwnership, Int64)] = []
        var gaps: [OffsetGap] = []
        for (partition, range) in ranges.sorted(by: { $0.key < $1.key }) {
            guard let ownership = owned[partition] else { continue }
            fence.append((partition, ownership, range.last + 1))
            if range.first > ownership.nextOffset {
                gaps.append(
                    OffsetGap(
                        partition: partition, expected: ownership.nextOffset, resumed: range.first,
                        detail: "messages missing between the recorded offset and the next message read"))
            }
        }
        let withIDs = attempt.decoded.filter { $0.eventID != nil }
        let opening = attempt.isolate ? nil : handler.opening(attempt.decoded)
        var statements = [
            PGStatement("BEGIN"),
            PGStatement(
                sql: """
                    UPDATE \(schema).consumer_offsets AS o SET next_offset = v.next_offset, updated_at = now()
                    FROM unnest($2::text[], $3::int[], $4::bigint[], $5::bigint[], $6::bigint[])
                        AS v(topic, partition, owner_epoch, expected_offset, next_offset)
                    WHERE o.consumer_group = $1 AND o.topic = v.topic AND o.partition = v.partition
                      AND o.owner_epoch = v.owner_epoch AND o.next_offset = v.expected_offset
                    RETURNING o.topic, o.partition
                    """,
                parameters: [
                    .text(group), PGArray.strings(fence.map(\.0.topic)), PGArray.integers(fence.map(\.0.partition)),
                    PGArray.integers(fence.map(\.1.epoch)), PGArray.integers(fence.map(\.1.nextOffset)),
                    PGArray.integers(fence.map(\.2)),
                ], prepared: true),
        ]
        if !withIDs.isEmpty {
            statements.append(
                PGStatement(
                    sql: """
                        INSERT INTO \(schema).inbox (event_id, topic, partition, "offset")
                        SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[])
                        ON CONFLICT (event_id) DO NOTHING
                        RETURNING event_id
                        """,
                    parameters: [
                        PGArray.strings(withIDs.map { $0.eventID! }), PGArray.strings(withIDs.map(\.message.topic)),
                        PGArray.integers(withIDs.map(\.message.partition)),
                        PGArray.integers(withIDs.map(\.message.offset)),
                    ], prepared: true))
        }
        let openingStart = statements.count
        statements += opening?.statements ?? []
        let allResults = try connection.pipeline(statements)
        let results = Array(allResults[1..<openingStart])
        if results[0].count != fence.count {
            var advanced = Set<TopicPartition>()
            for row in results[0].rows {
                advanced.insert(TopicPartition(topic: try row.string(0), partition: Int32(try row.int(1))))
            }
            throw FencedOut(partitions: fence.map(\.0).filter { !advanced.contains($0) })
        }

        // Each event id applies once: first occurrence in this batch, and only if new to the inbox.
        var fresh: [DecodedMessage<Handler.Payload>] = []
        var duplicates = 0
        if withIDs.isEmpty {
            fresh = attempt.decoded
        } else {
            var newIDs = Set(results[1].values.compactMap { $0[0] })
            for decoded in attempt.decoded {
                if let id = decoded.eventID {
                    if newIDs.remove(id) != nil { fresh.append(decoded) } else { duplicates += 1 }
                } else {
                    fresh.append(decoded)
                }
            }
        }

        let context = BatchContext(
            connection: connection, service: configuration.service, logger: logger,
            topicSuffix: configuration.topicSuffix)
        if let opening {
            context.opened = OpenedBatch(plan: opening.plan, results: Array(allResults[openingStart...]))
        }
        var rejected = attempt.rejected
        if attempt.isolate {
            // One message at a time, each whole inside its savepoint: its deferred writes run there
            // too, so the next message reads what this one wrote (a statement line booked by one
            // file is a duplicate in the next), and a message rolled back leaves no events behind.
            for decoded in fresh {
                let mark = context.mark()
                try connection.query("SAVEPOINT message")
                do {
                    try handler.apply([decoded], in: context)
                    let deferred = context.takeDeferred()
                    if !deferred.isEmpty { try connection.pipeline(deferred) }
                    try connection.query("RELEASE SAVEPOINT message")
                } catch BatchFailure.rejected(_, let rejection) {
                    try connection.query("ROLLBACK TO SAVEPOINT message")
                    context.rollBack(to: mark)
                    rejected.append((decoded.message, rejection))
                } catch let error as PGError where error.kind == .server && Self.isDataError(error) {
                    try connection.query("ROLLBACK TO SAVEPOINT message")
                    context.rollBack(to: mark)
                    rejected.append((decoded.message, MessageRejection(code: "data_error", reason: error.description)))
                }
            }
        } else if !fresh.isEmpty {
            try handler.apply(fresh, in: context)
        }

        var closing = context.deferred
        if !gaps.isEmpty { closing.append(gapStatement(gaps)) }
        for (message, rejection) in rejected {
            context.outbox.append(deadLetterCopy(message, rejection))
        }
        if !rejected.isEmpty { closing.append(deadLetterStatement(rejected)) }
        var outboxIndex: Int?
        if !context.outbox.isEmpty {
            outboxIndex = closing.count
            closing.append(outboxStatement(context.outbox))
            // Only another process's relay needs the NOTIFY: while this process's relay holds the
            // lock, no other one listens, and the row reaches ours in memory. A NOTIFY is not
            // free: a transaction that notifies takes the database's one notify lock as it
            // commits and holds it until its commit is flushed, so the loops' commits would queue
            // behind each other instead of sharing a WAL flush. (Should our relay lose the lock
            // before the row is handed over, the row is in the table: the next holder reads it on
            // taking the lock or within OUTBOX_IDLE_WAIT_MS.)
            if !handoff.isAccepting {
                // The payload lets a relay of this process tell its own rows from other processes'.
                closing.append(
                    PGStatement(
                        "SELECT pg_notify($1, $2)", [OutboxRelay.channel(schema), handoff.token], prepared: true))
            }
        }
        closing.append(PGStatement("COMMIT"))
        let closed = try connection.pipeline(closing)
        var outboxRow: OutboxHandoff.Row?
        if let outboxIndex {
            outboxRow = OutboxHandoff.Row(
                id: try closed[outboxIndex][0].int64("id"), messages: context.outbox.map(\.message))
        }

        var nextOffsets: [TopicPartition: Int64] = [:]
        for (partition, _, next) in fence { nextOffsets[partition] = next }
        return Committed(
            applied: fresh.count, duplicates: duplicates, rejected: rejected, gaps: gaps, nextOffsets: nextOffsets,
            counts: context.counts, outboxRow: outboxRow)
    }

    /// After COMMIT: advance local ownership, store offsets in Kafka, record metrics.
    private func finish(_ committed: Committed, batch: [KafkaMessage], startedMicros: Int64) {
        if let row = committed.outboxRow { handoff.offer(row) }
        for (partition, next) in committed.nextOffsets {
            owned[partition]?.nextOffset = next
        }
        publishProgress()
        consumer.storeOffsets(committed.nextOffsets)
        recordCommitLatency(batch)
        metrics.observe("billing_batch_duration_seconds", micros: monotonicMicros() - startedMicros)
        metrics.increment("billing_messages_processed_total", by: Int64(committed.applied))
        if committed.duplicates > 0 {
            metrics.increment("billing_messages_duplicate_total", by: Int64(committed.duplicates))
        }
        for gap in committed.gaps { reportGap(gap) }
        for count in committed.counts { metrics.increment(count.name, labels: count.labels, by: count.amount) }
        for (message, rejection) in committed.rejected {
            metrics.increment(
                "billing_messages_dead_lettered_total", labels: [("topic", message.topic), ("reason", rejection.code)])
            logger.warn(
                "message dead-lettered",
                [
                    "topic": .string(message.topic), "partition": .of(message.partition), "offset": .of(message.offset),
                    "reason_code": .string(rejection.code), "reason": .string(rejection.reason),
                ])
        }
    }

    /// Latency from each message's produce time to this commit.
    private func recordCommitLatency(_ messages: [KafkaMessage]) {
        let nowMs = wallClockMs()
        metrics.observe(
            "billing_commit_latency_seconds",
            micros: messages.lazy.compactMap { $0.timestampMs }.map { (nowMs - $0) * 1_000 })
    }

    // MARK: SQL for the closing round trip

    /// Loud, after the gap's row committed: an error line and the gap counter.
    private func reportGap(_ gap: OffsetGap) {
        metrics.increment("billing_offset_gaps_total")
        logger.error(
            "offset gap: messages were lost before this worker read them",
            [
                "partition": .string(gap.partition.description), "expected": .of(gap.expected),
                "resumed": .of(gap.resumed), "detail": .string(gap.detail),
            ])
    }

    private func gapStatement(_ gaps: [OffsetGap]) -> PGStatement {
        PGStatement(
            sql: """
                INSERT INTO \(schema).offset_gaps (consumer_group, topic, partition, expected_offset, resumed_offset, detail)
                SELECT $1, * FROM unnest($2::text[], $3::int[], $4::bigint[], $5::bigint[], $6::text[])
                """,
            parameters: [
                .text(configuration.consumerGroup), PGArray.strings(gaps.map(\.partition.topic)),
                PGArray.integers(gaps.map(\.partition.partition)), PGArray.integers(gaps.map(\.expected)),
                PGArray.integers(gaps.map(\.resumed)), PGArray.strings(gaps.map(\.detail)),
            ])
    }

    /// Text as PostgreSQL can store it: a NUL (which a message's id or a reason quoting its input
    /// may carry) becomes U+FFFD. Without this the dead letter's own insert failed, and the batch
    /// was retried forever; the copy on billing.dead-letter and the payload keep every byte.
    static func storable(_ text: String) -> String {
        guard text.utf8.contains(0) else { return text }
        return String(text.unicodeScalars.map { $0 == "\u{0}" ? "\u{FFFD}" : Character($0) })
    }

    private func deadLetterStatement(_ rejected: [(KafkaMessage, MessageRejection)]) -> PGStatement {
        let messages = rejected.map(\.0)
        return PGStatement(
            sql: """
                INSERT INTO \(schema).dead_letters
                    (event_id, source_topic, source_partition, source_offset, message_key, headers, payload, reason_code, reason)
                SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[], $5::bytea[], $6::bytea[], $7::bytea[],
                    $8::text[], $9::text[])
                ON CONFLICT (source_topic, source_partition, source_offset) DO NOTHING
                """,
            parameters: [
                PGArray.strings(messages.map { $0.headers.text("ce_id").map(Self.storable) }),
                PGArray.strings(messages.map(\.topic)),
                PGArray.integers(messages.map(\.partition)), PGArray.integers(messages.map(\.offset)),
                PGArray.byteStrings(messages.map(\.key)),
                PGArray.byteStrings(messages.map { HeaderCodec.encode($0.headers) }),
                PGArray.byteStrings(messages.map(\.value)), PGArray.strings(rejected.map { Self.storable($0.1.code) }),
                PGArray.strings(rejected.map { Self.storable($0.1.reason) }),
            ])
    }

    /// The batch's events in one outbox row (parallel arrays, published in their order).
    private func outboxStatement(_ entries: [OutboxEntry]) -> PGStatement {
        PGStatement(
            sql: """
                INSERT INTO \(schema).outbox (topics, message_keys, headers, payloads, event_ids)
                VALUES ($1::text[], $2::bytea[], $3::bytea[], $4::bytea[], $5::text[])
                RETURNING id
                """,
            parameters: [
                PGArray.strings(entries.map(\.message.topic)), PGArray.byteStrings(entries.map(\.message.key)),
                PGArray.byteStrings(entries.map { HeaderCodec.encode($0.message.headers) }),
                PGArray.byteStrings(entries.map(\.message.value)), PGArray.strings(entries.map(\.eventID)),
            ], prepared: true)
    }

    /// The dead-letter copy: the original key, value and headers, plus the reason in `dlq_*` headers.
    private func deadLetterCopy(_ message: KafkaMessage, _ rejection: MessageRejection) -> OutboxEntry {
        // A message over the worker's size limit may be over the broker's too: its copy goes without
        // the value (the size is in a header); the dead_letters row keeps every byte.
        let oversized = message.value.count > configuration.messageBytesMax
        let headers =
            message.headers
            + (oversized
                ? [KafkaHeader(name: DeadLetterHeaders.valueOmittedBytes, text: String(message.value.count))] : []) + [
                KafkaHeader(name: DeadLetterHeaders.reasonCode, text: rejection.code),
                KafkaHeader(name: DeadLetterHeaders.reason, text: rejection.reason),
                KafkaHeader(name: DeadLetterHeaders.sourceTopic, text: message.topic),
                KafkaHeader(name: DeadLetterHeaders.sourcePartition, text: String(message.partition)),
                KafkaHeader(name: DeadLetterHeaders.sourceOffset, text: String(message.offset)),
                KafkaHeader(name: DeadLetterHeaders.service, text: configuration.service.name),
                KafkaHeader(name: DeadLetterHeaders.recordedAt, text: Logger.timestamp()),
            ]
        return OutboxEntry(
            message: KafkaOutgoingMessage(
                topic: Topics.deadLetter.name + configuration.topicSuffix, key: message.key,
                value: oversized ? [] : message.value, headers: headers),
            eventID: nil)
    }

    // MARK: Retention loss

    /// The partition's wanted offset is outside its log. Record the jump loudly, then resume at the
    /// log's start: the lost messages cannot be read any more, and stopping would lose nothing less.
    private func recoverFromOffsetOutOfRange(_ partition: TopicPartition, detail: String) {
        guard let ownership = owned[partition] else { return }
        var backoff = Backoff(initialMs: configuration.retryBackoffInitialMs, maxMs: configuration.retryBackoffMaxMs)
        while !stop.current {
            do {
                let marks = try consumer.queryWatermarks(partition, timeoutMs: 5_000)
                let resume = marks.low
                let note =
                    ownership.nextOffset > marks.high
                    ? "log restarted: recorded progress \(ownership.nextOffset) is beyond the log end \(marks.high)"
                    : "retention removed messages before they were read (\(detail))"
                let gap = OffsetGap(partition: partition, expected: ownership.nextOffset, resumed: resume, detail: note)
                if resume != ownership.nextOffset {
                    let changed = try database.transaction { connection in
                        let updated = try connection.query(
                            """
                            UPDATE \(schema).consumer_offsets SET next_offset = $5, updated_at = now()
                            WHERE consumer_group = $1 AND topic = $2 AND partition = $3 AND owner_epoch = $4 AND next_offset = $6
                            """,
                            [
                                configuration.consumerGroup, partition.topic, partition.partition, ownership.epoch,
                                resume, ownership.nextOffset,
                            ])
                        guard updated.affectedRowCount == 1 else { return false }
                        try connection.run(gapStatement([gap]))
                        return true
                    }
                    guard changed else {
                        owned[partition] = nil
                        return
                    }
                    reportGap(gap)
                }
                owned[partition]?.nextOffset = resume
                publishProgress()
                try consumer.seek(partition, to: resume, timeoutMs: 5_000)
                return
            } catch {
                metrics.increment("billing_retries_total", labels: [("stage", "offset_reset")])
                logger.warn("recovering from offset out of range failed; retrying", ["error": .string("\(error)")])
                sleep(milliseconds: backoff.nextDelayMs(), unless: stop)
            }
        }
    }
}

/// Header names on `billing.dead-letter` copies.
public enum DeadLetterHeaders {
    public static let reasonCode = "dlq_reason_code"
    public static let reason = "dlq_reason"
    public static let sourceTopic = "dlq_source_topic"
    public static let sourcePartition = "dlq_source_partition"
    public static let sourceOffset = "dlq_source_offset"
    public static let service = "dlq_service"
    public static let recordedAt = "dlq_recorded_at"
    /// On the copy of a message over the size limit, sent without its value: the value's size.
    public static let valueOmittedBytes = "dlq_value_omitted_bytes"
}
