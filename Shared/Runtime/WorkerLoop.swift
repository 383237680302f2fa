import BillingContracts
import BillingKafka
import BillingPostgres
import BillingSupport
import Logging

/// A partition this replica owns, as recorded (and fenced) in PostgreSQL.
///
/// Progress is `(generation, nextOffset)`, and it only moves forward: a log that started over
/// (a broker restarted empty, a topic made again) is a new generation, never a rewind.
struct PartitionOwnership: Sendable {
    var epoch: Int64
    var nextOffset: Int64
    var generation: Int64 = 0
    /// Set after a claim: the message at this offset (the last one applied) must still carry the
    /// recorded fingerprint, else the log is not the one recorded. Cleared once checked.
    var verifyAt: Int64?
    var fingerprint: String?
    /// How many more messages to apply one at a time, each attempt counted first (careful mode):
    /// set when the previous owner stopped at `nextOffset` without releasing it (a crash), or a
    /// message failed here. Zero in normal operation.
    var carefulRemaining = 0
}

/// A jump in a partition's offsets, recorded in `offset_gaps`: messages that can no longer be
/// read (`gap`), or a log that started over (`logRestart`, `resumed` in the new generation).
struct OffsetGap: Sendable {
    enum Kind: String, Sendable {
        case gap
        case logRestart = "log-restart"
    }
    let partition: TopicPartition
    let expected: Int64
    let resumed: Int64
    let detail: String
    var kind: Kind = .gap
    /// The generation the partition reads after the jump.
    var generation: Int64 = 0
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
    let metrics: RuntimeMetrics
    let logger: Logger
    let stop: Locked<Bool>
    let database: PGClient
    private let schema: String
    private var owned: [TopicPartition: PartitionOwnership] = [:]
    /// Partitions whose fence another replica took while Kafka still assigns them here, and when.
    private var fencedSince: [TopicPartition: Int64] = [:]
    /// Next offsets for the lag gauge, read by the metrics thread.
    let progress = Locked<[TopicPartition: Int64]>([:])
    /// When each owned partition last advanced (or was claimed), for the stalled-partition alarm.
    let progressedAt = Locked<[TopicPartition: Int64]>([:])
    /// Offset gaps and log restarts since start, and the last one, for readiness's alarms.
    let gapAlarm = Locked<(count: Int64, last: String?)>((0, nil))
    private(set) var consumer: KafkaConsumer!
    /// Where committed outbox rows go to this process's relay (see `OutboxHandoff`).
    private let handoff: OutboxHandoff

