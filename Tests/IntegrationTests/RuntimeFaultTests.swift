import BillingContracts
import BillingKafka
import BillingRuntime
import BillingSupport
import Foundation
import Testing

extension Integration {
    @Suite("faults")
    struct Faults {
        /// Feeds probe messages on a thread of its own until told to stop; returns how many were produced.
        final class Feeder: @unchecked Sendable {
            let produced = Locked<Int64>(0)
            let stopRequested = Locked(false)
            let failure = Locked<String?>(nil)
            private var thread: DedicatedThread?

            init(traffic: ProbeTraffic, producer: KafkaProducer, chunk: Int64 = 50, pauseMs: Int = 100) {
                thread = DedicatedThread.start(name: "feeder") { [produced, stopRequested, failure] in
                    do {
                        var next: Int64 = 0
                        while !stopRequested.current {
                            try traffic.produce(next..<next + chunk, producer: producer)
                            next += chunk
                            produced.withLock { $0 = next }
                            sleepThread(milliseconds: pauseMs)
                        }
                    } catch {
                        failure.withLock { $0 = "\(error)" }
                    }
                }
            }

            func stop() throws -> Int64 {
                stopRequested.withLock { $0 = true }
                guard thread?.join(timeoutMs: 180_000) == true else { throw HarnessError("feeder did not stop") }
                if let failure = failure.current { throw HarnessError("feeder failed: \(failure)") }
                return produced.current
            }
        }

        @Test(
            "the broker goes down mid-stream: not ready meanwhile, nothing lost, recovers by itself",
            .timeLimit(.minutes(5)))
        func brokerDown() throws {
            let stack = try TestStack.fromEnvironment()
            let database = try TestDatabase.create(stack)
            defer { database.drop() }
            let traffic = try ProbeTraffic.make(stack, database)
            let worker = try traffic.startWorker()
            try eventually(timeoutMs: 30_000, "worker ready") { worker.isReady() }
            let producer = try KafkaProducer(configuration: stack.kafka)
            defer { producer.close(timeoutMs: 5_000) }
            let feeder = Feeder(traffic: traffic, producer: producer)
            // Should the test end early (a thrown error), the feeder stops before its producer closes.
            defer { _ = try? feeder.stop() }
            try eventually(timeoutMs: 60_000, "messages flowing") { try traffic.appliedCount() > 500 }

            try stack.devKafka("broker-down all")
            var sawNotReady = false
            do {
                defer { _ = try? stack.devKafka("broker-up all") }
                let downUntil = monotonicMs() + 6_000
                while monotonicMs() < downUntil {
                    if let status = worker.get("/health/ready")?.status, status == 503 { sawNotReady = true }
                    sleepThread(milliseconds: 300)
                }
            }
            #expect(sawNotReady, "/health/ready said not ready while the broker was down")
            try eventually(timeoutMs: 60_000, "ready again after the broker came back") { worker.isReady() }
            sleepThread(milliseconds: 2_000)
            let total = try feeder.stop()
            try EffectivelyOnce.verifyExactlyOnce(traffic, count: total)
            #expect(worker.isRunning, "the worker recovered by itself; it never exited")
            #expect(worker.terminate() == 0)
        }

        @Test(
            "a batch whose COMMIT reply was lost is not applied again, and its partitions stay owned",
            .timeLimit(.minutes(3)))
        func commitReplyLost() throws {
            let stack = try TestStack.fromEnvironment()
            let database = try TestDatabase.create(stack)
            defer { database.drop() }
            let traffic = try ProbeTraffic.make(stack, database, partitions: 1)
            let worker = try traffic.startWorker()
            let producer = try KafkaProducer(configuration: stack.kafka)
            defer { producer.close(timeoutMs: 5_000) }
            try traffic.produce(0..<20, producer: producer)
            try eventually(timeoutMs: 60_000, "the first 20 applied") { try traffic.appliedCount() == 20 }
            // What an attempt whose COMMIT went through, but whose reply never arrived, leaves behind:
            // the partition's offset already past the next 5 messages, under this owner's epoch.
            try database.query(
                "UPDATE probe.consumer_offsets SET next_offset = next_offset + 5 WHERE topic = $1",
                [traffic.inputTopic])
            try traffic.produce(20..<50, producer: producer)
            try eventually(timeoutMs: 60_000, "the rest applied") { try traffic.appliedCount() == 45 }
            try traffic.produce(50..<60, producer: producer)
            try eventually(timeoutMs: 60_000, "the partition still owned") { try traffic.appliedCount() == 55 }
            #expect(try traffic.recordedOffsets() == [0: 60])
            #expect(worker.log().contains("an earlier attempt of this batch had committed"))
            #expect(!worker.log().contains("partitions were claimed by another replica"))
            #expect(worker.terminate() == 0)
        }

        @Test(
            "while PostgreSQL hangs, /health/live answers at once and /health/ready says not ready without waiting on it",
            .timeLimit(.minutes(3)))
        func probesWhileDatabaseHangs() throws {
            let stack = try TestStack.fromEnvironment()
            let database = try TestDatabase.create(stack)
            defer { database.drop() }
            let traffic = try ProbeTraffic.make(stack, database)
            let worker = try traffic.startWorker([:])
            try eventually(timeoutMs: 60_000, "ready") { worker.get("/health/ready")?.status == 200 }

            try stack.stack(["pg", "pause"])
            var slowestMs: Int64 = 0
            var sawNotReady = false
            var liveFailures = 0
            do {
                defer { _ = try? stack.stack(["pg", "resume"]) }
                let since = monotonicMs()
                // A readiness check's connect now hangs for its whole I/O bound (2 s); answering a
                // probe must never wait on one.
                while monotonicMs() - since < 6_000 {
                    for path in ["/health/live", "/health/ready"] {
                        let start = monotonicMs()
                        let answer = worker.get(path)
                        slowestMs = max(slowestMs, monotonicMs() - start)
                        if path == "/health/live", answer?.status != 200 { liveFailures += 1 }
                        if path == "/health/ready", answer?.status == 503 { sawNotReady = true }
                    }
                    sleepThread(milliseconds: 100)
                }
            }
            print("slowest ops answer while PostgreSQL hung: \(slowestMs) ms")
            #expect(liveFailures == 0, "/health/live answered 200 every time")
            #expect(slowestMs < 1_000, "no probe waited on the hung database (slowest \(slowestMs) ms)")
            #expect(sawNotReady, "/health/ready said not ready while the database hung")
            try eventually(timeoutMs: 30_000, "ready again") { worker.get("/health/ready")?.status == 200 }
            #expect(worker.terminate() == 0)
        }

