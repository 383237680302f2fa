import BillingContracts
import BillingKafka
import BillingSupport
import Foundation
import Testing

extension Integration {
    /// A log can start over under the same name (a broker restarted empty, a topic made again).
    /// The worker's recorded progress then belongs to another log: reading on from it would skip
    /// the new log's first messages, and reading from 0 must not be refused as "seen before".
    @Suite("restarted logs")
    struct LogRestarts {
        /// What a restart looks like from the worker's side: its record says it applied `applied`
        /// messages of `from`'s partition, and the partition it finds is `to`'s (another log).
        static func pretendRestarted(_ database: TestDatabase, group: String, from: String, to: String) throws {
            try database.query(
                "UPDATE probe.consumer_offsets SET topic = $3 WHERE consumer_group = $1 AND topic = $2",
                [group, from, to])
        }

        static func restartRecord(_ database: TestDatabase, topic: String) throws -> (
            kind: String, expected: Int64, resumed: Int64, generation: Int64
        )? {
            let rows = try database.query(
                """
                SELECT kind, expected_offset, resumed_offset, log_generation FROM probe.offset_gaps
                WHERE topic = $1 ORDER BY id
                """, [topic])
            guard rows.count == 1 else { return nil }
            let row = rows[0]
            return (
                try row.string(0), try row.int64(1), try row.int64(2), try row.int64(3)
            )
        }

        /// A worker applies 20 messages of a 1-partition log and stops; then the log it finds is
        /// another (the returned traffic's topic, empty) under the recorded progress.
        static func appliedThenRestarted(_ stack: TestStack, _ database: TestDatabase, _ producer: KafkaProducer) throws
            -> ProbeTraffic
        {
            let first = try ProbeTraffic.make(stack, database, partitions: 1)
            let worker = try first.startWorker()
            try first.produce(0..<20, producer: producer)
            try eventually(timeoutMs: 60_000, "the first log's 20 applied") { try first.appliedCount() == 20 }
            #expect(worker.terminate() == 0)
            let restarted = ProbeTraffic(
                stack: stack, database: database,
                inputTopic: try stack.createTopic(prefix: "billing.probe.in", partitions: 1),
                outputTopic: first.outputTopic, group: first.group)
            try pretendRestarted(database, group: first.group, from: first.inputTopic, to: restarted.inputTopic)
            return restarted
        }

        @Test(
            "a log that started over and already holds more messages than were applied is read from its start",
            .timeLimit(.minutes(3)))
        func restartedLongerLog() throws {
            let stack = try TestStack.fromEnvironment()
            let database = try TestDatabase.create(stack)
            defer { database.drop() }
            let producer = try KafkaProducer(configuration: stack.kafka)
            defer { producer.close(timeoutMs: 5_000) }
            let restarted = try Self.appliedThenRestarted(stack, database, producer)
            try restarted.produce(0..<30, producer: producer)
            let second = try restarted.startWorker()
            // Before: the worker went on at offset 20 and never applied the new log's first 20.
            try eventually(timeoutMs: 60_000, "all 30 of the new log applied") { try restarted.appliedCount() >= 30 }
            sleepThread(milliseconds: 1_000)
            #expect(try restarted.appliedCount() == 30 && restarted.distinctAppliedCount() == 30)
            #expect(try restarted.recordedOffsets() == [0: 30])
            let record = try Self.restartRecord(database, topic: restarted.inputTopic)
            #expect(record?.kind == "log-restart" && record?.expected == 20 && record?.resumed == 0)
            #expect(record?.generation == 1)
            #expect(
                try database.scalar(
                    "SELECT log_generation FROM probe.consumer_offsets WHERE topic = $1", [restarted.inputTopic]) == 1)
            #expect(second.metric("billing_offset_gaps_total") == 1)
            let ready = second.get("/health/ready")
            #expect(ready?.status == 200, "a restarted log is an alarm, not a reason to be unready")
            #expect(ready?.body.contains("\"offset_gaps\":{\"count\":1") == true, "\(ready?.body ?? "")")
            #expect(second.log().contains("log restarted: the message at offset 19"))
            #expect(second.terminate() == 0)

