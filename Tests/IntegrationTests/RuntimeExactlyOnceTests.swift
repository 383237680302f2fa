import BillingKafka
import BillingPostgres
import BillingRuntime
import BillingSupport
import Foundation
import Testing

extension Integration {
    @Suite("effectively once")
    struct EffectivelyOnce {
        /// Checks the three promises: each message applied once, PostgreSQL's offsets at the log
        /// ends, every outbox row sent and each output event on the output topic.
        static func verifyExactlyOnce(_ traffic: ProbeTraffic, count: Int64, timeoutMs: Int = 120_000) throws {
            try eventually(timeoutMs: timeoutMs, "all \(count) probe messages applied") {
                try traffic.appliedCount() >= count
            }
            #expect(try traffic.appliedCount() == count, "every message applied exactly once (rows)")
            #expect(try traffic.distinctAppliedCount() == count, "every message applied (distinct sequence numbers)")
            let ends = try traffic.inputEndOffsets()
            #expect(try traffic.recordedOffsets() == ends, "offsets in PostgreSQL equal the partitions' end offsets")
            try eventually(timeoutMs: 60_000, "outbox drained") {
                try traffic.database.scalar("SELECT count(*) FROM probe.outbox WHERE sent_at IS NULL") == 0
            }
            #expect(try traffic.database.scalar("SELECT count(*) FROM probe.outbox_messages") == count)
            let published = try traffic.readAll(traffic.outputTopic)
            let ids = Set(published.compactMap { $0.headers.text("ce_id") })
            #expect(ids.count == Int(count), "every outbox event was published (duplicates allowed, losses not)")
        }

        @Test("SIGKILL at random points while messages flow: every message applied once", .timeLimit(.minutes(6)))
        func killedRepeatedly() throws {
            let stack = try TestStack.fromEnvironment()
            let database = try TestDatabase.create(stack)
            defer { database.drop() }
            let traffic = try ProbeTraffic.make(stack, database)
            let seed = UInt64.random(in: 1...UInt64.max)
            print("kill test seed \(seed)")
            var random = SplitMix64(seed: seed)

            let worker = try traffic.startWorker(["WORKER_POLL_BATCH_COUNT_MAX": "300"])
            let producer = try KafkaProducer(configuration: stack.kafka)
            defer { producer.close(timeoutMs: 5_000) }
            let produced = Locked<Int64>(0)
            let stopFeeding = Locked(false)
            let failure = Locked<String?>(nil)
            // A producer on its own thread, feeding ~400 messages/s until the kills are over
            // (paced to stay well inside dev-kafka's retention of about 5 MiB per partition).
            let feeder = DedicatedThread.start(name: "feeder") {
                do {
                    let chunk: Int64 = 40
                    var next: Int64 = 0
                    while !stopFeeding.current {
                        try traffic.produce(next..<next + chunk, producer: producer)
                        next += chunk
                        produced.withLock { $0 = next }
                        sleepThread(milliseconds: 100)
                    }
                } catch {
                    failure.withLock { $0 = "\(error)" }
                }
            }

            // Should the test end early (a thrown error), the feeder stops before its producer closes.
            defer {
                stopFeeding.withLock { $0 = true }
                _ = feeder.join(timeoutMs: 120_000)
            }

            // Each kill lands while the current instance is applying batches: wait until it has
            // made progress since it started, then a random moment later, SIGKILL.
            var kills = 0
            var appliedAtStart = try traffic.appliedCount()
            while kills < 6 {
                try eventually(timeoutMs: 60_000, "instance \(kills + 1) applying messages") {
                    try traffic.appliedCount() > appliedAtStart
                }
                sleepThread(milliseconds: Int(random.next() % 1_500))
                worker.kill()
                kills += 1
                appliedAtStart = try traffic.appliedCount()
                print("kill \(kills) at \(appliedAtStart) applied, \(produced.current) produced")
                try worker.start()
                _ = try worker.waitForOpsPort()
            }
            stopFeeding.withLock { $0 = true }
            #expect(feeder.join(timeoutMs: 120_000), "the feeder finished")
            #expect(failure.current == nil, "producing failed: \(failure.current ?? "")")
            let total = produced.current
            print("produced \(total) messages across \(kills) kills")
            try Self.verifyExactlyOnce(traffic, count: total)
            #expect(worker.terminate() == 0, "a SIGTERM stop exits 0")
        }