        @Test(
            "the ops endpoint on IPv6: every series listed at start, HEAD answered, silent clients hold nothing",
            .timeLimit(.minutes(3)))
        func opsEndpoint() throws {
            let stack = try TestStack.fromEnvironment()
            let database = try TestDatabase.create(stack)
            defer { database.drop() }
            let traffic = try ProbeTraffic.make(stack, database)
            let worker = try traffic.startWorker(["OPS_HOST": "::1"])
            defer { _ = worker.terminate() }

            // Right after start, before any message: every family with HELP and TYPE, counters at 0.
            let first = try #require(worker.get("/metrics"), "metrics over IPv6")
            #expect(first.status == 200)
            for family in RuntimeMetrics.families(topics: [traffic.inputTopic]) {
                #expect(first.body.contains("# HELP \(family.name) "), "\(family.name) has HELP")
                #expect(first.body.contains("# TYPE \(family.name) \(family.kind.rawValue)\n"), "\(family.name) has TYPE")
            }
            #expect(first.body.contains("billing_offset_gaps_total 0\n"))
            #expect(first.body.contains("billing_retries_total{stage=\"batch\"} 0\n"))
            #expect(first.body.contains("billing_messages_consumed_total{topic=\"\(traffic.inputTopic)\"} 0\n"))

            let head = try #require(worker.get("/metrics", method: "HEAD"))
            #expect(head.status == 200 && head.body.isEmpty, "HEAD: 200 without a body")
            #expect(worker.get("/health/live", method: "HEAD")?.status == 200)

            // Clients that connect and say nothing (or half a request) do not hold the endpoint.
            var silent: [Int32] = []
            defer { for descriptor in silent { close(descriptor) } }
            for index in 0..<8 {
                let descriptor = try #require(tcpConnect(host: worker.opsHost, port: worker.opsPort!))
                if index % 2 == 1 { _ = "GET /metrics HTTP/1.1\r\nHo".withCString { write(descriptor, $0, 28) } }
                silent.append(descriptor)
            }
            var slowestMs: Int64 = 0
            for _ in 0..<20 {
                let start = monotonicMs()
                #expect(worker.get("/health/live")?.status == 200)
                slowestMs = max(slowestMs, monotonicMs() - start)
            }
            print("slowest /health/live with 8 silent clients connected: \(slowestMs) ms")
            #expect(slowestMs < 500, "answered beside the silent clients (slowest \(slowestMs) ms)")
            #expect(worker.terminate() == 0)
        }

        @Test(
            "PostgreSQL stops (immediate) under load: the worker reconnects without spinning, nothing lost or doubled",
            .timeLimit(.minutes(5)))
        func databaseRestart() throws {
            let stack = try TestStack.fromEnvironment()
            let database = try TestDatabase.create(stack)
            defer { database.drop() }
            let traffic = try ProbeTraffic.make(stack, database)
            let worker = try traffic.startWorker([
                "WORKER_RETRY_BACKOFF_INITIAL_MS": "100", "WORKER_RETRY_BACKOFF_MAX_MS": "2000",
            ])
            let producer = try KafkaProducer(configuration: stack.kafka)
            defer { producer.close(timeoutMs: 5_000) }
            let feeder = Feeder(traffic: traffic, producer: producer)
            // Should the test end early (a thrown error), the feeder stops before its producer closes.
            defer { _ = try? feeder.stop() }
            try eventually(timeoutMs: 60_000, "messages flowing") { try traffic.appliedCount() > 500 }

            let retriesBefore = worker.metric("billing_retries_total")
            try stack.stack(["pg", "stop", "immediate"])
            let downSinceMs = monotonicMs()
            var sawNotReady = false
            do {
                defer { _ = try? stack.stack(["pg", "start"]) }
                while monotonicMs() - downSinceMs < 5_000 {
                    if worker.get("/health/ready")?.status == 503 { sawNotReady = true }
                    sleepThread(milliseconds: 300)
                }
            }
            let downMs = monotonicMs() - downSinceMs
            #expect(sawNotReady, "/health/ready said not ready while the database was down")
            try eventually(timeoutMs: 60_000, "applying again") {
                let before = try traffic.appliedCount()
                sleepThread(milliseconds: 500)
                return try traffic.appliedCount() > before
            }
            let retries = worker.metric("billing_retries_total") - retriesBefore
            // With backoff from 100 ms doubling to 2 s, an outage of ~5 s allows about ten attempts
            // per stage; a busy loop would make thousands.
            print("retries during a \(downMs) ms outage: \(retries)")
            #expect(retries > 0 && retries < 60, "retried with backoff, not in a busy loop (\(retries) retries)")
            let total = try feeder.stop()
            try EffectivelyOnce.verifyExactlyOnce(traffic, count: total)
            #expect(worker.isRunning, "the worker recovered by itself; it never exited")
            #expect(worker.terminate() == 0)
        }
    }
}
