import ArgumentParser
import BillingBench
import BillingContracts
import BillingKafka
import BillingPostgres
import BillingRuntime
import BillingSchema
import BillingSupport
import FoundationEssentials

#if canImport(Glibc)
    import Glibc
#endif

// runtime-bench: measures the worker runtime's full path with the trivial probe handler
// (consume → one transaction with offsets, inbox, one row per message and outbox → COMMIT →
// relay publishes). Run against the local stack, ideally a release build:
//
//   BILLING_BUILD_CONFIGURATION=release Deploy/local/stack up
//   . .local/stack.env && runtime-bench [--messages 100000] [--rate 8000] [--seconds 15] [--json]
//
// Phase 1 (drain): produce N messages with no worker running, start one runtime-probe worker,
// measure messages/s from its first commit to its last, and to the last outbox row published.
// Phase 2 (sustained): produce at a fixed rate for S seconds; latency from each message's
// produce timestamp to its commit (worker histogram) and to its row (exact, from PostgreSQL).
// Worker RSS: peak (VmHWM) and current, from /proc.

struct Options: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runtime-bench",
        abstract: "Measures the worker runtime against the local stack (source .local/stack.env first).",
        discussion: """
            Exit codes: 0 done, 2 usage, 3 stack unavailable.
            """)

    @Option(help: "backlog size for the drain phase") var messages = 100_000
    @Option(help: "produce rate of the sustained phase, per second") var rate = 8_000
    @Option(help: "length of the sustained phase, in seconds") var seconds = 15
    @Option(help: "partitions of the benchmark topics") var partitions = 12
    @Flag(help: "print the results as JSON") var json = false
    @Flag(help: "keep the benchmark database afterwards; prints its name") var keep = false

    func validate() throws {
        try requireAtLeast(
            1, ("--messages", messages), ("--rate", rate), ("--seconds", seconds), ("--partitions", partitions))
    }
}

func fail(_ message: String, code: Int32) -> Never { benchFail("runtime-bench", message, code: code) }

func progress(_ text: String) { benchProgress("runtime-bench", text) }

struct Results: Encodable {
    var messages: Int
    var produceRatePerSecond: Int
    var drainRatePerSecond: Int
    var drainWithPublishRatePerSecond: Int
    var sustainedTargetPerSecond: Int
    var sustainedAchievedPerSecond: Int
    var sustainedMessages: Int
    var commitLatencyP50Ms: String
    var commitLatencyP99Ms: String
    var rowLatencyP50Ms: String
    var rowLatencyP99Ms: String
    var rowLatencyMaxMs: String
    var workerPeakRSSKiB: Int
    var workerRSSAfterKiB: Int

    enum CodingKeys: String, CodingKey {
        case messages
        case produceRatePerSecond = "produce_rate_per_s"
        case drainRatePerSecond = "drain_rate_per_s"
        case drainWithPublishRatePerSecond = "drain_with_publish_rate_per_s"
        case sustainedTargetPerSecond = "sustained_target_per_s"
        case sustainedAchievedPerSecond = "sustained_achieved_per_s"
        case sustainedMessages = "sustained_messages"
        case commitLatencyP50Ms = "commit_latency_p50_ms_at_most"
        case commitLatencyP99Ms = "commit_latency_p99_ms_at_most"
        case rowLatencyP50Ms = "row_latency_p50_ms"
        case rowLatencyP99Ms = "row_latency_p99_ms"
        case rowLatencyMaxMs = "row_latency_max_ms"
        case workerPeakRSSKiB = "worker_peak_rss_kib"
        case workerRSSAfterKiB = "worker_rss_after_kib"
    }
}

func probeMessage(topic: String, runID: String, seq: Int) -> KafkaOutgoingMessage {
    let body = "{\"run_id\":\"\(runID)\",\"seq\":\(seq)}"
    let event = CloudEvent(
        id: "\(runID)-\(seq)", type: "billing.probe.message.v1", source: "runtime-bench", time: UTCClock.timestamp(),
        data: Array(body.utf8))
    return KafkaOutgoingMessage(topic: topic, key: "k\(seq % 1_000)", event: event)
}

