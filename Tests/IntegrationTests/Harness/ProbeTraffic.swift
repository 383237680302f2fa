import BillingContracts
import BillingKafka
import BillingRuntime
import BillingSupport
import Foundation

/// Produces `billing.probe.message.v1` events and reads what the probe worker published.
struct ProbeTraffic: Sendable {
    let stack: TestStack
    let database: TestDatabase
    let inputTopic: String
    let outputTopic: String
    let group: String
    let runID = UUID().uuidString

    static func make(_ stack: TestStack, _ database: TestDatabase, partitions: Int = 6) throws -> ProbeTraffic {
        ProbeTraffic(
            stack: stack, database: database,
            inputTopic: try stack.createTopic(prefix: "billing.probe.in", partitions: partitions),
            outputTopic: try stack.createTopic(prefix: "billing.probe.out", partitions: partitions),
            group: "probe-\(UUID().uuidString.prefix(8))")
    }

    /// The environment of a probe worker for this traffic.
    func workerEnvironment(_ extra: [String: String] = [:]) -> [String: String] {
        [
            "DATABASE_URL": database.url(role: "billing_probe"), "BILLING_MIGRATION_DATABASE_URL": database.ownerURL,
            "KAFKA_BOOTSTRAP_SERVERS": stack.bootstrapServers, "KAFKA_SESSION_TIMEOUT_MS": "6000",
            "KAFKA_HEARTBEAT_INTERVAL_MS": "1000", "WORKER_TOPICS": inputTopic, "PROBE_OUTPUT_TOPIC": outputTopic,
            "WORKER_CONSUMER_GROUP": group, "OPS_PORT": "0", "LOG_LEVEL": "info",
        ].merging(extra) { _, new in new }
    }

    func startWorker(_ extra: [String: String] = [:]) throws -> WorkerProcess {
        let worker = WorkerProcess(stack: stack, executable: "runtime-probe", environment: workerEnvironment(extra))
        try worker.start()
        _ = try worker.waitForOpsPort()
        return worker
    }

    /// Probe message `seq`; with `fault` (`error`, `crash`) for a worker started with
    /// `PROBE_FAULTS_ENABLED=true`, and `runID` to give it another run's id.
    func message(seq: Int64, fault: String? = nil, runID: String? = nil) -> KafkaOutgoingMessage {
        let faultField = fault.map { ",\"fault\":\"\($0)\"" } ?? ""
        let event = CloudEvent(
            id: "\(self.runID)-\(seq)", type: "billing.probe.message.v1", source: "tests", time: UTCClock.timestamp(),
            data: Array("{\"run_id\":\"\(runID ?? self.runID)\",\"seq\":\(seq)\(faultField)}".utf8))
        return KafkaOutgoingMessage(topic: inputTopic, key: "key-\(seq % 97)", event: event)
    }

    /// Produces messages `range` and waits until every one is acknowledged (retrying failures).
    func produce(_ range: Range<Int64>, producer: KafkaProducer) throws {
        var pending = Array(range)
        var rounds = 0
        while !pending.isEmpty {
            rounds += 1
            guard rounds <= 20 else { throw HarnessError("could not produce \(pending.count) probe messages") }
            let results = try producer.send(pending.map { message(seq: $0) }, timeoutMs: 60_000)
            pending = zip(pending, results).filter { !$0.1.isDelivered }.map(\.0)
        }
    }

    func appliedCount() throws -> Int64 {
        try database.scalar("SELECT count(*) FROM probe.applied WHERE run_id = $1", [runID])
    }

    /// How many worker instances own partitions of the probe's consumer group.
    func ownerCount() throws -> Int64 {
        try database.scalar(
            "SELECT count(DISTINCT owner) FROM probe.consumer_offsets WHERE consumer_group = $1", [group])
    }

    func distinctAppliedCount() throws -> Int64 {
        try database.scalar("SELECT count(DISTINCT message_seq) FROM probe.applied WHERE run_id = $1", [runID])
    }

    /// Every partition's end offset on the input topic.
    func inputEndOffsets() throws -> [Int32: Int64] {
        try endOffsets(inputTopic)
    }

    func endOffsets(_ topic: String) throws -> [Int32: Int64] {
        try watermarks(topic).mapValues(\.high)
    }

    /// Low and high watermarks of every partition of `topic`.
    func watermarks(_ topic: String) throws -> [Int32: (low: Int64, high: Int64)] {
        let reader = try KafkaConsumer(
            configuration: stack.kafka, groupID: "watermarks-\(UUID().uuidString.prefix(8))",
            handlers: KafkaRebalanceHandlers(assigned: { _ in [:] }, revoked: { _ in }))
        defer { reader.close(timeoutMs: 5_000) }
        let partitions = try reader.topics(timeoutMs: 10_000).first { $0.name == topic }?.partitionCount ?? 0
        var result: [Int32: (low: Int64, high: Int64)] = [:]
        for partition in 0..<Int32(partitions) {
            result[partition] = try reader.queryWatermarks(
                TopicPartition(topic: topic, partition: partition), timeoutMs: 10_000)
        }
        return result
    }

    /// The offsets the worker recorded in PostgreSQL for the input topic.
    func recordedOffsets() throws -> [Int32: Int64] {
        var result: [Int32: Int64] = [:]
        for row in try database.query(
            "SELECT partition, next_offset FROM probe.consumer_offsets WHERE consumer_group = $1 AND topic = $2",
            [group, inputTopic]
        ).rows {
            result[Int32(try row.int("partition"))] = try row.int64("next_offset")
        }
        return result
    }

    /// Reads a whole topic from the beginning and returns its messages.
    /// Fails loudly if retention already dropped the start of the log (dev-kafka keeps ~5 MiB per partition).
    func readAll(_ topic: String, timeoutMs: Int = 30_000) throws -> [KafkaMessage] {
        let marks = try watermarks(topic)
        if let truncated = marks.first(where: { $0.value.low > 0 }) {
            throw HarnessError(
                "\(topic)[\(truncated.key)] no longer starts at 0 (retention dropped \(truncated.value.low) messages)")
        }
        let ends = marks.mapValues(\.high)
        let reader = try KafkaConsumer(
            configuration: stack.kafka, groupID: "reader-\(UUID().uuidString.prefix(8))",
            handlers: KafkaRebalanceHandlers(
                assigned: { partitions in Dictionary(uniqueKeysWithValues: partitions.map { ($0, Int64(-2)) }) },
                revoked: { _ in }))
        defer { reader.close(timeoutMs: 5_000) }
        try reader.subscribe(topics: [topic])
        var messages: [KafkaMessage] = []
        var positions: [Int32: Int64] = [:]
        let deadline = monotonicMs() + Int64(timeoutMs)
        while ends.contains(where: { positions[$0.key, default: 0] < $0.value }) {
            guard monotonicMs() < deadline else { throw HarnessError("could not read all of \(topic)") }
            for event in reader.poll(countMax: 1_000, timeoutMs: 200) {
                if case .message(let message) = event {
                    messages.append(message)
                    positions[message.partition] = message.offset + 1
                }
            }
        }
        return messages
    }
}
