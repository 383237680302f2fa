import BillingContracts
import BillingKafka
import BillingSupport
import Foundation
import Testing

extension Integration {
    /// A message that can never be applied must not stop its partition for good: every failure,
    /// a crash included, is counted, and after `WORKER_ATTEMPTS_MAX` the message is dead-lettered.
    @Suite("messages that never succeed")
    struct PoisonMessages {
        static let environment = [
            "PROBE_FAULTS_ENABLED": "true", "WORKER_ATTEMPTS_MAX": "3", "WORKER_RETRY_BACKOFF_INITIAL_MS": "50",
            "WORKER_RETRY_BACKOFF_MAX_MS": "200",
        ]

        static func deadLetters(_ database: TestDatabase) throws -> [(code: String, reason: String)] {
            try database.query("SELECT reason_code, reason FROM probe.dead_letters ORDER BY id").rows.map {
                (try $0.string(0), try $0.string(1))
            }
        }

        @Test("a message whose handler always fails is dead-lettered after K attempts; the partition goes on")
        func alwaysFails() throws {
            let stack = try TestStack.fromEnvironment()
            let database = try TestDatabase.create(stack)
            defer { database.drop() }
            let traffic = try ProbeTraffic.make(stack, database, partitions: 1)
            let worker = try traffic.startWorker(Self.environment)
            let producer = try KafkaProducer(configuration: stack.kafka)
            defer { producer.close(timeoutMs: 5_000) }
            try LedgerScenario.send(
                (0..<10).map { traffic.message(seq: $0, fault: $0 == 4 ? "error" : nil) }, with: producer)
            try eventually(timeoutMs: 60_000, "the other 9 applied") { try traffic.appliedCount() >= 9 }
            try traffic.produce(10..<15, producer: producer)
            try eventually(timeoutMs: 60_000, "and what follows") { try traffic.appliedCount() >= 14 }
            sleepThread(milliseconds: 500)
            #expect(try traffic.appliedCount() == 14 && traffic.distinctAppliedCount() == 14)
            let dead = try Self.deadLetters(database)
            #expect(dead.count == 1)
            #expect(dead.first?.code == "attempts_exhausted", "\(dead)")
            #expect(dead.first?.reason.contains("probe fault: message 4 always fails") == true, "\(dead)")
            #expect(try traffic.recordedOffsets() == [0: 15])
            #expect(worker.terminate() == 0)
        }

        @Test("a message that crashes the worker every time is dead-lettered after K crashes", .timeLimit(.minutes(4)))
        func alwaysCrashes() throws {
            let stack = try TestStack.fromEnvironment()
            let database = try TestDatabase.create(stack)
            defer { database.drop() }
            let traffic = try ProbeTraffic.make(stack, database, partitions: 1)
            let producer = try KafkaProducer(configuration: stack.kafka)
            defer { producer.close(timeoutMs: 5_000) }
            try LedgerScenario.send(
                (0..<10).map { traffic.message(seq: $0, fault: $0 == 6 ? "crash" : nil) }, with: producer)
            // Restarted whenever it dies, as a supervisor (Kubernetes, systemd) would.
            var crashes = 0
            var worker = try traffic.startWorker(Self.environment)
            let deadline = monotonicMs() + 180_000
            while try traffic.appliedCount() < 9 {
                guard monotonicMs() < deadline else { throw HarnessError("not all applied; crashes: \(crashes)") }
                if !worker.isRunning {
                    crashes += 1
                    worker = try traffic.startWorker(Self.environment)
                }
                sleepThread(milliseconds: 200)
            }
            #expect(crashes >= 3 && crashes <= 5, "crashes: \(crashes)")
            #expect(try traffic.appliedCount() == 9 && traffic.distinctAppliedCount() == 9)
            let dead = try Self.deadLetters(database)
            #expect(dead.count == 1 && dead.first?.code == "attempts_exhausted", "\(dead)")
            #expect(worker.terminate() == 0)
        }

        @Test("a message over a database limit (SQLSTATE 54000) is dead-lettered at once, not retried")
        func overDatabaseLimit() throws {
            let stack = try TestStack.fromEnvironment()
            let database = try TestDatabase.create(stack)
            defer { database.drop() }
            let traffic = try ProbeTraffic.make(stack, database, partitions: 1)
            let worker = try traffic.startWorker(Self.environment.merging(["WORKER_ATTEMPTS_MAX": "1000"]) { _, new in new })
            let producer = try KafkaProducer(configuration: stack.kafka)
            defer { producer.close(timeoutMs: 5_000) }
            // An indexed text too large for a btree entry even compressed (random hex).
            var random = SystemRandomNumberGenerator()
            let huge = String((0..<12_000).map { _ in "0123456789abcdef".randomElement(using: &random)! })
            try LedgerScenario.send(
                (0..<5).map { traffic.message(seq: $0, runID: $0 == 2 ? huge : nil) }, with: producer)
            try eventually(timeoutMs: 60_000, "the other 4 applied") { try traffic.appliedCount() >= 4 }
            try eventually(timeoutMs: 30_000, "dead-lettered") { try Self.deadLetters(database).count == 1 }
            let dead = try Self.deadLetters(database)
            #expect(dead.first?.code == "data_error" && dead.first?.reason.contains("54000") == true, "\(dead)")
            #expect(worker.metric("billing_retries_total") == 0, "never retried")
            #expect(worker.terminate() == 0)
        }

        @Test("a partition held up by a failing message shows as stalled in readiness and in a metric")
        func stalledPartition() throws {
            let stack = try TestStack.fromEnvironment()
            let database = try TestDatabase.create(stack)
            defer { database.drop() }
            let traffic = try ProbeTraffic.make(stack, database, partitions: 1)
            let worker = try traffic.startWorker(
                Self.environment.merging(["WORKER_ATTEMPTS_MAX": "1000", "WORKER_STALL_AFTER_MS": "2000"]) { _, new in
                    new
                })
            let producer = try KafkaProducer(configuration: stack.kafka)
            defer { producer.close(timeoutMs: 5_000) }
            try LedgerScenario.send((0..<3).map { traffic.message(seq: $0, fault: $0 == 1 ? "error" : nil) }, with: producer)
            try eventually(timeoutMs: 30_000, "stalled") { worker.metric("billing_partition_stalled") == 1 }
            let ready = worker.get("/health/ready")
            #expect(ready?.status == 200, "a stall is an alarm")
            #expect(ready?.body.contains("\(traffic.inputTopic)[0] lag 2, no progress") == true, "\(ready?.body ?? "")")
            #expect(try traffic.appliedCount() == 1)
            #expect(worker.terminate() == 0)
        }
    }
}