/// Produces `range` as fast as librdkafka takes it; returns once all are acknowledged.

func count(_ connection: PGConnection, _ sql: String, _ parameters: [any PGParameterConvertible]) throws -> Int {
    try connection.query(sql, parameters)[0].int(0)
}

/// Per-bucket counts of the worker's commit-latency histogram, from its /metrics.
func commitHistogram(port: Int) -> [(boundMicros: Int64, cumulative: Int64)] {
    guard let response = tcpExchange(port: port, request: Array("GET /metrics HTTP/1.1\r\n\r\n".utf8)) else {
        return []
    }
    let text = String(decoding: response, as: UTF8.self)
    var result: [(Int64, Int64)] = []
    for line in text.split(separator: "\n") where line.hasPrefix("billing_commit_latency_seconds_bucket{le=\"") {
        let bound = line.dropFirst("billing_commit_latency_seconds_bucket{le=\"".count).prefix { $0 != "\"" }
        guard bound != "+Inf", let value = line.split(separator: " ").last.flatMap({ Int64($0) }) else { continue }
        // Bounds are exact decimal seconds (e.g. 0.0075); convert to microseconds without floating point.
        let parts = bound.split(separator: ".", maxSplits: 1)
        let whole = Int64(parts[0]) ?? 0
        var fraction = parts.count > 1 ? String(parts[1]) : ""
        fraction = String((fraction + "000000").prefix(6))
        result.append((whole * 1_000_000 + (Int64(fraction) ?? 0), value))
    }
    return result
}

/// The smallest bucket bound at or below which `permille`/1000 of the observations (between two
/// scrapes) fall, in milliseconds.
func histogramQuantile(
    _ before: [(boundMicros: Int64, cumulative: Int64)], _ after: [(boundMicros: Int64, cumulative: Int64)],
    permille: Int64
) -> String {
    guard !after.isEmpty, before.isEmpty || before.count == after.count else { return "n/a" }
    let deltas = after.enumerated().map { index, entry in
        (entry.boundMicros, entry.cumulative - (before.isEmpty ? 0 : before[index].cumulative))
    }
    let all = deltas.last?.1 ?? 0
    guard all > 0 else { return "n/a" }
    let wanted = (all * permille + 999) / 1_000
    for (bound, cumulative) in deltas where cumulative >= wanted { return millisecondsText(bound) }
    return "> \(millisecondsText(deltas.last?.0 ?? 0))"
}

TerminationSignals.ignoreBrokenPipe()
let options = Options.parseBenchOptions()
let stack = benchStack("runtime-bench")
let tag = benchTag()
let databaseName = "bench_\(tag)"
let drainTopic = "billing.bench.drain.\(tag)"
let sustainTopic = "billing.bench.sustain.\(tag)"
let outputTopic = "billing.bench.out.\(tag)"

