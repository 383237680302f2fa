import BillingContracts
import BillingKafka
import BillingPostgres
import BillingSupport
import Logging

/// Publishes a service's outbox rows (each row is one batch's events, published in their order)
/// with the idempotent producer and marks a row sent after the delivery reports of all its events.
/// One replica per service relays at a time (a session advisory lock); the others wait to take
/// over. It also purges sent outbox rows and old inbox ids.
///
/// The rows of this process's own loops reach it in memory right after their COMMIT, in commit
/// order (`OutboxHandoff`). It reads unsent rows from the table, in id order, when it takes the
/// lock, when another process's NOTIFY says it committed some, after a failed delivery, and once
/// every `OUTBOX_IDLE_WAIT_MS` in any case.
///
/// A row is marked sent only after Kafka acknowledged every event in it, so a crash re-sends at
/// most the rows in flight; consumers deduplicate on `ce_id`. A row with a failed delivery is sent
/// again from the table, whole.
final class OutboxRelay: @unchecked Sendable {
    private let configuration: WorkerConfiguration
    private let metrics: RuntimeMetrics
    private let logger: Logger
    private let stop: Locked<Bool>
    private let schema: String
    /// The relay owns its producer: it replaces it after a fatal error and closes it when it stops.
    /// Readiness checks read it from the ops thread, hence the lock.
    private let currentProducer: Locked<KafkaProducer>
    private var producer: KafkaProducer { currentProducer.current }
    private let database: PGClient
    private var holdsLockOnBackend: Int32?
    /// Rows enqueued and not yet marked: their events' delivery tickets, in order.
    private var inFlight: [Int64: [KafkaDeliveryTicket]] = [:]
    private var inFlightMessages: Int { inFlight.values.reduce(0) { $0 + $1.count } }
    private var nextHousekeepingMs: Int64 = 0
    private var nextBacklogMs: Int64 = 0
    private let handoff: OutboxHandoff
    /// Whether the table may hold unsent rows that did not come through the handoff.
    private var tableReadDue = true
    private var nextTableReadMs: Int64 = 0
    /// Rows this relay marked sent in the last minutes (id to when): a row read from the table
    /// between its COMMIT and its loop's handoff is then not published a second time.
    private var recentlyMarked: [Int64: Int64] = [:]

    /// The relay's producer lingers 25 ms (other producers 5): it sends a round's rows at once and
    /// waits for their reports anyway, and fuller batches cost the broker and this process fewer
    /// requests per event (measured with allocator-bench). `KAFKA_LINGER_MS` overrides it.
    ///
    /// It may have to publish a dead-letter copy of any message the worker
    /// accepted (up to `WORKER_MESSAGE_BYTES_MAX`, whole statement files for payment-ingest), plus
    /// the headers added to it, so its message limit is at least that (`KAFKA_MESSAGE_MAX_BYTES` wins).
    static func producerConfiguration(_ configuration: WorkerConfiguration) -> KafkaConfiguration {
        configuration.kafka.over([
            "linger.ms": "25", "message.max.bytes": String(max(1_000_000, configuration.messageBytesMax + 65_536)),
        ])
    }

    /// The NOTIFY channel a worker signals after committing outbox rows.
    static func channel(_ schema: String) -> String { "billing_outbox_\(schema)" }

    init(
        configuration: WorkerConfiguration, metrics: RuntimeMetrics, logger: Logger, stop: Locked<Bool>,
        handoff: OutboxHandoff
    ) throws {
        self.configuration = configuration
        self.handoff = handoff
        self.currentProducer = Locked(
            try KafkaProducer(configuration: Self.producerConfiguration(configuration), logger: logger))
        self.metrics = metrics
        self.logger = logger
        self.stop = stop
        self.schema = configuration.service.schema
        self.database = PGClient(
            conninfo: configuration.databaseURL, applicationName: "\(configuration.service.name)-relay",
            limits: configuration.sessionLimits)
    }

    /// Whether a broker answers this relay's producer within `timeoutMs` (for readiness).
    func isBrokerReachable(timeoutMs: Int32) -> Bool {
        producer.isBrokerReachable(timeoutMs: timeoutMs)
    }