        /// The relay takes its own loops' rows in memory and other writers' rows from the table:
        /// with no failure, every event goes out exactly once, whichever way it came. With a small
        /// `OUTBOX_BATCH_COUNT_MAX`, small batches and a relay that lingers long per round, the
        /// handoff's capacity (two rounds' worth) is soon full, and most rows reach the relay by id
        /// only, to be read from the table in their turn.
        @Test(
            "the relay publishes own and foreign outbox rows once each", .timeLimit(.minutes(4)),
            arguments: [false, true])
        func ownAndForeignRowsOnce(relayBehind: Bool) throws {
            let stack = try TestStack.fromEnvironment()
            let database = try TestDatabase.create(stack)
            defer { database.drop() }
            let traffic = try ProbeTraffic.make(stack, database)
            // A backlog first, so that batches are large and come faster than a small budget sends.
            let producer = try KafkaProducer(configuration: stack.kafka)
            defer { producer.close(timeoutMs: 5_000) }
            try traffic.produce(0..<1_500, producer: producer)
            let worker = try traffic.startWorker(
                ["OUTBOX_IDLE_WAIT_MS": "500"].merging(
                    relayBehind
                        ? ["OUTBOX_BATCH_COUNT_MAX": "100", "WORKER_POLL_BATCH_COUNT_MAX": "50", "KAFKA_LINGER_MS": "200"]
                        : [:]
                ) { _, new in new })

            // Rows as another replica would commit them: one announced by a NOTIFY with another
            // process's token, one with no NOTIFY at all (found by the relay's regular table read).
            func foreignRow(_ id: String, notify: Bool) throws {
                let headers = HeaderCodec.encode([KafkaHeader(name: "ce_id", text: id)])
                try database.query(
                    """
                    WITH row AS (
                        INSERT INTO probe.outbox (topics, message_keys, headers, payloads, event_ids)
                        VALUES (ARRAY[$1], ARRAY[convert_to('foreign', 'UTF8')], $2::bytea[],
                                ARRAY[convert_to($3, 'UTF8')], ARRAY[$3])
                        RETURNING id)
                    SELECT id, CASE WHEN $4 THEN pg_notify('billing_outbox_probe', 'another-process') END FROM row
                    """, [traffic.outputTopic, PGArray.byteStrings([headers]), id, notify ? "true" : "false"])
            }
            try foreignRow("foreign-notified", notify: true)
            try traffic.produce(1_500..<3_000, producer: producer)
            try foreignRow("foreign-silent", notify: false)

            try eventually(timeoutMs: 120_000, "all 3000 probe messages applied") { try traffic.appliedCount() >= 3_000 }
            try eventually(timeoutMs: 60_000, "outbox drained") {
                try database.scalar("SELECT count(*) FROM probe.outbox WHERE sent_at IS NULL") == 0
            }
            let published = try traffic.readAll(traffic.outputTopic)
            let ids = published.compactMap { $0.headers.text("ce_id") }
            #expect(Set(ids).count == 3_002, "every event published")
            #expect(ids.count == 3_002, "no event published twice")
            #expect(ids.contains("foreign-notified") && ids.contains("foreign-silent"))
            // Each key's events in the order of its inputs (the probe keys its output by the input's key).
            var lastSeq: [String: Int64] = [:]
            var outOfOrder = 0
            for message in published.sorted(by: { ($0.partition, $0.offset) < ($1.partition, $1.offset) }) {
                let text = String(decoding: message.value, as: UTF8.self)
                guard let key = message.key.map({ String(decoding: $0, as: UTF8.self) }), key != "foreign",
                    let range = text.range(of: "\"seq\":"),
                    let seq = Int64(text[range.upperBound...].prefix { $0.isNumber })
                else { continue }
                if let last = lastSeq[key], seq <= last { outOfOrder += 1 }
                lastSeq[key] = seq
            }
            #expect(lastSeq.count == 97, "every probe key seen")
            #expect(outOfOrder == 0, "\(outOfOrder) events came after a later event of their key")
            let fromTable = worker.metric("billing_outbox_table_read_total")
            if !relayBehind {
                // The worker's own events came in memory: the table gave the two foreign ones, plus
                // at most a few read between a batch's COMMIT and its handoff.
                #expect(fromTable >= 2 && fromTable < 300, "\(fromTable) events read back from the table")
            } else {
                #expect(fromTable > 1_000, "\(fromTable) events read back from the table: rows handed by id")
            }
            #expect(worker.terminate() == 0)
        }