do {
    let benchDatabase = try BenchDatabase(stack: stack, name: databaseName, tool: "runtime-bench", keep: options.keep)
    defer { benchDatabase.finish() }
    let database = try PGConnection(
        conninfo: stack.url(database: databaseName, role: "billing_owner"), applicationName: "runtime-bench")
    _ = try Migrator().migrate(database)
    for topic in [drainTopic, sustainTopic, outputTopic] {
        try stack.devKafka("create-topic \(topic) \(options.partitions)")
    }

    let producer = try KafkaProducer(configuration: KafkaConfiguration(["bootstrap.servers": stack.bootstrapServers]))
    let drainRun = "drain-\(tag)"
    progress("phase 1: producing a backlog of \(options.messages) messages")
    let backlog = (0..<options.messages).map { probeMessage(topic: drainTopic, runID: drainRun, seq: $0) }
    let produceStart = monotonicMs()
    try produceAll(producer, backlog)
    let produceRate = options.messages * 1000 / max(1, Int(monotonicMs() - produceStart))

    let logPath = "/tmp/runtime-bench-worker-\(tag).log"
    var environment = ProcessEnvironment.current().values
    environment.merge([
        "DATABASE_URL": stack.url(database: databaseName, role: "billing_probe"),
        "BILLING_MIGRATE_ON_START": "false", "KAFKA_BOOTSTRAP_SERVERS": stack.bootstrapServers,
        "WORKER_TOPICS": "\(drainTopic),\(sustainTopic)", "PROBE_OUTPUT_TOPIC": outputTopic,
        "WORKER_CONSUMER_GROUP": "bench-\(tag)", "OPS_PORT": "0", "LOG_LEVEL": "info",
    ]) { _, new in new }
    let bench = try BenchWorker.start(
        executable: "\(stack.binDirectory)/runtime-probe", environment: environment, logPath: logPath)
    let worker = bench.process
    let opsPort = bench.opsPort
    defer { bench.stop() }
    progress("worker started (pid \(worker.pid), ops port \(opsPort)); draining")
    var lastReport = monotonicMs()
    while true {
        let applied = try count(database, "SELECT count(*) FROM probe.applied WHERE run_id = $1", [drainRun])
        if applied >= options.messages { break }
        guard worker.isRunning else { fail("the worker exited; see \(logPath)", code: 3) }
        if monotonicMs() - lastReport >= 1_000 {
            lastReport = monotonicMs()
            progress("drain: \(applied)/\(options.messages) applied")
        }
        sleepThread(milliseconds: 100)
    }
    while try count(database, "SELECT count(*) FROM probe.outbox WHERE sent_at IS NULL", []) > 0 {
        sleepThread(milliseconds: 100)
    }
    let drainSpan = try database.query(
        """
        SELECT (extract(epoch FROM max(a.applied_at) - min(a.applied_at)) * 1000)::bigint AS apply_ms,
               (extract(epoch FROM (SELECT max(sent_at) FROM probe.outbox) - min(a.applied_at)) * 1000)::bigint AS publish_ms
        FROM probe.applied a WHERE a.run_id = $1
        """, [drainRun])
    let applyMs = try drainSpan[0].int64("apply_ms")
    let publishMs = try drainSpan[0].int64("publish_ms")
    let drainRate = options.messages * 1000 / max(1, Int(applyMs))
    let drainPublishRate = options.messages * 1000 / max(1, Int(publishMs))
    progress("drain: \(drainRate) messages/s committed, \(drainPublishRate)/s including publication")

    let sustainRun = "sustain-\(tag)"
    let target = options.rate * options.seconds
    progress("phase 2: \(options.rate) messages/s for \(options.seconds) s")
    // Warm-up: the producer learns the new topic's partition leaders before the clock starts
    // (messages carry their enqueue time, so a metadata lookup would count as latency).
    let warmRun = "warmup-\(tag)"
    let warmTickets = (0..<options.partitions * 4).map {
        producer.enqueue(probeMessage(topic: sustainTopic, runID: warmRun, seq: $0), deadlineMs: monotonicMs() + 30_000)
    }
    while warmTickets.contains(where: \.isPending) { try producer.poll(timeoutMs: 20) }
    while try count(database, "SELECT count(*) FROM probe.applied WHERE run_id = $1", [warmRun]) < warmTickets.count {
        sleepThread(milliseconds: 50)
    }
    let histogramBefore = commitHistogram(port: opsPort)
    let sustainStart = monotonicMs()
    var sent = 0
    var tickets: [KafkaDeliveryTicket] = []
    tickets.reserveCapacity(target)
    lastReport = monotonicMs()
    while sent < target {
        let elapsed = monotonicMs() - sustainStart
        let due = min(target, Int(elapsed) * options.rate / 1000)
        while sent < due {
            tickets.append(
                producer.enqueue(
                    probeMessage(topic: sustainTopic, runID: sustainRun, seq: sent), deadlineMs: monotonicMs() + 60_000)
            )
            sent += 1
        }
        try producer.poll(timeoutMs: 0)
        if monotonicMs() - lastReport >= 1_000 {
            lastReport = monotonicMs()
            let applied = try count(database, "SELECT count(*) FROM probe.applied WHERE run_id = $1", [sustainRun])
            progress("sustained: \(sent) produced, \(applied) applied")
        }
        sleepThread(milliseconds: 2)
    }
    let produceSpanMs = max(1, Int(monotonicMs() - sustainStart))
    while tickets.contains(where: \.isPending) { try producer.poll(timeoutMs: 50) }
    while try count(database, "SELECT count(*) FROM probe.applied WHERE run_id = $1", [sustainRun]) < target {
        guard worker.isRunning else { fail("the worker exited; see \(logPath)", code: 3) }
        sleepThread(milliseconds: 100)
    }
    let histogramAfter = commitHistogram(port: opsPort)
    let latency = try database.query(
        """
        SELECT (percentile_disc(0.5) WITHIN GROUP (ORDER BY d) * 1000000)::bigint AS p50,
               (percentile_disc(0.99) WITHIN GROUP (ORDER BY d) * 1000000)::bigint AS p99,
               (max(d) * 1000000)::bigint AS pmax
        FROM (SELECT extract(epoch FROM applied_at - produced_at) AS d FROM probe.applied WHERE run_id = $1) x
        """, [sustainRun])
    let memory = worker.memoryKiB() ?? (0, 0)
    let results = Results(
        messages: options.messages, produceRatePerSecond: produceRate, drainRatePerSecond: drainRate,
        drainWithPublishRatePerSecond: drainPublishRate, sustainedTargetPerSecond: options.rate,
        sustainedAchievedPerSecond: target * 1000 / produceSpanMs, sustainedMessages: target,
        commitLatencyP50Ms: histogramQuantile(histogramBefore, histogramAfter, permille: 500),
        commitLatencyP99Ms: histogramQuantile(histogramBefore, histogramAfter, permille: 990),
        rowLatencyP50Ms: millisecondsText(try latency[0].int64("p50")),
        rowLatencyP99Ms: millisecondsText(try latency[0].int64("p99")),
        rowLatencyMaxMs: millisecondsText(try latency[0].int64("pmax")), workerPeakRSSKiB: memory.peak,
        workerRSSAfterKiB: memory.current)
    producer.close(timeoutMs: 5_000)
    database.close()

    if options.json {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(decoding: try encoder.encode(results), as: UTF8.self))
    } else {
        print(
            """
            runtime benchmark (runtime-probe: one row per message, offsets + inbox + outbox in the same transaction)
              backlog drain, \(results.messages) messages:   \(results.drainRatePerSecond) msg/s committed, \(results.drainWithPublishRatePerSecond) msg/s incl. relay publish
              producer (bench side):              \(results.produceRatePerSecond) msg/s
              sustained \(results.sustainedTargetPerSecond)/s for \(options.seconds) s:       achieved \(results.sustainedAchievedPerSecond) msg/s produced
                commit latency (histogram bound): p50 ≤ \(results.commitLatencyP50Ms) ms, p99 ≤ \(results.commitLatencyP99Ms) ms
                produce → row written (exact):    p50 \(results.rowLatencyP50Ms) ms, p99 \(results.rowLatencyP99Ms) ms, max \(results.rowLatencyMaxMs) ms
              worker RSS:                          peak \(results.workerPeakRSSKiB / 1024) MiB, after \(results.workerRSSAfterKiB / 1024) MiB
            """)
    }
} catch {
    fail("\(error)", code: 3)
}