    /// Relays until `stop` is set, then gives what is in flight a bounded chance to be marked and
    /// closes the producer (bounded as well).
    func run() {
        var backoff = Backoff(initialMs: configuration.retryBackoffInitialMs, maxMs: configuration.retryBackoffMaxMs)
        while !stop.current {
            do {
                try round()
                backoff.reset()
            } catch let error as KafkaError where error.isFatal {
                logger.error("producer failed fatally; recreating it", metadata: ["error": .string(error.description)])
                metrics.retried(.relay)
                inFlight.removeAll()
                tableReadDue = true
                if let fresh = try? KafkaProducer(
                    configuration: Self.producerConfiguration(configuration), logger: logger)
                {
                    let failed = producer
                    currentProducer.withLock { $0 = fresh }
                    failed.close(timeoutMs: 2_000)
                }
                sleep(milliseconds: backoff.nextDelayMs(), unless: stop)
            } catch {
                metrics.retried(.relay)
                logger.warning("outbox relay failed; retrying", metadata: ["error": .string("\(error)")])
                holdsLockOnBackend = nil
                // The lock may be gone with the session: rows are read from the table once it is
                // held again, and none is taken from memory meanwhile.
                handoff.close()
                sleep(milliseconds: backoff.nextDelayMs(), unless: stop)
            }
        }
        // Give what is in flight a bounded chance to be acknowledged and marked.
        let deadline = monotonicMs() + Int64(configuration.shutdownTimeoutMs / 2)
        while !inFlight.isEmpty, monotonicMs() < deadline {
            try? producer.poll(timeoutMs: 50)
            try? markCompleted()
            if inFlight.values.allSatisfy({ $0.allSatisfy { !$0.isPending } }) { break }
        }
        handoff.close()
        if !producer.close(timeoutMs: min(2_000, configuration.shutdownTimeoutMs / 2)) {
            logger.warning("producer close abandoned after its time bound")
        }
    }

    private func round() throws {
        let connection = try database.connection()
        guard try holdLock(connection) else {
            handoff.close()
            sleep(milliseconds: 1_000, unless: stop)
            return
        }
        try producer.poll(timeoutMs: 0)
        try markCompleted()
        housekeeping(connection)
        note(try connection.pendingNotifications())

        // Up to two rounds' events in flight: a round's rows go out while the previous round's
        // wait for their reports.
        let room = 2 * configuration.outboxBatchCountMax - inFlightMessages
        if room <= 0 {
            try producer.poll(timeoutMs: 5)
            try markCompleted()
            return
        }
        let budget = min(room, configuration.outboxBatchCountMax)
        let deadline = monotonicMs() + Int64(configuration.outboxDeliveryTimeoutMs)
        var enqueuing: [Int64: [KafkaDeliveryTicket]] = [:]
        var handedMessages = 0
        let handed = handoff.take(messageBudget: budget)
        let moreHanded = handed.more
        let fresh = handed.rows.filter { inFlight[$0.id] == nil && recentlyMarked[$0.id] == nil }
        // Rows handed by id only (the relay was behind): their events from the table, by id.
        let spilled = fresh.filter { $0.messages == nil }.map(\.id)
        var fetched: [Int64: [KafkaOutgoingMessage]] = [:]
        if !spilled.isEmpty {
            fetched = try readRows(
                connection,
                PGStatement(
                    """
                    SELECT o.id, \(Self.rowEvents) FROM \(schema).outbox AS o, \(Self.unnestEvents)
                    WHERE o.id = ANY($1::bigint[]) AND o.sent_at IS NULL
                    ORDER BY o.id, m.position
                    """, [PGArray.integers(spilled)], prepared: true))
        }
        for row in fresh {
            // A spilled row no longer unsent went out another way (a table read, marked since).
            guard let messages = row.messages ?? fetched[row.id] else { continue }
            enqueuing[row.id] = messages.map { producer.enqueue($0, deadlineMs: deadline) }
            handedMessages += messages.count
        }
        // The table after the handed rows, and below the rows still waiting there (see
        // `smallestWaitingID`): each loop's rows keep their commit order.
        let now = monotonicMs()
        if tableReadDue || now >= nextTableReadMs {
            if budget - handedMessages > 0 {
                tableReadDue = false
                nextTableReadMs = now + Int64(configuration.outboxIdleWaitMs)
                try readTable(
                    connection, budget: budget - handedMessages, skipping: Array(inFlight.keys) + enqueuing.keys,
                    below: handoff.smallestWaitingID() ?? Int64.max, deadline: deadline, into: &enqueuing)
            } else {
                tableReadDue = true
            }
        }
        inFlight.merge(enqueuing) { $0 + $1 }
        if inFlight.isEmpty {
            if !moreHanded {
                note(
                    try connection.waitForNotifications(
                        timeoutMs: Int32(configuration.outboxIdleWaitMs), wakeDescriptor: handoff.wakeDescriptor))
            }
            return
        }
        // Reports that arrived (waiting briefly when this round sent nothing new), then mark what
        // was acknowledged. librdkafka fails a message not delivered within message.timeout.ms,
        // and its row is then sent again from the table.
        try producer.poll(timeoutMs: enqueuing.isEmpty && !moreHanded ? 5 : 0)
        try markCompleted()
    }