        /// A loop sends NOTIFY with its outbox row only while its own process's relay does not hold
        /// the relay lock: the active relay takes its own loops' rows in memory, and a NOTIFY holds
        /// the database's notify lock through the COMMIT. Rows of a replica whose relay waits are
        /// still announced, and published.
        ///
        /// (Not asserted: how soon. A table read is bounded by the round's budget and by the oldest
        /// row still waiting in the handoff, and what it leaves waits for the next NOTIFY or
        /// `OUTBOX_IDLE_WAIT_MS`; with a minute's idle wait, CI once saw foreign rows unsent after 40 s.)
        @Test("only replicas whose relay waits announce their rows with NOTIFY", .timeLimit(.minutes(4)))
        func notifyOnlyFromWaitingRelays() throws {
            let stack = try TestStack.fromEnvironment()
            let database = try TestDatabase.create(stack)
            defer { database.drop() }
            let traffic = try ProbeTraffic.make(stack, database)
            let listener = try database.connect()
            defer { listener.close() }
            try listener.query("LISTEN billing_outbox_probe")
            func notifications(waitingMs: Int32) throws -> [PGNotification] {
                var all = try listener.pendingNotifications()
                while true {
                    let more = try listener.waitForNotifications(timeoutMs: waitingMs, wakeDescriptor: -1)
                    if more.isEmpty { return all }
                    all += more
                }
            }
            let first = try traffic.startWorker()
            try eventually(timeoutMs: 30_000, "the first replica's relay holds the lock") {
                try database.scalar(
                    """
                    SELECT count(*) FROM pg_locks
                    WHERE locktype = 'advisory' AND granted AND objsubid = 2
                      AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                      AND classid::bigint = hashtext('billing.outbox')::bigint & 4294967295
                    """) == 1
            }
            let producer = try KafkaProducer(configuration: stack.kafka)
            defer { producer.close(timeoutMs: 5_000) }
            try traffic.produce(0..<1_000, producer: producer)
            try eventually(timeoutMs: 60_000, "1000 probe messages applied") { try traffic.appliedCount() >= 1_000 }
            #expect(try notifications(waitingMs: 500).isEmpty, "the lock holder's loops sent no NOTIFY")

            let second = try traffic.startWorker()
            try eventually(timeoutMs: 60_000, "the second replica owns partitions") { try traffic.ownerCount() == 2 }
            try traffic.produce(1_000..<4_000, producer: producer)
            try Self.verifyExactlyOnce(traffic, count: 4_000)
            let announced = try notifications(waitingMs: 200)
            #expect(!announced.isEmpty, "the second replica announced its rows")
            #expect(Set(announced.map(\.payload)).count == 1, "all NOTIFYs came from one replica")
            #expect(first.terminate() == 0)
            #expect(second.terminate() == 0)
        }

        @Test("two replicas share the partitions and nothing is applied twice", .timeLimit(.minutes(4)))
        func twoReplicas() throws {
            let stack = try TestStack.fromEnvironment()
            let database = try TestDatabase.create(stack)
            defer { database.drop() }
            let traffic = try ProbeTraffic.make(stack, database)
            let first = try traffic.startWorker()
            let producer = try KafkaProducer(configuration: stack.kafka)
            defer { producer.close(timeoutMs: 5_000) }
            try traffic.produce(0..<3_000, producer: producer)
            let second = try traffic.startWorker()
            try traffic.produce(3_000..<8_000, producer: producer)
            try Self.verifyExactlyOnce(traffic, count: 8_000)
            #expect(try traffic.ownerCount() == 2, "both replicas own partitions")
            #expect(first.terminate() == 0)
            #expect(second.terminate() == 0)
        }
    }
}

/// A small seeded generator, so a failing run can be replayed from its printed seed.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
