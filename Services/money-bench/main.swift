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

// money-bench: the money path end to end, from a bank statement on the raw topic to the payment
// allocated on the ledger, through real payment-ingest, allocator and invoicer processes.
//
//   BILLING_BUILD_CONFIGURATION=release Deploy/local/stack up && . .local/stack.env && money-bench
//   money-bench --faults --seed 42        (the fault run: kills, broker outage, PostgreSQL restart)

struct Options: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "money-bench",
        abstract: "Runs the money path against the local stack (source .local/stack.env first).",
        discussion: """
            On a database and topics of its own, with its own payment-ingest, allocator and invoicer processes. \
            Files are produced while the workers consume: a file goes out when fewer than --files-in-flight are \
            waiting and the allocator is less than 20000 payments behind. Measured: lines/s from the first produce \
            to the last payment committed on the ledger, each payment's latency from its file's produce to its \
            posting, and each worker's peak RSS. Then every count is checked (each payment once, duplicates booked \
            zero times, balances and suspense as generated) and `billing-ctl verify` runs. WORKER_* and KAFKA_* \
            variables in the environment reach the workers. A stream that stops moving for 5 minutes fails the run.

            Exit codes: 0 all checks passed, 1 a check failed, 2 usage, 3 stack unavailable, a worker failed or the \
            stream stalled.
            """)

    @Option(help: "accounts opened by command") var accounts = 20_000
    @Option(help: "invoices created and posted by command for each account") var invoicesPerAccount = 2
    @Option(help: "statement lines in the stream, duplicates included") var payments = 200_000
    @Option(help: "credit lines per camt.053 file (2000 is about 1.3 MB)") var linesPerFile = 2_000
    @Option(help: "lines nobody can tie to a client: unknown payer, no or a wrong reference")
    var unidentifiedPercent = 5
    @Option(help: "lines repeated from the previous file, as overlapping statements do; they must book nothing")
    var duplicatePercent = 3
    @Option(help: "the stream and the faults follow it (default: random, printed)") var seed: Int?
    @Flag(
        help: """
            while the stream runs: SIGKILL a random worker every --kill-every-ms (±50 %) and restart it, \
            take dev-kafka's brokers down for 3-5 s once, restart PostgreSQL once (needs BILLING_STACK, set \
            by the stack)
            """)
    var faults = false
    @Option(help: "mean time between kills with --faults, in milliseconds") var killEveryMs = 4_000
    @Option(help: "files produced but not yet imported, at most (dev-kafka keeps about 5 MiB per partition)")
    var filesInFlight = 4
    @Flag(help: "keep the benchmark's database afterwards; prints its name") var keep = false
    @Flag(help: "print the results as JSON") var json = false

    func validate() throws {
        try requireAtLeast(
            1, ("--accounts", accounts), ("--invoices-per-account", invoicesPerAccount), ("--payments", payments),
            ("--lines-per-file", linesPerFile), ("--kill-every-ms", killEveryMs),
            ("--files-in-flight", filesInFlight))
        try requireAtLeast(
            0, ("--unidentified-percent", unidentifiedPercent), ("--duplicate-percent", duplicatePercent))
    }
}

func fail(_ message: String, code: Int32) -> Never { benchFail("money-bench", message, code: code) }
func progress(_ text: String) { benchProgress("money-bench", text) }

TerminationSignals.ignoreBrokenPipe()
var seedSource = SystemRandomNumberGenerator()
let parsed = Options.parseBenchOptions()
let options = (
    accounts: parsed.accounts, invoicesPerAccount: parsed.invoicesPerAccount, payments: parsed.payments,
    linesPerFile: parsed.linesPerFile, unidentifiedPercent: parsed.unidentifiedPercent,
    duplicatePercent: parsed.duplicatePercent, seed: parsed.seed ?? Int(seedSource.next() % 1_000_000_000) + 1,
    faults: parsed.faults, killEveryMs: parsed.killEveryMs, filesInFlight: parsed.filesInFlight, json: parsed.json,
    keep: parsed.keep
)
guard options.unidentifiedPercent <= 100, options.duplicatePercent < 100 else {
    fail("--unidentified-percent must be at most 100 and --duplicate-percent below 100", code: 2)
}
let stack = benchStack("money-bench")
if options.faults, (options.payments + options.linesPerFile - 1) / options.linesPerFile < 3 {
    fail("--faults needs at least 3 files (--payments / --lines-per-file)", code: 2)
}
if options.faults, stack.stackScript == nil {
    fail("--faults needs BILLING_STACK (Deploy/local/stack writes it to .local/stack.env)", code: 2)
}
progress("seed \(options.seed)\(options.faults ? ", with faults" : "") (replay with --seed \(options.seed))")
let tag = benchTag()
let databaseName = "moneybench_\(tag)"
let suffix = ".bench-\(tag)"
/// Backlog of payments the allocator may have unread before the next file waits.
let allocatorBacklog = 20_000