    /// A NOTIFY without this process's token comes from another process: its rows are in the table
    /// only.
    private func note(_ notifications: [PGNotification]) {
        if notifications.contains(where: { $0.payload != handoff.token }) { tableReadDue = true }
    }

    /// Enqueues the oldest unsent rows not in `skipping` and with ids below `below`, whole, up to
    /// about `budget` events (at least one row): the running count stops the scan, so a backlog is
    /// never read all at once.
    private func readTable(
        _ connection: PGConnection, budget: Int, skipping: [Int64], below: Int64, deadline: Int64,
        into enqueuing: inout [Int64: [KafkaDeliveryTicket]]
    ) throws {
        let rows = try readRows(
            connection,
            PGStatement(
            """
            WITH next AS (
                SELECT id, sum(message_count) OVER (ORDER BY id) - message_count AS before
                FROM \(schema).outbox WHERE sent_at IS NULL AND id <> ALL($3::bigint[]) AND id < $4
                ORDER BY id LIMIT $1
            )
            SELECT o.id, \(Self.rowEvents) FROM next JOIN \(schema).outbox AS o USING (id), \(Self.unnestEvents)
            WHERE next.before < $2
            ORDER BY o.id, m.position
            """,
            [configuration.outboxBatchCountMax, budget, PGArray.integers(skipping.sorted()), below], prepared: true))
        for id in rows.keys.sorted() {
            enqueuing[id] = rows[id]!.map { producer.enqueue($0, deadlineMs: deadline) }
        }
    }

    /// An outbox row `o`'s events as lines `m`, in their order, and the columns `readRows` reads.
    private static let unnestEvents = """
        unnest(o.topics, o.message_keys, o.headers, o.payloads)
            WITH ORDINALITY AS m(topic, message_key, headers, payload, position)
        """
    private static let rowEvents = "m.topic, m.message_key, m.headers, m.payload"

    /// Outbox rows' events, by row id, in their order, from a query of (id, topic, message_key,
    /// headers, payload) lines; counted in `billing_outbox_table_read_total`.
    private func readRows(_ connection: PGConnection, _ statement: PGStatement) throws -> [Int64: [KafkaOutgoingMessage]] {
        let rows = try connection.run(statement)
        var messages: [Int64: [KafkaOutgoingMessage]] = [:]
        for row in rows.rows {
            let id = try row.int64("id")
            guard let headers = HeaderCodec.decode(try row.bytes("headers")) else {
                throw PGError(kind: .protocolViolation, message: "outbox row \(id) has malformed headers")
            }
            messages[id, default: []].append(
                KafkaOutgoingMessage(
                    topic: try row.string("topic"), key: try row.optionalBytes("message_key"),
                    value: try row.bytes("payload"), headers: headers))
        }
        if !rows.rows.isEmpty { metrics.outboxTableRead.increment(by: rows.rows.count) }
        return messages
    }

