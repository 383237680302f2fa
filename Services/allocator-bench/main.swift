import ArgumentParser
import BillingBench
import BillingContracts
import BillingKafka
import BillingPostgres
import BillingRuntime
import BillingSchema
import BillingSupport
import BillingTestSupport
import FoundationEssentials

#if canImport(Glibc)
    import Glibc
#endif

// allocator-bench: measures the allocator on a ledger of many accounts with open invoices.
//
//   BILLING_BUILD_CONFIGURATION=release Deploy/local/stack up
//   . .local/stack.env && allocator-bench [--accounts 100000] [--payments 100000] [--rate 5000] [--seconds 15]
//
// Setup: a database of its own with N accounts, each holding 3 open invoices (posted by SQL as
// the allocator would: journal entries, postings, items). Then, with one allocator process, and
// the tables vacuumed and analysed before each phase:
//  1. drain: a backlog of payments (random accounts, random amounts) produced before the worker
//     starts; payments/s from the first posting to the last, each allocated and committed;
//  2. sustained: payments at a fixed rate; latency from the time each payment was due to be
//     produced to its posting (taken inside the committing round trip), p50/p99/p99.9;
//  3. hot accounts: a backlog where half the payments go to 10 accounts; payments/s;
// and the worker's peak and current RSS.

struct Options: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allocator-bench",
        abstract: "Measures the allocator against the local stack (source .local/stack.env first).",
        discussion: """
            Phases: a drain of a payment backlog, payments at a sustained rate, and a backlog where half the \
            payments go to 10 accounts; then the worker's peak and current RSS.

            WORKER_* and KAFKA_* variables in the environment reach the worker.

            Exit codes: 0 done, 1 verify failed, 2 usage, 3 stack unavailable or the worker failed.
            """)

    @Option(help: "accounts, each with 3 open invoices") var accounts = 100_000
    @Option(help: "backlog of the drain phase") var payments = 100_000
    @Option(help: "payments/s of the sustained phase") var rate = 5_000
    @Option(help: "length of the sustained phase, in seconds") var seconds = 15
    @Option(help: "backlog of the hot-account phase, half on 10 accounts") var hotPayments = 30_000
    @Option(help: "partitions of the benchmark's payment topic") var partitions = 12
    @Option(help: "the worker's WORKER_CONCURRENCY, loops in its one process") var concurrency = 2
    @Option(help: "linger.ms of the generator's producer") var lingerMs = 25
    @Flag(help: "keep the benchmark's database afterwards (to inspect plans); prints its name") var keep = false
    @Flag(help: "print the results as JSON") var json = false

    func validate() throws {
        try requireAtLeast(
            1, ("--accounts", accounts), ("--payments", payments), ("--rate", rate), ("--seconds", seconds),
            ("--hot-payments", hotPayments), ("--partitions", partitions), ("--concurrency", concurrency),
            ("--linger-ms", lingerMs))
    }
}

func fail(_ message: String, code: Int32) -> Never { benchFail("allocator-bench", message, code: code) }

func progress(_ text: String) { benchProgress("allocator-bench", text) }

struct Results: Encodable {
    var accounts: Int
    var openInvoices: Int
    var drainPayments: Int
    var drainPaymentsPerSecond: Int
    /// CPU time per drained payment, over the worker's life up to the drain's end (all threads),
    /// and over its database sessions' lives (the backends serving its loops and relay).
    var drainWorkerCPUMicrosecondsPerPayment: Int64
    var drainDatabaseCPUMicrosecondsPerPayment: Int64
    var sustainedTargetPerSecond: Int
    var sustainedAchievedPerSecond: Int
    /// The same over the sustained phase alone: smaller batches than the drain's, so more per payment.
    var sustainedWorkerCPUMicrosecondsPerPayment: Int64
    var sustainedDatabaseCPUMicrosecondsPerPayment: Int64
    var latencyP50Ms: String
    var latencyP99Ms: String
    var latencyP999Ms: String
    var latencyMaxMs: String
    /// p99 of each 10-second window of the sustained phase, by when payments were due: shows
    /// whether a high p99 is spread over the phase or comes from a few seconds of it.
    var latencyP99ByWindowMs: [String]
    var hotPayments: Int
    var hotPaymentsPerSecond: Int
    var workerPeakRSSKiB: Int
    /// The largest of the RSS samples taken during the sustained phase.
    var workerSteadyRSSKiB: Int
    var workerRSSAfterKiB: Int
    var verifyOK: Bool
}