// MARK: The stream

func accountNumber(_ index: Int) -> String { "MB-" + zeroPadded(index, width: 6) }
func invoiceReference(account: Int, invoice: Int) -> String {
    "MBR-" + zeroPadded(account, width: 6) + "-\(invoice)"
}

/// One payment of the stream: for a client's invoice, or for nobody anyone can tell.
struct Payment {
    /// Account and invoice (1-based) it pays, or nil when it cannot be identified.
    var invoice: (account: Int, number: Int)?
    var amountMinor: Int64
    /// For unidentifiable payments: whether the payer wrote a reference that does not exist.
    var wrongReference: Bool
}

/// The stream: payments, and for each statement line the payment it carries (a duplicate
/// line carries the same payment as the earlier line it repeats).
struct Stream {
    var payments: [Payment] = []
    var lines: [Int] = []
    var duplicates = 0

    func credit(line: Int) -> CamtCredit {
        let id = lines[line]
        let payment = payments[id]
        let remittance: String
        let payerIBAN: String
        let payerName: String
        if let invoice = payment.invoice {
            remittance = "Invoice \(invoiceReference(account: invoice.account, invoice: invoice.number)) thank you"
            payerIBAN = "DE89370400440" + zeroPadded(invoice.account, width: 9)
            payerName = "Client \(invoice.account)"
        } else {
            remittance = payment.wrongReference ? "Invoice MBR-999999-\(id % 9 + 1)" : "Transfer \(id)"
            payerIBAN = "FR76300060000" + zeroPadded(id, width: 11)
            payerName = "Unknown payer \(id)"
        }
        return CamtCredit(
            amountMinor: payment.amountMinor, bankReference: "MBANK-\(id)", endToEndID: "MBE2E-\(id)",
            payerName: payerName, payerIBAN: payerIBAN, remittance: remittance, bookedOn: "2026-06-02")
    }
}

/// Draws the stream: `count` lines, `duplicatePercent` of them (after the first file) repeating a
/// line of the file before, as overlapping statements do (a file lists each entry once); of the rest, `unidentifiedPercent` unidentifiable and the others
/// paying a random invoice in full (60 %), in part (25 %) or more than it asks (15 %).
func drawStream(_ random: inout BenchRandom, totals: [[Int64]]) -> Stream {
    var stream = Stream()
    let perFile = options.linesPerFile
    var inFile = Set<Int>()
    for index in 0..<options.payments {
        if index % perFile == 0 { inFile = [] }
        if index >= perFile, random.chance(percent: options.duplicatePercent) {
            let previousFile = index / perFile - 1
            var repeated: Int?
            for _ in 0..<20 where repeated == nil {
                let candidate = stream.lines[previousFile * perFile + random.next(perFile)]
                if !inFile.contains(candidate) { repeated = candidate }
            }
            if let repeated {
                inFile.insert(repeated)
                stream.lines.append(repeated)
                stream.duplicates += 1
                continue
            }
        }
        let payment: Payment
        if random.chance(percent: options.unidentifiedPercent) {
            payment = Payment(
                invoice: nil, amountMinor: Int64(100 + random.next(50_000)), wrongReference: random.chance(percent: 50))
        } else {
            let account = 1 + random.next(options.accounts)
            let number = 1 + random.next(options.invoicesPerAccount)
            let total = totals[account - 1][number - 1]
            let kind = random.next(100)
            let amount =
                kind < 60
                ? total
                : kind < 85 ? max(1, total * Int64(20 + random.next(61)) / 100) : total + Int64(1 + random.next(5_000))
            payment = Payment(invoice: (account, number), amountMinor: amount, wrongReference: false)
        }
        inFile.insert(stream.payments.count)
        stream.lines.append(stream.payments.count)
        stream.payments.append(payment)
    }
    return stream
}

// MARK: Processes and connections

/// One worker of the run, restarted when a fault kills it; its peak RSS over all its lives.
final class RunWorker {
    let service: String
    let environment: [String: String]
    private(set) var current: BenchWorker
    private(set) var lives = 1
    private(set) var peakKiB = 0
    private var stopped = false

    init(_ service: String, role: String) throws {
        self.service = service
        var environment = stack.benchWorkerEnvironment(
            database: databaseName, role: role, group: "\(service)-\(tag)", ["BILLING_TOPIC_SUFFIX": suffix])
        if options.faults {
            // A killed member's partitions wait for its session to expire (6 s, set by
            // benchWorkerEnvironment); retries after a fault come back sooner too.
            environment.merge(["WORKER_RETRY_BACKOFF_MAX_MS": "2000"]) { current, _ in current }
        }
        self.environment = environment
        current = try Self.start(service, environment, life: 1)
    }