    /// Marks rows sent whose every event was acknowledged; forgets a row with a failed delivery
    /// (once none of its events is pending) so the next round sends it again.
    private func markCompleted() throws {
        var delivered: [Int64] = []
        var deliveredMessages = 0
        var failed = 0
        for (id, tickets) in inFlight where !tickets.contains(where: \.isPending) {
            let failures = tickets.compactMap { ticket -> KafkaError? in
                if case .failed(let error) = ticket.result { return error }
                return nil
            }
            if let rowFailure = failures.first {
                failed += failures.count
                inFlight[id] = nil
                tableReadDue = true
                logger.warning(
                    "outbox delivery failed; will resend the row",
                    metadata: ["id": .of(id), "events": .of(tickets.count), "error": .string(rowFailure.description)])
            } else {
                delivered.append(id)
                deliveredMessages += tickets.count
            }
        }
        if failed > 0 { metrics.outboxDeliveryFailures.increment(by: failed) }
        guard !delivered.isEmpty else { return }
        try database.connection().run(
            PGStatement(
                "UPDATE \(schema).outbox SET sent_at = now() WHERE id = ANY($1::bigint[]) AND sent_at IS NULL",
                [PGArray.integers(delivered)], prepared: true))
        let now = monotonicMs()
        for id in delivered {
            inFlight[id] = nil
            recentlyMarked[id] = now
        }
        metrics.outboxPublished.increment(by: deliveredMessages)
    }

    /// Takes the service's relay lock on this session; LISTENs and sets the plan once per session.
    private func holdLock(_ connection: PGConnection) throws -> Bool {
        if holdsLockOnBackend == connection.backendPID { return true }
        let rows = try connection.query(
            "SELECT pg_try_advisory_lock(hashtext('billing.outbox'), hashtext($1)) AS locked", [schema])
        guard try rows[0].bool("locked") else { return false }
        try connection.query("LISTEN \(Self.channel(schema))")
        // The unsent rows are read in id order, a batch at a time, from the partial index, and
        // marked sent by primary key. The planner's statistics of the outbox are always stale: with
        // a backlog it preferred a bitmap scan of every unsent row plus a sort, and once autovacuum
        // (or anyone) had analysed the table while it was empty, sequential scans of the whole
        // table, sent rows and all, on every round (seen with EXPLAIN on an outbox analysed empty).
        try connection.query("SET enable_bitmapscan = off")
        try connection.query("SET enable_seqscan = off")
        // The relay's writes (rows marked sent, purges) need not wait for their WAL flush: a mark
        // lost in a crash sends its row again, as a crash between the delivery reports and the
        // mark always could, and consumers deduplicate on ce_id. At 5,000 payments/s the marks
        // were about a hundred commits a second beside the loops' own.
        try connection.query("SET synchronous_commit = off")
        holdsLockOnBackend = connection.backendPID
        // From here on this process's loops hand their rows over; what they committed before is in
        // the table, read next.
        handoff.open()
        tableReadDue = true
        logger.info("outbox relay active", metadata: ["instance": .string(configuration.instanceID)])
        return true
    }

    /// Backlog gauge every 2 s; purge of sent outbox rows and old inbox ids every minute.
    private func housekeeping(_ connection: PGConnection) {
        let now = monotonicMs()
        if now >= nextBacklogMs {
            nextBacklogMs = now + 2_000
            recentlyMarked = recentlyMarked.filter { now - $0.value < 300_000 }
            if let rows = try? connection.query(
                "SELECT coalesce(sum(message_count), 0) AS backlog FROM \(schema).outbox WHERE sent_at IS NULL"),
                let backlog = try? rows[0].int64("backlog")
            {
                metrics.outboxBacklog.record(backlog)
            }
        }
        guard now >= nextHousekeepingMs else { return }
        nextHousekeepingMs = now + 60_000
        do {
            let purged = try connection.query(
                """
                DELETE FROM \(schema).outbox WHERE id IN (
                    SELECT id FROM \(schema).outbox WHERE sent_at < now() - make_interval(hours => $1) LIMIT 10000)
                """, [configuration.outboxRetentionHours])
            let expired = try connection.query(
                """
                DELETE FROM \(schema).inbox WHERE event_id IN (
                    SELECT event_id FROM \(schema).inbox WHERE received_at < now() - make_interval(days => $1) LIMIT 10000)
                """, [configuration.inboxRetentionDays])
            if purged.affectedRowCount + expired.affectedRowCount > 0 {
                logger.info(
                    "purged old rows", metadata: ["outbox": .of(purged.affectedRowCount), "inbox": .of(expired.affectedRowCount)])
            }
        } catch {
            logger.warning("housekeeping failed", metadata: ["error": .string("\(error)")])
        }
    }
}