func accountNumber(_ index: Int) -> String {
    "BENCH-" + zeroPadded(index, width: 6)
}

func paymentMessage(topic: String, id: String, account: String, minor: Int64, phase: String) -> KafkaOutgoingMessage {
    let payment = PaymentIdentified(
        paymentId: id, account: account, amountMinor: minor, currency: "EUR", channel: "bank:BENCH",
        receivedOn: "2026-06-01", reference: "\(phase):\(wallClockMs())")
    let event = CloudEvent(
        id: id, type: LedgerTypes.paymentIdentified, source: "allocator-bench", time: UTCClock.timestamp(),
        data: ContractJSON.encode(payment))
    return KafkaOutgoingMessage(topic: topic, key: account, event: event)
}

/// Payments of `phase` posted, and the span from the first posting to the last (ms): a prefix
/// search on the journal's (kind, id) index, run once a phase is consumed.
func postedSpan(_ connection: PGConnection, phase: String) throws -> (count: Int64, spanMs: Int64) {
    let row = try connection.query(
        """
        SELECT count(*), coalesce((extract(epoch FROM max(posted_at) - min(posted_at)) * 1000)::bigint, 0)
        FROM ledger.journal_entries WHERE document_kind = 'payment' AND document_id LIKE $1
        """, ["\(phase)-%"])[0]
    return (try row.int64(0), try row.int64(1))
}

/// Waits until the worker's committed offsets reach `consumed` (every message produced so far),
/// then returns the phase's posting span. The poll reads one small row per partition, so waiting
/// does not load the database being measured.
func waitForPostings(
    _ connection: PGConnection, phase: String, count: Int, consumed: Int, group: String, worker: BenchWorker
) throws -> Int64 {
    var lastReport = monotonicMs()
    while true {
        let committed = try connection.query(
            "SELECT coalesce(sum(next_offset), 0) FROM ledger.consumer_offsets WHERE consumer_group = $1", [group])[0]
            .int64(0)
        if committed >= consumed {
            let (posted, span) = try postedSpan(connection, phase: phase)
            guard posted == count else {
                throw BenchFailure("\(phase): \(posted) of \(count) payments posted after all were consumed")
            }
            return span
        }
        guard worker.process.isRunning else { throw BenchFailure("the worker exited; see \(worker.logPath)") }
        if monotonicMs() - lastReport >= 2_000 {
            let gaps = try connection.query("SELECT count(*) FROM ledger.offset_gaps")[0].int64(0)
            guard gaps == 0 else {
                throw BenchFailure(
                    "the broker dropped messages before the worker read them (\(gaps) offset gaps recorded; "
                        + "dev-kafka keeps about 5 MiB per partition): use fewer payments or more partitions")
            }
            lastReport = monotonicMs()
            progress("\(phase): \(committed - Int64(consumed - count))/\(count) payments committed")
        }
        sleepThread(milliseconds: 100)
    }
}

/// CPU time used so far (µs, all threads) by the worker and by its database sessions (the backends
/// serving its loops and relay), read from `/proc` (same machine). The drain's figure is over their
/// lives up to the drain's end, almost all drain work; the sustained phase's is the difference
/// between its start and its end.
struct CPUUsed {
    var worker: Int64 = 0
    var database: Int64 = 0
    var sessions = 0

    static func now(_ connection: PGConnection, worker: BenchWorker) throws -> CPUUsed {
        let backends = try connection.query(
            """
            SELECT pid FROM pg_stat_activity
            WHERE datname = current_database() AND application_name IN ('allocator-worker', 'allocator-relay')
            """)
        var used = CPUUsed(worker: worker.process.cpuMicroseconds() ?? 0, sessions: backends.count)
        for row in backends.rows { used.database += ChildProcess.cpuMicroseconds(pid: pid_t(try row.int64(0))) ?? 0 }
        return used
    }

    /// Per payment since `earlier` (the sessions live as long as the worker), printed for `phase`.
    func perPayment(since earlier: CPUUsed, payments: Int, phase: String) -> (worker: Int64, database: Int64) {
        let result = ((worker - earlier.worker) / Int64(payments), (database - earlier.database) / Int64(payments))
        progress(
            "\(phase): CPU per payment: worker \(result.0) µs, its \(sessions) database sessions \(result.1) µs")
        return result
    }
}