    private static func start(_ service: String, _ environment: [String: String], life: Int) throws -> BenchWorker {
        try BenchWorker.start(
            executable: "\(stack.binDirectory)/\(service)", environment: environment,
            logPath: "/tmp/money-bench-\(tag)-\(service)-\(life).log")
    }

    func sample() {
        if let memory = current.process.memoryKiB() { peakKiB = max(peakKiB, memory.peak) }
    }

    /// SIGKILL, then start a new process at once, as a supervisor would.
    func killAndRestart() throws {
        sample()
        current.kill()
        lives += 1
        current = try Self.start(service, environment, life: lives)
    }

    func checkRunning() throws {
        guard current.process.isRunning else {
            throw BenchFailure("\(service) exited by itself; see \(current.logPath)")
        }
    }

    func stop() {
        guard !stopped else { return }
        stopped = true
        sample()
        current.stop()
    }
}

/// The benchmark's own connection, reopened when PostgreSQL restarts under it (fault runs).
/// Only reads go through it once the stream runs, so a retried statement changes nothing.
final class Watch {
    private var connection: PGConnection?

    func query(_ sql: String, _ parameters: [any PGParameterConvertible] = []) throws -> PGRows {
        let deadline = monotonicMs() + 180_000
        while true {
            do {
                if connection == nil {
                    connection = try PGConnection(
                        conninfo: stack.url(database: databaseName, role: "billing_owner"),
                        applicationName: "money-bench", ioTimeoutMs: 600_000)
                }
                return try connection!.query(sql, parameters)
            } catch {
                connection?.close()
                connection = nil
                guard monotonicMs() < deadline else { throw error }
                sleepThread(milliseconds: 500)
            }
        }
    }

    func int(_ sql: String, _ parameters: [any PGParameterConvertible] = []) throws -> Int {
        Int(try query(sql, parameters)[0].int64(0))
    }

    func close() { connection?.close() }
}

/// Waits until `done` says so, reporting what `status` says every 2 s; fails when a worker exits.
func waitUntil(
    _ what: String, workers: [RunWorker], timeoutMs: Int64 = 1_800_000, status: () throws -> String,
    done: () throws -> Bool
) throws {
    let deadline = monotonicMs() + timeoutMs
    var lastReport = monotonicMs()
    while try !done() {
        for worker in workers { try worker.checkRunning() }
        guard monotonicMs() < deadline else { throw BenchFailure("\(what): not done in time (\(try status()))") }
        if monotonicMs() - lastReport >= 2_000 {
            progress("\(what): \(try status())")
            lastReport = monotonicMs()
        }
        sleepThread(milliseconds: 200)
    }
}

// MARK: Faults

/// The faults of a `--faults` run, drawn from the seed: kills on a clock, the broker outage and
/// the PostgreSQL restart at a point of the stream. A fault waits until the workers have moved
/// the stream on since the last one, so that each hits a working system rather than one still
/// recovering (a killed consumer's partitions wait for its session to expire).
struct Faults {
    var random: BenchRandom
    var nextKillMs: Int64
    let brokerDownAtFile: Int
    let brokerDownMs: Int
    let restartAtFile: Int
    var brokerDone = false
    var restartDone = false
    var kills: [String: Int] = [:]
    var log: [String] = []
    /// Files imported plus payments consumed, read first after the last fault ended (nil: not yet read).
    var progressAfterLastFault: Int? = -1
    let startedMs = monotonicMs()

    init(seed: Int, files: Int) {
        random = BenchRandom(seed: UInt64(seed) ^ 0xFA17_5EED)
        // Points of the stream (files imported): the outage in the first half, the restart after it
        // and before the last file, so both hit a stream in motion.
        brokerDownAtFile = max(1, files / 3 + random.next(max(1, files / 10)))
        restartAtFile = min(files - 1, max(brokerDownAtFile + 1, files * 2 / 3 + random.next(max(1, files / 10))))
        brokerDownMs = 3_000 + random.next(2_001)
        nextKillMs = 0
        nextKillMs = nextKillFromNow()
    }

    /// When the next kill is due: `--kill-every-ms` from now, ±50 %.
    mutating func nextKillFromNow() -> Int64 {
        monotonicMs() + Int64(options.killEveryMs / 2 + random.next(options.killEveryMs + 1))
    }

    mutating func note(_ text: String) {
        let line = "+\(millisecondsText(monotonicMs() - startedMs)) s \(text)"
        log.append(line)
        progress("fault: \(line)")
    }

