import BillingContracts
import BillingKafka
import BillingPostgres
import BillingSupport
import Foundation
import Testing

extension Integration {
    /// Nothing holds a worker (or what it holds) unbounded: its sessions carry server-side limits,
    /// and a partition another replica fenced off is claimed again while Kafka still assigns it here.
    @Suite("bounded waits")
    struct BoundedWaits {
        @Test("a lock held elsewhere makes the worker's statements time out and retry, not wait without bound")
        func lockTimeout() throws {
            let stack = try TestStack.fromEnvironment()
            let database = try TestDatabase.create(stack)
            defer { database.drop() }
            let traffic = try ProbeTraffic.make(stack, database, partitions: 1)
            let worker = try traffic.startWorker([
                "PG_LOCK_TIMEOUT_MS": "300", "WORKER_RETRY_BACKOFF_INITIAL_MS": "100",
                "WORKER_RETRY_BACKOFF_MAX_MS": "300",
            ])
            let producer = try KafkaProducer(configuration: stack.kafka)
            defer { producer.close(timeoutMs: 5_000) }
            try traffic.produce(0..<5, producer: producer)
            try eventually(timeoutMs: 60_000, "the first 5 applied") { try traffic.appliedCount() == 5 }
            let holder = try database.connect()
            try holder.query("BEGIN")
            try holder.query("LOCK TABLE probe.applied IN ACCESS EXCLUSIVE MODE")
            let retriesBefore = worker.metric("billing_retries_total")
            try traffic.produce(5..<10, producer: producer)
            sleepThread(milliseconds: 3_000)
            let retriesWhileLocked = worker.metric("billing_retries_total") - retriesBefore
            try holder.query("ROLLBACK")
            holder.close()
            // Before: the insert waited for the lock inside one statement, for as long as it was held.
            #expect(retriesWhileLocked >= 2, "retries while the lock was held: \(retriesWhileLocked)")
            try eventually(timeoutMs: 60_000, "the rest applied once the lock is gone") {
                try traffic.appliedCount() == 10
            }
            #expect(try traffic.distinctAppliedCount() == 10)
            #expect(worker.log().contains("lock timeout") || worker.log().contains("55P03"))
            #expect(worker.terminate() == 0)
        }

        @Test("a partition whose fence another replica took is claimed again while Kafka still assigns it")
        func reclaimFenced() throws {
            let stack = try TestStack.fromEnvironment()
            let database = try TestDatabase.create(stack)
            defer { database.drop() }
            let traffic = try ProbeTraffic.make(stack, database, partitions: 1)
            let worker = try traffic.startWorker(["WORKER_RECLAIM_AFTER_MS": "2000"])
            let producer = try KafkaProducer(configuration: stack.kafka)
            defer { producer.close(timeoutMs: 5_000) }
            try traffic.produce(0..<5, producer: producer)
            try eventually(timeoutMs: 60_000, "the first 5 applied") { try traffic.appliedCount() == 5 }
            // Another replica's claim (which Kafka never followed with an assignment of its own).
            try database.query(
                "UPDATE probe.consumer_offsets SET owner_epoch = owner_epoch + 1, owner = 'elsewhere' WHERE topic = $1",
                [traffic.inputTopic])
            try traffic.produce(5..<15, producer: producer)
            // Before: the fenced-off partition's messages were dropped here for good.
            try eventually(timeoutMs: 60_000, "applied after the partition was claimed again") {
                try traffic.appliedCount() == 15
            }
            #expect(try traffic.distinctAppliedCount() == 15)
            #expect(try traffic.recordedOffsets() == [0: 15])
            #expect(worker.log().contains("claiming a fenced-off partition again"))
            #expect(worker.terminate() == 0)
        }
    }
}