    init(
        configuration: WorkerConfiguration, handler: Handler, metrics: RuntimeMetrics, logger: Logger, stop: Locked<Bool>,
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
            conninfo: configuration.databaseURL, applicationName: "\(configuration.service.name)-worker",
            limits: configuration.sessionLimits)
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
            logger.error("subscribe failed", metadata: ["error": .string("\(error)")])
            return
        }
        logger.info(
            "consuming",
            metadata: [
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
                    metrics.consumerErrors.increment()
                    // Broker-down errors repeat quickly; one line a second is enough to see them.
                    if monotonicMs() - lastErrorLogMs > 1_000 {
                        lastErrorLogMs = monotonicMs()
                        logger.warning(
                            "consumer error",
                            metadata: ["error": .string(error.description), "partition": .string(partition?.description ?? "")])
                    }
                }
            }
            if !messages.isEmpty { process(messages) }
            reclaimFenced()
        }
    }

    /// Another replica's claim fenced this one off `partition`: its messages are dropped here
    /// until Kafka revokes it, or until it is claimed again (`reclaimFenced`).
    private func fenceOff(_ partition: TopicPartition) {
        owned[partition] = nil
        fencedSince[partition] = monotonicMs()
    }

    /// Claims again the partitions another replica fenced off that Kafka still assigns to this
    /// one, once `WORKER_RECLAIM_AFTER_MS` passed: had the other replica been given them, Kafka would
    /// have revoked them here by then. Without this their messages would be dropped for good.
    private func reclaimFenced() {
        guard !fencedSince.isEmpty else { return }
        let now = monotonicMs()
        for (partition, since) in fencedSince where now - since >= Int64(configuration.reclaimAfterMs) {
            fencedSince[partition] = nil
            guard consumer.assignment.contains(partition), owned[partition] == nil else { continue }
            logger.warning(
                "claiming a fenced-off partition again: Kafka still assigns it here",
                metadata: ["partition": .string(partition.description)])
            guard let start = claim([partition])[partition] else { continue }
            seek(partition, to: start)
        }
    }

    /// Each owned partition's lag and how long since it last advanced; `stalled` when messages wait
    /// and it has not advanced for `WORKER_STALL_AFTER_MS`. Read by the metrics and ops threads.
    func partitionStates() -> [(partition: TopicPartition, lag: Int64, idleMs: Int64, stalled: Bool)] {
        let now = monotonicMs()
        let times = progressedAt.current
        return progress.current.compactMap { partition, next in
            guard let marks = consumer.cachedWatermarks(partition) else { return nil }
            let lag = max(0, marks.high - next)
            let idle = now - (times[partition] ?? now)
            return (partition, lag, idle, lag > 0 && idle >= Int64(configuration.stallAfterMs))
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
                let (rows, suspicious) = try database.transaction { connection in
                    let claimed = try connection.query(
                        """
                        INSERT INTO \(schema).consumer_offsets AS o
                            (consumer_group, topic, partition, next_offset, owner_epoch, owner, claimed_at)
                        SELECT $1, v.topic, v.partition, 0, 1, $4, now()
                        FROM unnest($2::text[], $3::int[]) AS v(topic, partition)
                        ORDER BY v.topic, v.partition
                        ON CONFLICT (consumer_group, topic, partition) DO UPDATE
                            SET owner_epoch = o.owner_epoch + 1, owner = EXCLUDED.owner, claimed_at = now()
                        RETURNING topic, partition, next_offset, owner_epoch, log_generation, last_fingerprint
                        """,
                        [
                            configuration.consumerGroup, PGArray.strings(sorted.map(\.topic)),
                            PGArray.integers(sorted.map(\.partition)), configuration.instanceID,
                        ])
                    return (claimed, try recordClaims(claimed, connection: connection))
                }
                var starts: [TopicPartition: Int64] = [:]
                for row in rows.rows {
                    let partition = TopicPartition(
                        topic: try row.string("topic"), partition: Int32(try row.int("partition")))
                    var ownership = PartitionOwnership(
                        epoch: try row.int64("owner_epoch"), nextOffset: try row.int64("next_offset"),
                        generation: try row.int64("log_generation"), fingerprint: try row.optionalString("last_fingerprint"))
                    // Start one message early, at the last one applied: whether it still carries its
                    // fingerprint tells whether this is the log the recorded offset belongs to.
                    if ownership.fingerprint != nil, ownership.nextOffset > 0 {
                        ownership.verifyAt = ownership.nextOffset - 1
                    }
                    if suspicious.contains(partition) {
                        ownership.carefulRemaining = configuration.pollBatchCountMax
                        logger.warning(
                            "the last owner stopped at this offset without releasing the partition; applying messages one at a time",
                            metadata: ["partition": .string(partition.description), "offset": .of(ownership.nextOffset)])
                    }
                    owned[partition] = ownership
                    progressedAt.withLock { $0[partition] = monotonicMs() }
                    starts[partition] = ownership.verifyAt ?? ownership.nextOffset
                }
                publishProgress()
                logger.info(
                    "partitions assigned",
                    metadata: [
                        "partitions": .string(sorted.map(\.description).joined(separator: ",")),
                        "instance": .string(configuration.instanceID),
                    ])
                return starts
            } catch {
                metrics.retried(.claim)
                logger.warning("claiming partitions failed; retrying", metadata: ["error": .string("\(error)")])
                sleep(milliseconds: backoff.nextDelayMs(), unless: stop)
            }
        }
        return [:]
    }

    /// In the claim's transaction: forgets attempts of messages already behind each partition's
    /// offset, counts this claim at the offset it starts from, and returns the partitions whose
    /// previous claim started at the same offset and was never released (its owner crashed, or is
    /// stuck, on a message there or just after) or whose message there already failed.
    private func recordClaims(_ claimed: PGRows, connection: PGConnection) throws -> Set<TopicPartition> {
        var topics: [String] = []
        var partitions: [Int] = []
        var generations: [Int64] = []
        var offsets: [Int64] = []
        for row in claimed.rows {
            topics.append(try row.string("topic"))
            partitions.append(try row.int("partition"))
            generations.append(try row.int64("log_generation"))
            offsets.append(try row.int64("next_offset"))
        }
        let group = configuration.consumerGroup
        try connection.query(
            """
            DELETE FROM \(schema).message_attempts AS a USING unnest($2::text[], $3::int[], $4::int[], $5::bigint[])
                AS v(topic, partition, generation, next_offset)
            WHERE a.consumer_group = $1 AND a.topic = v.topic AND a.partition = v.partition
              AND (a.log_generation < v.generation OR (a.log_generation = v.generation AND a."offset" < v.next_offset))
            """,
            [group, PGArray.strings(topics), PGArray.integers(partitions), PGArray.integers(generations),
             PGArray.integers(offsets)])
        let counted = try connection.query(
            """
            INSERT INTO \(schema).message_attempts AS a (consumer_group, topic, partition, log_generation, "offset", claims)
            SELECT $1, v.topic, v.partition, v.generation, v.next_offset, 1
            FROM unnest($2::text[], $3::int[], $4::int[], $5::bigint[]) AS v(topic, partition, generation, next_offset)
            ORDER BY v.topic, v.partition
            ON CONFLICT (consumer_group, topic, partition, log_generation, "offset")
                DO UPDATE SET claims = a.claims + 1, updated_at = now()
            RETURNING topic, partition, claims, attempts
            """,
            [group, PGArray.strings(topics), PGArray.integers(partitions), PGArray.integers(generations),
             PGArray.integers(offsets)])
        var suspicious: Set<TopicPartition> = []
        for row in counted.rows where try row.int("claims") >= 2 || row.int("attempts") >= 1 {
            suspicious.insert(TopicPartition(topic: try row.string("topic"), partition: Int32(try row.int("partition"))))
        }
        return suspicious
    }

    private func release(_ partitions: [TopicPartition]) {
        // A clean hand-over: the next owner need not be careful where this one stopped (best
        // effort; should the database not answer, the next owner is careful for nothing).
        let released = partitions.compactMap { partition in owned[partition].map { (partition, $0) } }
        if !released.isEmpty {
            _ = try? database.query(
                """
                UPDATE \(schema).message_attempts AS a SET claims = 0, updated_at = now()
                FROM unnest($2::text[], $3::int[], $4::int[], $5::bigint[]) AS v(topic, partition, generation, next_offset)
                WHERE a.consumer_group = $1 AND a.topic = v.topic AND a.partition = v.partition
                  AND a.log_generation = v.generation AND a."offset" = v.next_offset
                """,
                [
                    configuration.consumerGroup, PGArray.strings(released.map(\.0.topic)),
                    PGArray.integers(released.map(\.0.partition)), PGArray.integers(released.map(\.1.generation)),
                    PGArray.integers(released.map(\.1.nextOffset)),
                ])
        }
        for partition in partitions {
            owned[partition] = nil
            fencedSince[partition] = nil
        }
        progressedAt.withLock { times in for partition in partitions { times[partition] = nil } }
        publishProgress()
        logger.info(
            "partitions revoked", metadata: ["partitions": .string(partitions.sorted().map(\.description).joined(separator: ","))]
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
        var fingerprints: [TopicPartition: String]
        /// Counters the handler asked for, counted only now that the batch committed.
        var counts: [BatchContext.Count] = []
        /// The batch's outbox row, committed, for the relay.
        var outboxRow: OutboxHandoff.Row?
    }

    /// What became of one try at a batch.
    private enum BatchResult {
        case committed
        /// It failed for a reason retrying may not cure (not a database or broker outage).
        case failed(String)
        case stopped
    }

    /// Applies one poll's messages; returns when they are committed, fenced off, or the worker
    /// stops. The first messages of a partition in careful mode are applied one at a time, each
    /// attempt counted before it is made; the rest go as one batch.
    private func process(_ messages: [KafkaMessage]) {
        let startedMicros = monotonicMicros()
        var staleCount = 0
        var current: [KafkaMessage] = []
        var restarted: Set<TopicPartition> = []
        for message in messages {
            let partition = message.topicPartition
            if restarted.contains(partition) { continue }
            if let verifyAt = owned[partition]?.verifyAt, message.offset >= verifyAt {
                if verify(message, at: verifyAt) == false {
                    restarted.insert(partition)
                    continue
                }
            }
            guard let ownership = owned[partition], message.offset >= ownership.nextOffset else {
                staleCount += 1
                continue
            }
            current.append(message)
        }
        if staleCount > 0 { metrics.stale.increment(by: staleCount) }
        guard !current.isEmpty else { return }
        var consumedByTopic: [String: Int64] = [:]
        for message in current { consumedByTopic[message.topic, default: 0] += 1 }
        for (topic, count) in consumedByTopic {
            metrics.consumed[topic]?.increment(by: count)
        }

        var singles: [KafkaMessage] = []
        var batch: [KafkaMessage] = []
        var budget: [TopicPartition: Int] = [:]
        for message in current {
            let partition = message.topicPartition
            let remaining = budget[partition] ?? owned[partition]?.carefulRemaining ?? 0
            if remaining > 0 {
                singles.append(message)
                budget[partition] = remaining - 1
            } else {
                batch.append(message)
            }
        }
        for message in singles where !applyCarefully(message) { return }
        // The rest, of partitions still ours and past what the careful ones committed.
        let rest = batch.filter { message in owned[message.topicPartition].map { message.offset >= $0.nextOffset } ?? false }
        guard !rest.isEmpty else { return }
        if case .failed = applyBatch(rest, startedMicros: startedMicros, careful: false) {
            // Some message of the batch fails for a reason retrying may not cure: its partitions'
            // messages go one at a time, so that the one that keeps failing is found, counted, and
            // dead-lettered after WORKER_ATTEMPTS_MAX attempts, and the others are applied.
            for partition in Set(rest.map(\.topicPartition)) {
                let remaining = owned[partition]?.carefulRemaining ?? 0
                owned[partition]?.carefulRemaining = max(remaining, rest.count)
            }
            for message in rest where !applyCarefully(message) { return }
        }
    }

    /// Applies one message alone, counting each attempt in `message_attempts` before it is made
    /// (so a crash counts too); after `WORKER_ATTEMPTS_MAX` attempts it is dead-lettered with the
    /// last error instead. Returns false when the worker stops.
    private func applyCarefully(_ message: KafkaMessage) -> Bool {
        let partition = message.topicPartition
        var backoff = Backoff(initialMs: configuration.retryBackoffInitialMs, maxMs: configuration.retryBackoffMaxMs)
        while !stop.current {
            guard let ownership = owned[partition], message.offset >= ownership.nextOffset else { return true }
            let counted: (attempts: Int, lastError: String?)
            do {
                counted = try countAttempt(message, generation: ownership.generation)
            } catch {
                metrics.retried(.attempt)
                logger.warning("counting an attempt failed; retrying", metadata: ["error": .string("\(error)")])
                sleep(milliseconds: backoff.nextDelayMs(), unless: stop)
                continue
            }
            var exhausted: MessageRejection?
            if counted.attempts > configuration.attemptsMax {
                exhausted = MessageRejection(
                    code: "attempts_exhausted",
                    reason:
                        "failed \(counted.attempts - 1) times (crashes included); last error: \(counted.lastError ?? "none recorded: the worker stopped while applying it")"
                )
            }
            switch applyBatch([message], startedMicros: monotonicMicros(), careful: true, exhausted: exhausted) {
            case .committed:
                if let remaining = owned[partition]?.carefulRemaining, remaining > 0 {
                    owned[partition]?.carefulRemaining = remaining - 1
                }
                return true
            case .stopped:
                return false
            case .failed(let error):
                metrics.retried(.message)
                logger.warning(
                    "message failed; it will be tried again",
                    metadata: [
                        "partition": .string(partition.description), "offset": .of(message.offset),
                        "attempt": .of(counted.attempts), "attempts_max": .of(configuration.attemptsMax),
                        "error": .string(error),
                    ])
                _ = try? database.query(
                    """
                    UPDATE \(schema).message_attempts SET last_error = $6, updated_at = now()
                    WHERE consumer_group = $1 AND topic = $2 AND partition = $3 AND log_generation = $4 AND "offset" = $5
                    """,
                    [
                        configuration.consumerGroup, message.topic, message.partition, ownership.generation,
                        message.offset, Self.storable(String(error.prefix(2_000))),
                    ])
                sleep(milliseconds: backoff.nextDelayMs(), unless: stop)
            }
        }
        return false
    }

    /// Counts one more attempt of `message` (committed at once, outside any batch transaction) and
    /// returns the count and the last error recorded.
    private func countAttempt(_ message: KafkaMessage, generation: Int64) throws -> (attempts: Int, lastError: String?) {
        let rows = try database.query(
            """
            INSERT INTO \(schema).message_attempts AS a
                (consumer_group, topic, partition, log_generation, "offset", attempts)
            VALUES ($1, $2, $3, $4, $5, 1)
            ON CONFLICT (consumer_group, topic, partition, log_generation, "offset")
                DO UPDATE SET attempts = a.attempts + 1, updated_at = now()
            RETURNING attempts, last_error
            """, [configuration.consumerGroup, message.topic, message.partition, generation, message.offset])
        guard let row = rows.rows.first else { throw PGError(kind: .server, message: "no attempt row returned") }
        return (try row.int("attempts"), try row.optionalString("last_error"))
    }

    /// Decodes and commits `current` (one transaction), retrying database and broker outages with
    /// backoff. With `careful`, any other failure is returned instead of retried; with `exhausted`,
    /// the message is dead-lettered with that reason without being applied.
    private func applyBatch(
        _ messages: [KafkaMessage], startedMicros: Int64, careful: Bool, exhausted: MessageRejection? = nil
    ) -> BatchResult {
        var current = messages
        var attempt = decode(messages, exhausted: exhausted)
        var backoff = Backoff(initialMs: configuration.retryBackoffInitialMs, maxMs: configuration.retryBackoffMaxMs)
        while true {
            do {
                let committed = try commit(attempt, batch: current)
                finish(committed, batch: current, startedMicros: startedMicros)
                return .committed
            } catch BatchFailure.rejected(let index, let rejection) {
                let message = attempt.decoded.remove(at: index).message
                attempt.rejected.append((message, rejection))
            } catch let error as PGError where error.kind == .server && Self.isDataError(error) && !attempt.isolate {
                // Some message's data broke a constraint: apply one at a time to find it.
                logger.warning("batch hit a data error; isolating messages", metadata: ["error": .string(error.description)])
                attempt.isolate = true
            } catch let fenced as FencedOut {
                // Either another replica claimed these partitions (their epoch moved on), or an
                // earlier attempt of this very batch committed and only the reply to its COMMIT was
                // lost (the epoch is still ours and the offsets are already past the batch).
                let recorded: [TopicPartition: PartitionOwnership]
                do {
                    recorded = try recordedOwnership(fenced.partitions)
                } catch {
                    metrics.retried(.batch)
                    logger.warning("reading partition ownership failed; retrying", metadata: ["error": .string("\(error)")])
                    sleep(milliseconds: backoff.nextDelayMs(), unless: stop)
                    if stop.current { return .stopped }
                    continue
                }
                settle(fenced, recorded: recorded, current: &current, attempt: &attempt)
                publishProgress()
                if current.isEmpty { return .committed }
            } catch {
                if !Self.isOutage(error) {
                    // Not an outage: the batch itself may be at fault. Retried (forever) only as a
                    // whole outage would be; the caller applies its messages one at a time instead.
                    logger.warning("batch failed", metadata: ["error": .string("\(error)"), "messages": .of(current.count)])
                    return .failed("\(error)")
                }
                metrics.retried(.batch)
                logger.warning(
                    "batch failed; retrying", metadata: ["error": .string("\(error)"), "attempt": .of(backoff.attempt + 1)])
                sleep(milliseconds: backoff.nextDelayMs(), unless: stop)
                if stop.current {
                    // Abandoned: nothing committed, offsets not stored; the batch is replayed later.
                    logger.info(
                        "stopping with an uncommitted batch; it will be replayed", metadata: ["messages": .of(current.count)])
                    return .stopped
                }
            }
        }
    }

    /// Decodes each message once; one over the size limit or that cannot be decoded is rejected
    /// with its reason. With `exhausted`, every message is rejected with that reason instead.
    private func decode(_ messages: [KafkaMessage], exhausted: MessageRejection?) -> Attempt {
        var attempt = Attempt(decoded: [], rejected: [])
        if let exhausted {
            attempt.rejected = messages.map { ($0, exhausted) }
            return attempt
        }
        for message in messages {
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
        return attempt
    }

    /// After a fence refused the batch: partitions another replica claimed are dropped, and those
    /// an earlier attempt of this very batch committed move on; what is left to apply stays in
    /// `current` and `attempt`.
    private func settle(
        _ fenced: FencedOut, recorded: [TopicPartition: PartitionOwnership], current: inout [KafkaMessage],
        attempt: inout Attempt
    ) {
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
                metadata: ["partitions": .string(applied.keys.sorted().map(\.description).joined(separator: ","))])
            for (partition, next) in applied { owned[partition]?.nextOffset = next }
            consumer.storeOffsets(applied)
        }
        if !lost.isEmpty {
            metrics.fencedBatches.increment()
            logger.warning(
                "partitions were claimed by another replica; dropping their messages",
                metadata: ["partitions": .string(lost.map(\.description).joined(separator: ","))])
            for partition in lost { fenceOff(partition) }
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

    /// SQLSTATE classes 22 (data exception), 23 (integrity constraint violation) and 54 (program
    /// limit exceeded, e.g. 54000 an index row too large): the input, not the system, is at fault,
    /// so retrying the same batch would fail forever.
    static func isDataError(_ error: PGError) -> Bool {
        guard let state = error.sqlState else { return false }
        return state.hasPrefix("22") || state.hasPrefix("23") || state.hasPrefix("54")
    }

    /// The database or the broker is unavailable, or a conflict or lock wait that passes: retried
    /// with backoff as long as it lasts, never counted against a message.
    static func isOutage(_ error: any Error) -> Bool {
        if let error = error as? PGError { return error.isTransient }
        return error is KafkaError
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

    /// One owned partition's row in the batch's fence: its ownership as recorded, the offset the
    /// batch moves it to, and the fingerprint of the batch's last message on it.
    private struct FenceRow {
        var partition: TopicPartition
        var ownership: PartitionOwnership
        var next: Int64
        var fingerprint: String
    }

    /// The batch's transaction: BEGIN travels with the first statements (the fence, the inbox and
    /// the handler's opening reads) and COMMIT with the last, so a batch costs two round trips plus
    /// whatever the handler could not send in the first.
    private func commitInTransaction(
        _ attempt: Attempt, batch: [KafkaMessage], connection: PGConnection
    ) throws -> Committed {
        let (fence, gaps) = fenceAndGaps(batch)
        let withIDs = attempt.decoded.filter { $0.eventID != nil }
        let opening = attempt.isolate ? nil : handler.opening(attempt.decoded)
        var statements = [PGStatement("BEGIN"), fenceStatement(fence)]
        if !withIDs.isEmpty { statements.append(inboxStatement(withIDs)) }
        let openingStart = statements.count
        statements += opening?.statements ?? []
        let allResults = try connection.pipeline(statements)
        let results = Array(allResults[1..<openingStart])
        if results[0].count != fence.count {
            var advanced = Set<TopicPartition>()
            for row in results[0].rows {
                advanced.insert(TopicPartition(topic: try row.string(0), partition: Int32(try row.int(1))))
            }
            throw FencedOut(partitions: fence.map(\.partition).filter { !advanced.contains($0) })
        }
        let (fresh, duplicates) = freshMessages(
            attempt.decoded, newIDs: withIDs.isEmpty ? nil : Set(results[1].values.compactMap { $0[0] }))

        let context = BatchContext(
            connection: connection, service: configuration.service, logger: logger,
            topicSuffix: configuration.topicSuffix,
            generations: Dictionary(uniqueKeysWithValues: fence.map { ($0.partition, $0.ownership.generation) }),
            messages: batch)
        if let opening {
            context.opened = OpenedBatch(plan: opening.plan, results: Array(allResults[openingStart...]))
        }
        var rejected = attempt.rejected
        if attempt.isolate {
            rejected += try applyIsolated(fresh, in: context)
        } else if !fresh.isEmpty {
            try handler.apply(fresh, in: context)
        }
        let outboxRow = try close(context, gaps: gaps, rejected: rejected)
        return Committed(
            applied: fresh.count, duplicates: duplicates, rejected: rejected, gaps: gaps,
            nextOffsets: Dictionary(uniqueKeysWithValues: fence.map { ($0.partition, $0.next) }),
            fingerprints: Dictionary(uniqueKeysWithValues: fence.map { ($0.partition, $0.fingerprint) }),
            counts: context.counts, outboxRow: outboxRow)
    }

    /// Per owned partition: the recorded ownership, where the batch ends, and any jump between
    /// the recorded offset and the batch's first message.
    private func fenceAndGaps(_ batch: [KafkaMessage]) -> ([FenceRow], [OffsetGap]) {
        var ranges: [TopicPartition: (first: Int64, last: KafkaMessage)] = [:]
        for message in batch {
            let range = ranges[message.topicPartition] ?? (message.offset, message)
            ranges[message.topicPartition] = (
                min(range.first, message.offset), message.offset > range.last.offset ? message : range.last
            )
        }
        var fence: [FenceRow] = []
        var gaps: [OffsetGap] = []
        for (partition, range) in ranges.sorted(by: { $0.key < $1.key }) {
            guard let ownership = owned[partition] else { continue }
            fence.append(
                FenceRow(
                    partition: partition, ownership: ownership, next: range.last.offset + 1,
                    fingerprint: Self.fingerprint(range.last)))
            if range.first > ownership.nextOffset {
                gaps.append(
                    OffsetGap(
                        partition: partition, expected: ownership.nextOffset, resumed: range.first,
                        detail: "messages missing between the recorded offset and the next message read",
                        generation: ownership.generation))
            }
        }
        return (fence, gaps)
    }

    /// Moves each partition's recorded offset only if this process still owns it at the offset it
    /// recorded: a row that does not come back means another owner took over.
    private func fenceStatement(_ fence: [FenceRow]) -> PGStatement {
        PGStatement(
            sql: """
                UPDATE \(schema).consumer_offsets AS o
                SET next_offset = v.next_offset, last_fingerprint = v.fingerprint, updated_at = now()
                FROM unnest($2::text[], $3::int[], $4::bigint[], $5::bigint[], $6::bigint[], $7::text[])
                    AS v(topic, partition, owner_epoch, expected_offset, next_offset, fingerprint)
                WHERE o.consumer_group = $1 AND o.topic = v.topic AND o.partition = v.partition
                  AND o.owner_epoch = v.owner_epoch AND o.next_offset = v.expected_offset
                RETURNING o.topic, o.partition
                """,
            parameters: [
                .text(configuration.consumerGroup), PGArray.strings(fence.map(\.partition.topic)),
                PGArray.integers(fence.map(\.partition.partition)), PGArray.integers(fence.map(\.ownership.epoch)),
                PGArray.integers(fence.map(\.ownership.nextOffset)), PGArray.integers(fence.map(\.next)),
                PGArray.strings(fence.map(\.fingerprint)),
            ], prepared: true)
    }

    private func inboxStatement(_ withIDs: [DecodedMessage<Handler.Payload>]) -> PGStatement {
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
            ], prepared: true)
    }

    /// Each event id applies once: first occurrence in this batch, and only if new to the inbox
    /// (`newIDs`, nil when no message carries an id).
    private func freshMessages(
        _ decoded: [DecodedMessage<Handler.Payload>], newIDs: Set<String>?
    ) -> (fresh: [DecodedMessage<Handler.Payload>], duplicates: Int) {
        guard var newIDs else { return (decoded, 0) }
        var fresh: [DecodedMessage<Handler.Payload>] = []
        var duplicates = 0
        for message in decoded {
            if let id = message.eventID {
                if newIDs.remove(id) != nil { fresh.append(message) } else { duplicates += 1 }
            } else {
                fresh.append(message)
            }
        }
        return (fresh, duplicates)
    }

    /// One message at a time, each whole inside its savepoint: its deferred writes run there
    /// too, so the next message reads what this one wrote (a statement line booked by one
    /// file is a duplicate in the next), and a message rolled back leaves no events behind.
    /// Returns the messages rejected.
    private func applyIsolated(
        _ fresh: [DecodedMessage<Handler.Payload>], in context: BatchContext
    ) throws -> [(KafkaMessage, MessageRejection)] {
        let connection = context.connection
        var rejected: [(KafkaMessage, MessageRejection)] = []
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
        return rejected
    }

    /// The handler's deferred writes, gaps, dead letters, the outbox row and COMMIT, in one round
    /// trip. Returns the committed outbox row for the relay.
    private func close(
        _ context: BatchContext, gaps: [OffsetGap], rejected: [(KafkaMessage, MessageRejection)]
    ) throws -> OutboxHandoff.Row? {
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
        let closed = try context.connection.pipeline(closing)
        guard let outboxIndex else { return nil }
        return OutboxHandoff.Row(id: try closed[outboxIndex][0].int64("id"), messages: context.outbox.map(\.message))
    }

    /// After COMMIT: advance local ownership, store offsets in Kafka, record metrics.
    private func finish(_ committed: Committed, batch: [KafkaMessage], startedMicros: Int64) {
        if let row = committed.outboxRow { handoff.offer(row) }
        let now = monotonicMs()
        for (partition, next) in committed.nextOffsets {
            owned[partition]?.nextOffset = next
            owned[partition]?.fingerprint = committed.fingerprints[partition]
        }
        progressedAt.withLock { times in for partition in committed.nextOffsets.keys { times[partition] = now } }
        publishProgress()
        consumer.storeOffsets(committed.nextOffsets)
        recordCommitLatency(batch)
        metrics.batchDuration.recordMicroseconds(monotonicMicros() - startedMicros)
        metrics.processed.increment(by: committed.applied)
        if committed.duplicates > 0 {
            metrics.duplicates.increment(by: committed.duplicates)
        }
        for gap in committed.gaps { reportGap(gap) }
        for count in committed.counts { metrics.metrics.counter(count.name, count.labels).increment(by: count.amount) }
        for (message, rejection) in committed.rejected {
            metrics.deadLettered[message.topic]?.increment()
            logger.warning(
                "message dead-lettered",
                metadata: [
                    "topic": .string(message.topic), "partition": .of(message.partition), "offset": .of(message.offset),
                    "reason_code": .string(rejection.code), "reason": .string(rejection.reason),
                ])
        }
    }

    /// Latency from each message's produce time to this commit.
    private func recordCommitLatency(_ messages: [KafkaMessage]) {
        let nowMs = wallClockMs()
        // A producer's clock ahead of ours counts as no latency rather than a negative one.
        for producedMs in messages.lazy.compactMap(\.timestampMs) {
            metrics.commitLatency.recordMicroseconds(max(0, nowMs - producedMs) * 1_000)
        }
    }

    // MARK: SQL for the closing round trip

    /// Loud, after the gap's row committed: an error line and the gap counter.
    private func reportGap(_ gap: OffsetGap) {
        metrics.offsetGaps.increment()
        gapAlarm.withLock {
            $0.count += 1
            $0.last =
                "\(UTCClock.timestamp()) \(gap.partition) \(gap.kind.rawValue): expected \(gap.expected), resumed at \(gap.resumed) (generation \(gap.generation)): \(gap.detail)"
        }
        logger.error(
            "offset gap: messages were lost before this worker read them",
            metadata: [
                "partition": .string(gap.partition.description), "expected": .of(gap.expected),
                "resumed": .of(gap.resumed), "detail": .string(gap.detail),
            ])
    }

    private func gapStatement(_ gaps: [OffsetGap]) -> PGStatement {
        PGStatement(
            sql: """
                INSERT INTO \(schema).offset_gaps
                    (consumer_group, topic, partition, expected_offset, resumed_offset, detail, kind, log_generation)
                SELECT $1, * FROM unnest($2::text[], $3::int[], $4::bigint[], $5::bigint[], $6::text[], $7::text[],
                    $8::int[])
                """,
            parameters: [
                .text(configuration.consumerGroup), PGArray.strings(gaps.map(\.partition.topic)),
                PGArray.integers(gaps.map(\.partition.partition)), PGArray.integers(gaps.map(\.expected)),
                PGArray.integers(gaps.map(\.resumed)), PGArray.strings(gaps.map(\.detail)),
                PGArray.strings(gaps.map(\.kind.rawValue)), PGArray.integers(gaps.map(\.generation)),
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
                    (event_id, source_topic, source_partition, source_offset, message_key, headers, payload, reason_code,
                     reason, log_generation)
                SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[], $5::bytea[], $6::bytea[], $7::bytea[],
                    $8::text[], $9::text[], $10::int[])
                """,
            parameters: [
                PGArray.strings(messages.map { $0.headers.text("ce_id").map(Self.storable) }),
                PGArray.strings(messages.map(\.topic)),
                PGArray.integers(messages.map(\.partition)), PGArray.integers(messages.map(\.offset)),
                PGArray.byteStrings(messages.map(\.key)),
                PGArray.byteStrings(messages.map { HeaderCodec.encode($0.headers) }),
                PGArray.byteStrings(messages.map(\.value)), PGArray.strings(rejected.map { Self.storable($0.1.code) }),
                PGArray.strings(rejected.map { Self.storable($0.1.reason) }),
                PGArray.integers(messages.map { owned[$0.topicPartition]?.generation ?? 0 }),
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
                KafkaHeader(name: DeadLetterHeaders.recordedAt, text: UTCClock.timestamp()),
            ]
        return OutboxEntry(
            message: KafkaOutgoingMessage(
                topic: Topics.deadLetter.name + configuration.topicSuffix, key: message.key,
                value: oversized ? [] : message.value, headers: headers),
            eventID: nil)
    }

    // MARK: Restarted and truncated logs

    /// A short, stable fingerprint of a message (FNV-1a over its timestamp, key and value): enough
    /// to tell whether the message at an offset is the one read there before. Not a security check.
    static func fingerprint(_ message: KafkaMessage) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ byte: UInt8) {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        var timestamp = UInt64(bitPattern: message.timestampMs ?? -1)
        for _ in 0..<8 {
            mix(UInt8(truncatingIfNeeded: timestamp))
            timestamp >>= 8
        }
        if let key = message.key {
            mix(1)
            for byte in key { mix(byte) }
        } else {
            mix(0)
        }
        mix(0xff)
        for byte in message.value { mix(byte) }
        return Hex.encode(hash)
    }

    /// Checks the first message read after a claim against the recorded fingerprint of the last
    /// message applied. Returns false when the log started over (a new generation has begun and the
    /// partition was sought to its start; the poll's other messages of it are to be dropped).
    private func verify(_ message: KafkaMessage, at verifyAt: Int64) -> Bool {
        let partition = message.topicPartition
        guard let ownership = owned[partition] else { return true }
        owned[partition]?.verifyAt = nil
        if message.offset > verifyAt {
            // The last message applied is gone (compaction or retention removed it just now), and
            // the log still reaches past it: nothing says it started over.
            logger.warning(
                "the last message applied could not be read again; resuming without checking it",
                metadata: ["partition": .string(partition.description), "offset": .of(verifyAt)])
            return true
        }
        guard let recorded = ownership.fingerprint, recorded != Self.fingerprint(message) else { return true }
        startNewGeneration(
            partition,
            detail: "log restarted: the message at offset \(verifyAt) is not the one applied there before")
        return false
    }

    /// The partition's wanted offset is outside its log. If the log ends before what was applied,
    /// it started over: a new generation from its start. If retention removed messages before they
    /// were read, record the jump loudly and resume at the log's start: they cannot be read any
    /// more, and stopping would lose nothing less.
    private func recoverFromOffsetOutOfRange(_ partition: TopicPartition, detail: String) {
        guard let ownership = owned[partition] else { return }
        var backoff = Backoff(initialMs: configuration.retryBackoffInitialMs, maxMs: configuration.retryBackoffMaxMs)
        while !stop.current {
            do {
                let marks = try consumer.queryWatermarks(partition, timeoutMs: 5_000)
                let applied = ownership.nextOffset
                // (A log ending exactly at the last message applied is not out of range: the message
                // produced there next fails its fingerprint check instead.)
                if applied > marks.high {
                    startNewGeneration(
                        partition,
                        detail: "log restarted: \(applied) messages were applied, and the log now ends at \(marks.high)",
                        marks: marks, afterOutOfRange: true)
                    return
                }
                owned[partition]?.verifyAt = nil
                let resume = max(marks.low, applied)
                if resume != applied {
                    let gap = OffsetGap(
                        partition: partition, expected: applied, resumed: resume,
                        detail: "retention removed messages before they were read (\(detail))",
                        generation: ownership.generation)
                    guard try moveRecordedPosition(partition, from: ownership, to: resume, gap: gap) else {
                        fenceOff(partition)
                        return
                    }
                    reportGap(gap)
                }
                owned[partition]?.nextOffset = resume
                publishProgress()
                seek(partition, to: resume, afterOutOfRange: true)
                return
            } catch {
                metrics.retried(.offsetReset)
                logger.warning("recovering from offset out of range failed; retrying", metadata: ["error": .string("\(error)")])
                sleep(milliseconds: backoff.nextDelayMs(), unless: stop)
            }
        }
    }

    /// The partition's log is not the one its recorded progress belongs to: record the restart,
    /// begin the next generation at the log's start, and read from there. What was applied stays
    /// applied; the new log's messages are new input (content is never identified by offset).
    private func startNewGeneration(
        _ partition: TopicPartition, detail: String, marks known: (low: Int64, high: Int64)? = nil,
        afterOutOfRange: Bool = false
    ) {
        guard let ownership = owned[partition] else { return }
        var backoff = Backoff(initialMs: configuration.retryBackoffInitialMs, maxMs: configuration.retryBackoffMaxMs)
        while !stop.current {
            do {
                let marks = try known ?? consumer.queryWatermarks(partition, timeoutMs: 5_000)
                let gap = OffsetGap(
                    partition: partition, expected: ownership.nextOffset, resumed: marks.low, detail: detail,
                    kind: .logRestart, generation: ownership.generation + 1)
                guard try moveRecordedPosition(partition, from: ownership, to: marks.low, gap: gap) else {
                    fenceOff(partition)
                    return
                }
                owned[partition] = PartitionOwnership(
                    epoch: ownership.epoch, nextOffset: marks.low, generation: gap.generation)
                publishProgress()
                reportGap(gap)
                seek(partition, to: marks.low, afterOutOfRange: afterOutOfRange)
                return
            } catch {
                metrics.retried(.logRestart)
                logger.warning("starting a new log generation failed; retrying", metadata: ["error": .string("\(error)")])
                sleep(milliseconds: backoff.nextDelayMs(), unless: stop)
            }
        }
    }

    /// Moves the partition's fetch position once its recorded position moved; retried until it
    /// works, the partition is revoked, or the worker stops. After an offset out of range the
    /// partition is assigned again at the offset (a seek does not apply to it then).
    private func seek(_ partition: TopicPartition, to offset: Int64, afterOutOfRange: Bool = false) {
        var backoff = Backoff(initialMs: configuration.retryBackoffInitialMs, maxMs: configuration.retryBackoffMaxMs)
        while !stop.current, owned[partition] != nil {
            do {
                if afterOutOfRange {
                    try consumer.restartFetch(
                        partition, at: offset, others: owned.mapValues { $0.verifyAt ?? $0.nextOffset })
                } else {
                    try consumer.seek(partition, to: offset, timeoutMs: 5_000)
                }
                return
            } catch {
                metrics.retried(.seek)
                logger.warning(
                    "seeking failed; retrying",
                    metadata: ["partition": .string(partition.description), "offset": .of(offset), "error": .string("\(error)")])
                sleep(milliseconds: backoff.nextDelayMs(), unless: stop)
            }
        }
    }

    /// Moves the recorded position (fenced by epoch, generation and offset) and records the jump,
    /// in one transaction. False when the partition is no longer ours.
    private func moveRecordedPosition(
        _ partition: TopicPartition, from ownership: PartitionOwnership, to offset: Int64, gap: OffsetGap
    ) throws -> Bool {
        try database.transaction { connection in
            let updated = try connection.query(
                """
                UPDATE \(schema).consumer_offsets
                SET next_offset = $5, log_generation = $7,
                    last_fingerprint = CASE WHEN log_generation = $7 THEN last_fingerprint END, updated_at = now()
                WHERE consumer_group = $1 AND topic = $2 AND partition = $3 AND owner_epoch = $4 AND next_offset = $6
                  AND log_generation = $8
                """,
                [
                    configuration.consumerGroup, partition.topic, partition.partition, ownership.epoch, offset,
                    ownership.nextOffset, gap.generation, ownership.generation,
                ])
            guard updated.affectedRowCount == 1 else { return false }
            try connection.run(gapStatement([gap]))
            return true
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