    /// Injects what is due; each fault runs to its end before the next (a worker is not restarted
    /// into an outage).
    mutating func tick(imported: Int, progressMark: Int, workers: [RunWorker]) throws {
        guard let after = progressAfterLastFault else {
            progressAfterLastFault = progressMark
            return
        }
        guard progressMark > after else { return }
        let logged = log.count
        defer { if log.count != logged { progressAfterLastFault = nil } }
        if !brokerDone, imported >= brokerDownAtFile {
            brokerDone = true
            note("dev-kafka brokers down for \(brokerDownMs) ms")
            try stack.devKafka("broker-down all")
            sleepThread(milliseconds: brokerDownMs)
            try stack.devKafka("broker-up all")
            note("dev-kafka brokers up")
        } else if !restartDone, imported >= restartAtFile {
            restartDone = true
            note("PostgreSQL stopped (immediate)")
            try runStack(["pg", "stop", "immediate"])
            sleepThread(milliseconds: 2_000)
            try runStack(["pg", "start"])
            note("PostgreSQL started")
        } else if monotonicMs() >= nextKillMs {
            let worker = workers[random.next(workers.count)]
            note("SIGKILL \(worker.service) (pid \(worker.current.process.pid))")
            try worker.killAndRestart()
            kills[worker.service, default: 0] += 1
            nextKillMs = nextKillFromNow()
        }
    }

    func runStack(_ arguments: [String]) throws {
        let output = "/tmp/money-bench-\(tag)-stack.log"
        let child = try ChildProcess(
            path: stack.stackScript ?? "", arguments: arguments, environment: ProcessEnvironment.current().values,
            outputPath: output)
        guard child.wait() == 0 else {
            throw BenchFailure("stack \(arguments.joined(separator: " ")) failed; see \(output)")
        }
    }
}

// MARK: Results

struct WorkerResult: Encodable {
    var worker: String
    var peakRSSKiB: Int
    var processes: Int
}

struct Check: Encodable {
    var check: String
    var ok: Bool
    var detail: String
}

struct Results: Encodable {
    var seed: Int
    var faults: Bool
    var accounts: Int
    var invoices: Int
    var setupSeconds: Int
    var lines: Int
    var files: Int
    var uniquePayments: Int
    var identified: Int
    var unidentified: Int
    var duplicates: Int
    var elapsedMs: Int64
    var linesPerSecond: Int
    var latencyP50Ms: String
    var latencyP99Ms: String
    var latencyMaxMs: String
    var workers: [WorkerResult]
    var kills: [String: Int]
    var faultLog: [String]
    var checks: [Check]
    var ok: Bool
}

// MARK: The run