TerminationSignals.ignoreBrokenPipe()
let options = Options.parseBenchOptions()
let stack = benchStack("allocator-bench")
let tag = benchTag()
let databaseName = "allocbench_\(tag)"
let topic = "billing.bench.payments.\(tag)"

var exitCode: Int32 = 0
do {
    let benchDatabase = try BenchDatabase(stack: stack, name: databaseName, tool: "allocator-bench", keep: options.keep)
    defer { benchDatabase.finish() }
    let database = try PGConnection(
        conninfo: stack.url(database: databaseName, role: "billing_owner"), applicationName: "allocator-bench",
        ioTimeoutMs: 600_000)
    _ = try Migrator().migrate(database)
    try stack.devKafka("create-topic \(topic) \(options.partitions)")

    // Setup: accounts with three open invoices each, written as the allocator writes them.
    progress("setup: \(options.accounts) accounts with 3 open invoices each")
    let chunk = 10_000
    for first in stride(from: 1, through: options.accounts, by: chunk) {
        let last = min(options.accounts, first + chunk - 1)
        try database.runScript(
            """
            BEGIN;
            INSERT INTO ledger.accounts (number, name, currency, credit_rule, item_sequence, balance_minor)
            SELECT 'BENCH-' || lpad(n::text, 6, '0'), 'Bench client ' || n, 'EUR', 'days:14', 3,
                   (1000 + n % 50 * 100) * 3
            FROM generate_series(\(first), \(last)) AS n;
            CREATE TEMP TABLE seed ON COMMIT DROP AS
            SELECT a.account_id, a.number, k, 'inv-' || a.number || '-' || k AS document_id,
                   1000 + (substring(a.number FROM 7)::int % 50) * 100 AS total
            FROM ledger.accounts AS a, generate_series(1, 3) AS k
            WHERE a.number BETWEEN 'BENCH-' || lpad('\(first)', 6, '0') AND 'BENCH-' || lpad('\(last)', 6, '0');
            WITH entries AS (
                INSERT INTO ledger.journal_entries (account_id, document_kind, document_id)
                SELECT account_id, 'invoice', document_id FROM seed RETURNING entry_id, account_id, document_id)
            INSERT INTO ledger.postings (entry_id, account_id, ledger_account, currency, amount_minor)
            SELECT e.entry_id, v.account_id, v.ledger_account, 'EUR', v.amount
            FROM entries AS e JOIN seed AS s USING (document_id),
                 LATERAL (VALUES (e.account_id, 'AR', s.total), (NULL::bigint, 'REVENUE', -s.total))
                     AS v(account_id, ledger_account, amount);
            INSERT INTO ledger.items (account_id, document_id, document_kind, side, currency, amount_minor, posted_on,
                due_on, sequence, number, open_minor)
            SELECT account_id, document_id, 'invoice', 'debit', 'EUR', total, date '2026-05-01',
                   date '2026-05-15' + k * 30, k, 'INV-' || number || '-' || k, total
            FROM seed;
            COMMIT;
            """)
        progress("setup: \(last)/\(options.accounts) accounts")
    }
    progress("setup: vacuumed, analysed and synced in \(try benchDatabase.settle(stack: stack)) ms")

    // The producer lingers 25 ms by default, as payment-ingest's relay, which feeds this topic in
    // production, does. dev-kafka (librdkafka's mock) finds a fetch's data by walking the
    // partition's whole list of message sets from its start, and answers a fetch with one set per
    // partition: its work grows with sets per second times sets kept. With a 10 ms linger it grew
    // from 6 % to 44 % of a core over a 60-second sustained phase, and the machine ran out of CPU
    // in the phase's second half. The linger counts in the latency, which runs from the time each
    // payment was due.
    let producer = try KafkaProducer(
        configuration: KafkaConfiguration(["bootstrap.servers": stack.bootstrapServers, "linger.ms": String(options.lingerMs)]))
    var random = BenchRandom(seed: 42)
    func payments(_ phase: String, count: Int, hot: Bool) -> [KafkaOutgoingMessage] {
        (0..<count).map { index in
            let account =
                hot && index % 2 == 0
                ? accountNumber(1 + random.next(10)) : accountNumber(1 + random.next(options.accounts))
            return paymentMessage(
                topic: topic, id: "\(phase)-\(index)", account: account, minor: Int64(100 + random.next(2_000)),
                phase: phase)
        }
    }

    progress("drain: producing \(options.payments) payments")
    try produceAll(producer, payments("drain", count: options.payments, hot: false))
    let group = "allocbench-\(tag)"
    let environment = stack.benchWorkerEnvironment(
        database: databaseName, role: "billing_allocator", group: group,
        ["WORKER_TOPICS": topic, "WORKER_CONCURRENCY": String(options.concurrency)])
    let worker = try BenchWorker.start(
        executable: "\(stack.binDirectory)/allocator", environment: environment,
        logPath: "/tmp/allocator-bench-\(tag).log")
    defer { worker.stop() }
    let drainSpan = try waitForPostings(
        database, phase: "drain", count: options.payments, consumed: options.payments, group: group, worker: worker)
    let drainRate = options.payments * 1000 / max(1, Int(drainSpan))
    progress("drain: \(drainRate) payments/s allocated and committed")
    let drainCPU = try CPUUsed.now(database, worker: worker).perPayment(
        since: CPUUsed(), payments: options.payments, phase: "drain")
    // The drain leaves autovacuum a hundred thousand payments' worth of work, which it would do
    // during the next phase; a system running steadily at the next phase's rate has no such debt.
    progress("drain: vacuumed, analysed and synced in \(try benchDatabase.settle(stack: stack)) ms")

    // Built before the phase, so that the generator spends the phase only handing messages to the
    // producer (building them took a seventh of the machine at 5,000/s). Payment n is due at
    // start + n / rate, and its latency counts from then: a generator running late adds to it.
    let target = options.rate * options.seconds
    progress("sustained: building \(target) payments")
    let sustained = payments("sustain", count: target, hot: false)
    progress("sustained: \(options.rate) payments/s for \(options.seconds) s")
    let cpuAtStart = try CPUUsed.now(database, worker: worker)
    let startWallMs = wallClockMs()
    let start = monotonicMs()
    var sent = 0
    var tickets: [KafkaDeliveryTicket] = []
    // The worker's RSS at steady load: sampled every 250 ms over the phase, largest kept.
    var steadyRSSKiB = 0
    var nextSampleMs = start
    while sent < target {
        if monotonicMs() >= nextSampleMs {
            nextSampleMs += 250
            steadyRSSKiB = max(steadyRSSKiB, worker.process.memoryKiB()?.current ?? 0)
        }
        let due = min(target, Int(monotonicMs() - start) * options.rate / 1000)
        while sent < due {
            tickets.append(producer.enqueue(sustained[sent], deadlineMs: monotonicMs() + 60_000))
            sent += 1
        }
        try producer.poll(timeoutMs: 0)
        sleepThread(milliseconds: 2)
    }
    let achieved = target * 1000 / max(1, Int(monotonicMs() - start))
    while tickets.contains(where: \.isPending) { try producer.poll(timeoutMs: 50) }
    _ = try waitForPostings(
        database, phase: "sustain", count: target, consumed: options.payments + target, group: group, worker: worker)
    let sustainedCPU = try CPUUsed.now(database, worker: worker).perPayment(
        since: cpuAtStart, payments: target, phase: "sustained")
    // Each sustained payment's latency d (µs) and its 10-second window w, by due time.
    let sustainedLatencies = """
        SELECT split_part(document_id, '-', 2)::bigint / ($2::bigint * 10) AS w,
               (extract(epoch FROM posted_at) * 1000000)::bigint
               - ($1::bigint * 1000 + split_part(document_id, '-', 2)::bigint * 1000000 / $2::bigint) AS d
        FROM ledger.journal_entries WHERE document_kind = 'payment' AND document_id LIKE 'sustain-%'
        """
    let latency = try database.query(
        """
        SELECT (percentile_disc(0.5) WITHIN GROUP (ORDER BY d))::bigint, (percentile_disc(0.99) WITHIN GROUP (ORDER BY d))::bigint,
               (percentile_disc(0.999) WITHIN GROUP (ORDER BY d))::bigint, max(d)::bigint
        FROM (\(sustainedLatencies)) AS x
        """, [String(startWallMs), String(options.rate)])[0]
    let windows = try database.query(
        """
        SELECT (percentile_disc(0.99) WITHIN GROUP (ORDER BY d))::bigint
        FROM (\(sustainedLatencies)) AS x GROUP BY w ORDER BY w
        """, [String(startWallMs), String(options.rate)])
    let windowP99 = try windows.rows.map { millisecondsText(try $0.int64(0)) }

    progress("sustained: vacuumed, analysed and synced in \(try benchDatabase.settle(stack: stack)) ms")
    progress("hot accounts: producing \(options.hotPayments) payments, half on 10 accounts")
    try produceAll(producer, payments("hotacct", count: options.hotPayments, hot: true))
    let hotSpan = try waitForPostings(
        database, phase: "hotacct", count: options.hotPayments,
        consumed: options.payments + target + options.hotPayments,
        group: group, worker: worker)
    let hotRate = options.hotPayments * 1000 / max(1, Int(hotSpan))
    let memory = worker.process.memoryKiB() ?? (0, 0)
    _ = producer.close(timeoutMs: 5_000)

    let verifyOK =
        try benchDatabase.verify(
            stack: stack, environment: environment, outputPath: "/tmp/allocator-bench-\(tag)-verify.txt"
        ).exitCode == 0
    let results = Results(
        accounts: options.accounts, openInvoices: options.accounts * 3, drainPayments: options.payments,
        drainPaymentsPerSecond: drainRate, drainWorkerCPUMicrosecondsPerPayment: drainCPU.worker,
        drainDatabaseCPUMicrosecondsPerPayment: drainCPU.database, sustainedTargetPerSecond: options.rate, sustainedAchievedPerSecond: achieved,
        sustainedWorkerCPUMicrosecondsPerPayment: sustainedCPU.worker,
        sustainedDatabaseCPUMicrosecondsPerPayment: sustainedCPU.database,
        latencyP50Ms: millisecondsText(try latency.int64(0)), latencyP99Ms: millisecondsText(try latency.int64(1)),
        latencyP999Ms: millisecondsText(try latency.int64(2)), latencyMaxMs: millisecondsText(try latency.int64(3)),
        latencyP99ByWindowMs: windowP99,
        hotPayments: options.hotPayments, hotPaymentsPerSecond: hotRate, workerPeakRSSKiB: memory.peak,
        workerSteadyRSSKiB: steadyRSSKiB, workerRSSAfterKiB: memory.current, verifyOK: verifyOK)
    database.close()
    if options.json {
        try print(String(decoding: ContractJSON.encoder().encode(results), as: UTF8.self))
    } else {
        print(
            """
            allocator benchmark (\(results.accounts) accounts, \(results.openInvoices) open invoices)
              backlog drain, \(results.drainPayments) payments:  \(results.drainPaymentsPerSecond) payments/s allocated and committed
                CPU per payment: worker \(results.drainWorkerCPUMicrosecondsPerPayment) µs, its database sessions \(results.drainDatabaseCPUMicrosecondsPerPayment) µs
              sustained \(results.sustainedTargetPerSecond)/s for \(options.seconds) s (achieved \(results.sustainedAchievedPerSecond)/s):
                due to be produced → posted: p50 \(results.latencyP50Ms) ms, p99 \(results.latencyP99Ms) ms, p99.9 \(results.latencyP999Ms) ms, max \(results.latencyMaxMs) ms
                p99 by 10-second window: \(results.latencyP99ByWindowMs.joined(separator: " / ")) ms
                CPU per payment: worker \(results.sustainedWorkerCPUMicrosecondsPerPayment) µs, its database sessions \(results.sustainedDatabaseCPUMicrosecondsPerPayment) µs
              hot accounts (half of \(results.hotPayments) payments on 10 accounts): \(results.hotPaymentsPerSecond) payments/s
              worker RSS: peak \(results.workerPeakRSSKiB / 1024) MiB (high-water mark of the run), steady \(results.workerSteadyRSSKiB / 1024) MiB (largest sample at \(results.sustainedTargetPerSecond)/s), after \(results.workerRSSAfterKiB / 1024) MiB
              billing-ctl verify: \(results.verifyOK ? "all checks passed" : "FAILED (see /tmp/allocator-bench-\(tag)-verify.txt)")
            """)
    }
    if !verifyOK { exitCode = 1 }
} catch {
    fail("\(error)", code: 3)
}
// After the do block, so that its defers (stop the worker, drop the database) have run.
exit(exitCode)