            // And a restart of the same worker on the same log changes nothing: the fingerprint holds.
            let third = try restarted.startWorker()
            try restarted.produce(30..<35, producer: producer)
            try eventually(timeoutMs: 60_000, "the next 5 applied") { try restarted.appliedCount() >= 35 }
            sleepThread(milliseconds: 1_000)
            #expect(try restarted.appliedCount() == 35)
            #expect(try database.scalar("SELECT count(*) FROM probe.offset_gaps") == 1, "no new restart recorded")
            #expect(third.terminate() == 0)
        }

        @Test(
            "retention removed messages before they were read: the gap is recorded and the partition goes on",
            .timeLimit(.minutes(3)))
        func retentionGap() throws {
            let stack = try TestStack.fromEnvironment()
            let database = try TestDatabase.create(stack)
            defer { database.drop() }
            let traffic = try ProbeTraffic.make(stack, database, partitions: 1)
            let producer = try KafkaProducer(configuration: stack.kafka)
            defer { producer.close(timeoutMs: 5_000) }
            // dev-kafka keeps about 5 MiB a partition: 16 messages of 512 KiB push the first ones out.
            let padding = KafkaHeader(name: "padding", value: [UInt8](repeating: 0x2e, count: 512 << 10))
            for seq in Int64(0)..<16 {
                let message = traffic.message(seq: seq)
                let padded = KafkaOutgoingMessage(
                    topic: message.topic, key: message.key, value: message.value, headers: message.headers + [padding])
                #expect(try producer.send([padded], timeoutMs: 30_000).allSatisfy { $0.isDelivered })
            }
            let low = try #require(try traffic.watermarks(traffic.inputTopic)[0]).low
            try #require(low > 0, "retention dropped the first messages")
            let worker = try traffic.startWorker()
            try eventually(timeoutMs: 60_000, "what is left applied") { try traffic.appliedCount() >= 16 - low }
            try traffic.produce(16..<20, producer: producer)
            try eventually(timeoutMs: 60_000, "and what follows") { try traffic.appliedCount() >= 20 - low }
            sleepThread(milliseconds: 1_000)
            #expect(try traffic.appliedCount() == 20 - low)
            #expect(try traffic.recordedOffsets() == [0: 20])
            let record = try Self.restartRecord(database, topic: traffic.inputTopic)
            #expect(record?.kind == "gap" && record?.expected == 0 && record?.resumed == low && record?.generation == 0)
            #expect(worker.metric("billing_offset_gaps_total") == 1)
            #expect(worker.get("/health/ready")?.status == 200)
            #expect(worker.terminate() == 0)
        }

        @Test(
            "a log that started over and is shorter than what was applied is read from its start",
            .timeLimit(.minutes(3)))
        func restartedShorterLog() throws {
            let stack = try TestStack.fromEnvironment()
            let database = try TestDatabase.create(stack)
            defer { database.drop() }
            let producer = try KafkaProducer(configuration: stack.kafka)
            defer { producer.close(timeoutMs: 5_000) }
            let restarted = try Self.appliedThenRestarted(stack, database, producer)
            try restarted.produce(0..<5, producer: producer)
            let second = try restarted.startWorker()
            try eventually(timeoutMs: 60_000, "the new log's 5 applied") { try restarted.appliedCount() >= 5 }
            try restarted.produce(5..<8, producer: producer)
            try eventually(timeoutMs: 60_000, "and what follows") { try restarted.appliedCount() >= 8 }
            sleepThread(milliseconds: 1_000)
            #expect(try restarted.appliedCount() == 8)
            #expect(try restarted.recordedOffsets() == [0: 8])
            let record = try Self.restartRecord(database, topic: restarted.inputTopic)
            #expect(record?.kind == "log-restart" && record?.expected == 20 && record?.resumed == 0)
            #expect(second.metric("billing_offset_gaps_total") == 1)
            #expect(second.terminate() == 0)
        }
    }
}