let files = (options.payments + options.linesPerFile - 1) / options.linesPerFile
var exitCode: Int32 = 0
do {
    let benchDatabase = try BenchDatabase(stack: stack, name: databaseName, tool: "money-bench", keep: options.keep)
    defer { benchDatabase.finish() }
    let watch = Watch()
    defer { watch.close() }
    do {
        let owner = try PGConnection(
            conninfo: stack.url(database: databaseName, role: "billing_owner"), applicationName: "money-bench")
        defer { owner.close() }
        _ = try Migrator().migrate(owner)
    }
    for topic in Topics.all where !topic.name.hasPrefix("billing.probe") {
        try stack.devKafka("create-topic \(topic.name)\(suffix) \(topic.partitionCount)")
    }
    let allocator = try RunWorker("allocator", role: "billing_allocator")
    let invoicer = try RunWorker("invoicer", role: "billing_invoicer")
    let ingest = try RunWorker("payment-ingest", role: "billing_ingest")
    let workers = [allocator, invoicer, ingest]
    defer { for worker in workers { worker.stop() } }
    let producer = try KafkaProducer(
        configuration: KafkaConfiguration([
            "bootstrap.servers": stack.bootstrapServers, "message.max.bytes": "33554432", "linger.ms": "5",
        ]))
    defer { _ = producer.close(timeoutMs: 10_000) }

    // Setup, through the services: accounts by ledger command, invoices by document command.
    let setupStarted = monotonicMs()
    let origin = CommandOrigin(requestedBy: "money-bench")
    func command<Body: Encodable>(_ topic: TopicContract, type: String, id: String, key: String, _ body: Body)
        -> KafkaOutgoingMessage
    {
        KafkaOutgoingMessage(
            topic: topic.name + suffix, key: key,
            event: CloudEvent(
                id: id, type: type, source: "money-bench", time: UTCClock.timestamp(), subject: key,
                data: ContractJSON.encode(body)))
    }
    progress("setup: opening \(options.accounts) accounts by command")
    try produceAll(
        producer,
        (1...options.accounts).map { index in
            command(
                Topics.ledgerCommands, type: LedgerTypes.accountOpen, id: "mb-\(tag)-open-\(index)",
                key: accountNumber(index),
                AccountSettingsCommand(
                    origin: origin, number: accountNumber(index), name: "Money bench client \(index)",
                    currency: "EUR", creditRule: "days:14"))
        })
    try waitUntil(
        "setup", workers: workers,
        status: {
            "\(try watch.int("SELECT count(*) FROM ledger.accounts"))/\(options.accounts) accounts open, copies: "
                + "\(try watch.int("SELECT count(*) FROM documents.accounts")) invoicer, "
                + "\(try watch.int("SELECT count(*) FROM ingest.accounts")) payment-ingest"
        },
        done: {
            let row = try watch.query(
                """
                SELECT (SELECT count(*) FROM ledger.accounts), (SELECT count(*) FROM documents.accounts),
                       (SELECT count(*) FROM ingest.accounts),
                       (SELECT count(*) FROM ledger.command_outcomes WHERE status <> 'done')
                """)[0]
            guard try row.int64(3) == 0 else {
                throw BenchFailure("account commands were refused: see ledger.command_outcomes")
            }
            return try (0..<3).allSatisfy { try row.int64($0) >= options.accounts }
        })

    var random = BenchRandom(seed: UInt64(options.seed))
    let invoiceCount = options.accounts * options.invoicesPerAccount
    progress("setup: creating and posting \(invoiceCount) invoices by command")
    var invoiceCommands: [KafkaOutgoingMessage] = []
    invoiceCommands.reserveCapacity(invoiceCount)
    for account in 1...options.accounts {
        for number in 1...options.invoicesPerAccount {
            let price = Int64(990 + random.next(24_011))
            invoiceCommands.append(
                command(
                    Topics.documentCommands, type: DocumentTypes.create, id: "mb-\(tag)-invoice-\(account)-\(number)",
                    key: accountNumber(account),
                    DocumentCreateCommand(
                        origin: origin, kind: "invoice", account: accountNumber(account),
                        reference: invoiceReference(account: account, invoice: number),
                        lines: [
                            DocumentLineSpec(
                                description: "Subscription, period \(number)", quantity: "1",
                                unitPrice: CamtWriter.decimal(price), taxRate: "20")
                        ], issuedOn: "2026-05-01", post: true, postedOn: "2026-05-01")))
        }
    }
    try produceAll(producer, invoiceCommands)
    invoiceCommands = []
    try waitUntil(
        "setup", workers: workers,
        status: {
            "\(try watch.int("SELECT count(*) FROM ledger.items WHERE document_kind = 'invoice'"))/\(invoiceCount) invoices on the ledger, "
                + "\(try watch.int("SELECT count(DISTINCT document_id) FROM ingest.documents")) known to payment-ingest"
        },
        done: {
            let row = try watch.query(
                """
                SELECT (SELECT count(*) FROM ledger.items WHERE document_kind = 'invoice'),
                       (SELECT count(DISTINCT document_id) FROM ingest.documents),
                       (SELECT count(*) FROM documents.command_outcomes WHERE status <> 'done')
                """)[0]
            guard try row.int64(2) == 0 else {
                throw BenchFailure("invoice commands were refused: see documents.command_outcomes")
            }
            return try row.int64(0) >= invoiceCount && row.int64(1) >= invoiceCount
        })
    let setupSeconds = Int((monotonicMs() - setupStarted) / 1_000)
    progress("setup: done in \(setupSeconds) s; vacuumed, analysed and synced in \(try benchDatabase.settle(stack: stack)) ms")

    // The invoices' totals as the invoicer computed them, and the balances before the stream.
    var totals = Array(
        repeating: Array(repeating: Int64(0), count: options.invoicesPerAccount), count: options.accounts)
    for row in try watch.query("SELECT reference, total_minor FROM documents.documents WHERE kind = 'invoice'").rows {
        let parts = try row.string(0).split(separator: "-")
        guard parts.count == 3, let account = Int(parts[1]), let number = Int(parts[2]) else { continue }
        totals[account - 1][number - 1] = try row.int64(1)
    }
    var expectedBalance: [String: Int64] = [:]
    for row in try watch.query("SELECT number, balance_minor FROM ledger.accounts").rows {
        expectedBalance[try row.string(0)] = try row.int64(1)
    }

    let stream = drawStream(&random, totals: totals)
    var unidentifiedMinor: Int64 = 0
    var totalMinor: Int64 = 0
    for payment in stream.payments {
        totalMinor += payment.amountMinor
        if let invoice = payment.invoice {
            expectedBalance[accountNumber(invoice.account), default: 0] -= payment.amountMinor
        } else {
            unidentifiedMinor += payment.amountMinor
        }
    }
    let unidentifiedCount = stream.payments.count { $0.invoice == nil }
    // Payment events each file leads to (its lines that are not duplicates), running total.
    var messagesThrough: [Int] = []
    do {
        var seen = Set<Int>()
        var running = 0
        for file in 0..<files {
            for line in (file * options.linesPerFile)..<min(options.payments, (file + 1) * options.linesPerFile)
            where seen.insert(stream.lines[line]).inserted {
                running += 1
            }
            messagesThrough.append(running)
        }
    }

    // The stream: files produced while the workers consume.
    let rawTopic = Topics.bankStatementsRaw.name + suffix
    let rawPartitions = Topics.bankStatementsRaw.partitionCount
    let paymentTopics = [Topics.payments.name + suffix, Topics.unidentifiedPayments.name + suffix]
    let moneyPath = [ingest, allocator]
    var faults = options.faults ? Faults(seed: options.seed, files: files) : nil
    var producedAtMs: [Int64] = []
    var tickets: [KafkaDeliveryTicket] = []
    progress(
        "stream: \(options.payments) lines in \(files) camt.053 files (\(stream.payments.count) payments, "
            + "\(unidentifiedCount) unidentifiable, \(stream.duplicates) duplicates)")
    var lastReport = monotonicMs()
    var lastMove = (mark: -1, atMs: monotonicMs())
    while true {
        let row = try watch.query(
            """
            SELECT (SELECT count(*) FROM ingest.files),
                   (SELECT coalesce(sum(next_offset), 0) FROM ledger.consumer_offsets
                    WHERE consumer_group = $1 AND topic = ANY($2::text[])),
                   (SELECT count(*) FROM ingest.offset_gaps) + (SELECT count(*) FROM ledger.offset_gaps)
            """, ["allocator-\(tag)", PGArray.strings(paymentTopics)])[0]
        let imported = Int(try row.int64(0))
        let consumed = Int(try row.int64(1))
        guard try row.int64(2) == 0 else {
            throw BenchFailure(
                "the broker dropped messages before a worker read them (offset gaps recorded; dev-kafka keeps about "
                    + "5 MiB per partition): lower --files-in-flight or --lines-per-file")
        }
        if imported + consumed != lastMove.mark {
            lastMove = (imported + consumed, monotonicMs())
        } else if monotonicMs() - lastMove.atMs > 300_000 {
            throw BenchFailure(
                "the stream has not moved for 5 minutes (\(imported)/\(files) files imported, \(consumed) payments "
                    + "consumed by the allocator); see the worker logs in /tmp/money-bench-\(tag)-*.log")
        }
        if imported >= files, consumed >= stream.payments.count,
            try watch.int(
                "SELECT count(*) FROM ledger.journal_entries WHERE document_kind IN ('payment', 'unidentified-payment')"
            )
                >= stream.payments.count
        {
            break
        }
        while producedAtMs.count < files, producedAtMs.count - imported < options.filesInFlight,
            messagesThrough[producedAtMs.count] - consumed <= allocatorBacklog
        {
            let file = producedAtMs.count
            let lines = (file * options.linesPerFile)..<min(options.payments, (file + 1) * options.linesPerFile)
            let bytes = CamtWriter.statement(
                id: "MB-\(tag)-\(file)", iban: "DE02120300000000202051", credits: lines.map { stream.credit(line: $0) })
            producedAtMs.append(wallClockMs())
            tickets.append(
                producer.enqueue(
                    KafkaOutgoingMessage(
                        topic: rawTopic, key: nil, value: bytes,
                        headers: [KafkaHeader(name: "file_name", text: "money-bench-\(file).xml")],
                        partition: Int32(file % rawPartitions)),
                    deadlineMs: monotonicMs() + 600_000))
        }
        try producer.poll(timeoutMs: 0)
        for worker in workers { try worker.checkRunning() }
        try faults?.tick(imported: imported, progressMark: imported + consumed, workers: moneyPath)
        if monotonicMs() - lastReport >= 2_000 {
            for worker in workers { worker.sample() }
            progress(
                "stream: \(producedAtMs.count)/\(files) files produced, \(imported) imported; "
                    + "\(min(consumed, stream.payments.count))/\(stream.payments.count) payments at the allocator")
            lastReport = monotonicMs()
        }
        sleepThread(milliseconds: 50)
    }
    while tickets.contains(where: \.isPending) { try producer.poll(timeoutMs: 50) }
    for worker in workers { worker.sample() }
    progress("stream: done; checking")

    // Throughput and latency: from each file's produce to its payments' postings.
    _ = try watch.query("CREATE TEMP TABLE produced (file_name text PRIMARY KEY, produced_ms bigint NOT NULL)")
    _ = try watch.query(
        "INSERT INTO produced SELECT 'money-bench-' || (n - 1) || '.xml', ms FROM unnest($1::bigint[]) WITH ORDINALITY AS p(ms, n)",
        [PGArray.integers(producedAtMs)])
    // Fresh statistics first: with the ones from before the stream the planner may pick a nested loop
    // over 200,000 lines.
    _ = try watch.query("ANALYZE produced, ingest.files, ingest.statement_lines, ledger.journal_entries")
    let timing = try watch.query(
        """
        SELECT (percentile_disc(0.5) WITHIN GROUP (ORDER BY latency))::bigint,
               (percentile_disc(0.99) WITHIN GROUP (ORDER BY latency))::bigint,
               max(latency)::bigint, max(posted_ms)::bigint, count(*)
        FROM (SELECT (extract(epoch FROM j.posted_at) * 1000000)::bigint - p.produced_ms * 1000 AS latency,
                     (extract(epoch FROM j.posted_at) * 1000)::bigint AS posted_ms
              FROM ingest.statement_lines AS l
              JOIN ingest.files AS f USING (file_id)
              JOIN produced AS p USING (file_name)
              JOIN ledger.journal_entries AS j ON j.document_id = l.payment_id
                  AND j.document_kind IN ('payment', 'unidentified-payment')
              WHERE l.outcome IN ('identified', 'unidentified')) AS x
        """)[0]
    let elapsedMs = try timing.int64(3) - producedAtMs[0]

    // The counts.
    var checks: [Check] = []
    func check(_ name: String, _ ok: Bool, _ detail: String) {
        checks.append(Check(check: name, ok: ok, detail: detail))
    }
    let undelivered = tickets.count { !$0.result.isDelivered }
    check("every file delivered to the raw topic", undelivered == 0, "\(tickets.count - undelivered)/\(files)")
    // A file the broker holds twice (the dev broker can duplicate a produce cut off by an outage) is
    // imported twice; the second import must book nothing: every one of its lines a duplicate.
    let imports = try watch.query("SELECT count(DISTINCT file_name), count(*) FROM ingest.files")[0]
    let (distinctFiles, fileImports) = (try imports.int64(0), try imports.int64(1))
    check(
        "every file imported, a repeat booking nothing", distinctFiles == files,
        "\(distinctFiles) imported of \(files)"
            + (fileImports > distinctFiles ? "; \(fileImports - distinctFiles) delivered again by the broker" : ""))
    let outcomes = try watch.query(
        """
        SELECT count(*) FILTER (WHERE outcome = 'identified'), count(*) FILTER (WHERE outcome = 'unidentified'),
               count(*) FILTER (WHERE outcome = 'duplicate'), count(*)
        FROM ingest.statement_lines
        """)[0]
    let identifiedCount = stream.payments.count - unidentifiedCount
    let booked = (try outcomes.int64(0), try outcomes.int64(1), try outcomes.int64(2), try outcomes.int64(3))
    // Lines of the extra imports of files delivered again (every import of a file has its lines):
    // all of them must be duplicates.
    let repeated = Int64(
        try watch.int(
            """
            WITH imports AS (SELECT file_id, row_number() OVER (PARTITION BY file_name ORDER BY file_id) AS n
                             FROM ingest.files)
            SELECT count(*) FROM ingest.statement_lines JOIN imports USING (file_id) WHERE n > 1
            """))
    check(
        "lines booked as generated",
        booked
            == (
                Int64(identifiedCount), Int64(unidentifiedCount), Int64(stream.duplicates) + repeated,
                Int64(options.payments) + repeated
            ),
        "identified \(booked.0)/\(identifiedCount), unidentified \(booked.1)/\(unidentifiedCount), "
            + "duplicate \(booked.2)/\(Int64(stream.duplicates) + repeated), lines \(booked.3)/\(options.payments)"
            + (repeated > 0 ? " and \(repeated) of files delivered again" : ""))
    let ledger = try watch.query(
        """
        SELECT count(*) FILTER (WHERE document_kind = 'payment'),
               count(*) FILTER (WHERE document_kind = 'unidentified-payment'), count(DISTINCT document_id),
               coalesce((SELECT sum(amount_minor) FROM ledger.postings AS p JOIN ledger.journal_entries AS e USING (entry_id)
                         WHERE e.document_kind IN ('payment', 'unidentified-payment') AND p.amount_minor > 0), 0),
               coalesce((SELECT -sum(amount_minor) FROM ledger.postings WHERE ledger_account = 'SUSPENSE'), 0)
        FROM ledger.journal_entries WHERE document_kind IN ('payment', 'unidentified-payment')
        """)[0]
    check(
        "every payment posted once, duplicates zero times",
        try ledger.int64(0) == identifiedCount && ledger.int64(1) == unidentifiedCount
            && ledger.int64(2) == stream.payments.count,
        "\(try ledger.int64(0)) payments, \(try ledger.int64(1)) to suspense, \(try ledger.int64(2)) distinct of \(stream.payments.count)"
    )
    check(
        "money posted equals money in the files", try ledger.int64(3) == totalMinor,
        "\(CamtWriter.decimal(try ledger.int64(3))) of \(CamtWriter.decimal(totalMinor)) EUR")
    check(
        "suspense holds the unidentified money", try ledger.int64(4) == unidentifiedMinor,
        "\(CamtWriter.decimal(try ledger.int64(4))) of \(CamtWriter.decimal(unidentifiedMinor)) EUR")
    var wrongBalances: [String] = []
    for row in try watch.query("SELECT number, balance_minor FROM ledger.accounts").rows {
        let number = try row.string(0)
        if expectedBalance[number] != (try row.int64(1)) { wrongBalances.append(number) }
    }
    check(
        "every balance is its invoices less its payments", wrongBalances.isEmpty,
        wrongBalances.isEmpty
            ? "\(expectedBalance.count) accounts" : "\(wrongBalances.count) differ, e.g. \(wrongBalances.prefix(3))")
    let troubles = try watch.query(
        """
        SELECT (SELECT count(*) FROM ingest.offset_gaps) + (SELECT count(*) FROM ledger.offset_gaps),
               (SELECT count(*) FROM ingest.dead_letters) + (SELECT count(*) FROM ledger.dead_letters)
        """)[0]
    check(
        "nothing truncated, nothing dead-lettered", try troubles.int64(0) == 0 && troubles.int64(1) == 0,
        "\(try troubles.int64(0)) offset gaps, \(try troubles.int64(1)) dead letters")
    check(
        "latency measured for every payment", try timing.int64(4) == stream.payments.count,
        "\(try timing.int64(4)) of \(stream.payments.count)")
    for worker in workers { worker.stop() }
    let verify = try benchDatabase.verify(
        stack: stack, environment: allocator.environment, outputPath: "/tmp/money-bench-\(tag)-verify.txt")
    check(
        "billing-ctl verify", verify.exitCode == 0,
        verify.exitCode == 0 ? "all checks passed" : "exit \(verify.exitCode): see /tmp/money-bench-\(tag)-verify.txt")

    let results = Results(
        seed: options.seed, faults: options.faults, accounts: options.accounts, invoices: invoiceCount,
        setupSeconds: setupSeconds, lines: options.payments, files: files, uniquePayments: stream.payments.count,
        identified: identifiedCount, unidentified: unidentifiedCount, duplicates: stream.duplicates,
        elapsedMs: elapsedMs, linesPerSecond: Int(Int64(options.payments) * 1_000 / max(1, elapsedMs)),
        latencyP50Ms: millisecondsText(try timing.int64(0)), latencyP99Ms: millisecondsText(try timing.int64(1)),
        latencyMaxMs: millisecondsText(try timing.int64(2)),
        workers: workers.map { WorkerResult(worker: $0.service, peakRSSKiB: $0.peakKiB, processes: $0.lives) },
        kills: faults?.kills ?? [:], faultLog: faults?.log ?? [], checks: checks, ok: checks.allSatisfy(\.ok))
    if options.json {
        print(String(decoding: try ContractJSON.encoder().encode(results), as: UTF8.self))
    } else {
        var table = [
            ("seed", "\(results.seed)\(results.faults ? " (faults on)" : "")"),
            (
                "setup",
                "\(results.accounts) accounts, \(results.invoices) invoices by command in \(results.setupSeconds) s"
            ),
            (
                "stream",
                "\(results.lines) lines in \(results.files) files: \(results.identified) identified, "
                    + "\(results.unidentified) unidentifiable, \(results.duplicates) duplicates"
            ),
            (
                "end to end",
                "\(results.linesPerSecond) lines/s (\(millisecondsText(results.elapsedMs * 1_000)) ms, first produce to last posting)"
            ),
            (
                "latency",
                "p50 \(results.latencyP50Ms) ms, p99 \(results.latencyP99Ms) ms, max \(results.latencyMaxMs) ms (file produced → payment posted)"
            ),
        ]
        for worker in results.workers {
            table.append(
                (
                    "\(worker.worker) RSS",
                    "peak \(worker.peakRSSKiB / 1024) MiB"
                        + (worker.processes > 1 ? " over \(worker.processes) processes" : "")
                ))
        }
        if results.faults {
            let kills = results.kills.sorted { $0.key < $1.key }.map { "\($0.value) × \($0.key)" }.joined(
                separator: ", ")
            table.append(
                ("faults", "SIGKILL \(kills.isEmpty ? "none" : kills); broker down once; PostgreSQL restarted once"))
        }
        for item in results.checks { table.append(("\(item.ok ? "ok  " : "FAIL") \(item.check)", item.detail)) }
        let width = table.map(\.0.count).max() ?? 0
        print("money path benchmark")
        for (name, value) in table {
            print("  " + name + String(repeating: " ", count: width - name.count) + "  " + value)
        }
    }
    if !results.ok { exitCode = 1 }
} catch {
    fail("\(error)", code: 3)
}
// After the do block, so that its defers (stop the workers, drop the database) have run.
exit(exitCode)
