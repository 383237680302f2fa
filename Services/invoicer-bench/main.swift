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

// invoicer-bench: measures the invoicer posting invoices from commands.
//
//   BILLING_BUILD_CONFIGURATION=release Deploy/local/stack up
//   . .local/stack.env && invoicer-bench [--invoices 100000] [--accounts 10000]
//
// Setup: a database of its own whose invoicer account copies hold N accounts. A backlog of
// `create --post` commands (3 lines each: a percentage discount, a fixed discount, two tax rates)
// is produced before one invoicer process starts. Measured: invoices/s from the first document
// committed to the last, and to the last event published (documents and outcomes through the
// outbox); then the number series is checked (no gaps, no duplicates) and the worker's RSS read.

struct Options: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invoicer-bench",
        abstract: "Measures the invoicer against the local stack (source .local/stack.env first).",
        discussion: """
            WORKER_* and KAFKA_* variables in the environment reach the worker.

            Exit codes: 0 done, 1 the number series or verify failed, 2 usage, 3 stack unavailable or the worker \
            failed.
            """)

    @Option(help: "create-and-post commands in the backlog") var invoices = 100_000
    @Option(help: "accounts the invoices are spread over") var accounts = 10_000
    @Option(help: "partitions of the benchmark's command topic (dev-kafka keeps about 5 MiB per partition)")
    var partitions = 24
    @Option(help: "the worker's WORKER_CONCURRENCY") var concurrency = 2
    @Flag(help: "keep the benchmark's database afterwards; prints its name") var keep = false
    @Flag(help: "print the results as JSON") var json = false

    func validate() throws {
        try requireAtLeast(
            1, ("--invoices", invoices), ("--accounts", accounts), ("--partitions", partitions),
            ("--concurrency", concurrency))
    }
}

func fail(_ message: String, code: Int32) -> Never { benchFail("invoicer-bench", message, code: code) }

func progress(_ text: String) { benchProgress("invoicer-bench", text) }

struct Results: Encodable {
    var invoices: Int
    var accounts: Int
    var linesPerInvoice: Int
    var committedPerSecond: Int
    var publishedPerSecond: Int
    var numbersChecked: Int
    var numberGaps: Int
    var numberDuplicates: Int
    var refused: Int
    var workerPeakRSSKiB: Int
    var workerRSSAfterKiB: Int
    var verifyOK: Bool
}

TerminationSignals.ignoreBrokenPipe()
let options = Options.parseBenchOptions()
let stack = benchStack("invoicer-bench")
let tag = benchTag()
let databaseName = "invbench_\(tag)"
// The worker's own topics: the contract's names with a suffix, so nothing else reads them.
let suffix = ".bench-\(tag)"
let commandsTopic = Topics.documentCommands.name + suffix

func accountNumber(_ index: Int) -> String {
    "INVB-" + zeroPadded(index, width: 6)
}

var exitCode: Int32 = 0
do {
    let benchDatabase = try BenchDatabase(stack: stack, name: databaseName, tool: "invoicer-bench", keep: options.keep)
    defer { benchDatabase.finish() }
    let database = try PGConnection(
        conninfo: stack.url(database: databaseName, role: "billing_owner"), applicationName: "invoicer-bench",
        ioTimeoutMs: 600_000)
    _ = try Migrator().migrate(database)
    try stack.devKafka("create-topic \(commandsTopic) \(options.partitions)")
    for topic in [Topics.documents, Topics.commandOutcomes, Topics.deadLetter] {
        try stack.devKafka("create-topic \(topic.name)\(suffix) \(options.partitions)")
    }

    progress("setup: \(options.accounts) accounts in the invoicer's copy")
    try database.query(
        """
        INSERT INTO documents.accounts (account_id, number, name, currency, state, credit_rule)
        SELECT n, 'INVB-' || lpad(n::text, 6, '0'), 'Bench client ' || n, 'EUR', 'active', 'day:15,months:1'
        FROM generate_series(1, $1::integer) AS n
        """, [options.accounts])
    try database.query("ANALYZE documents.accounts")

    progress("producing \(options.invoices) create-and-post commands (3 lines each)")
    let producer = try KafkaProducer(configuration: KafkaConfiguration(["bootstrap.servers": stack.bootstrapServers]))
    var messages: [KafkaOutgoingMessage] = []
    messages.reserveCapacity(options.invoices)
    for index in 0..<options.invoices {
        let account = accountNumber(1 + index % options.accounts)
        let command = DocumentCreateCommand(
            origin: CommandOrigin(requestedBy: "invoicer-bench"), kind: "invoice", account: account,
            lines: [
                DocumentLineSpec(
                    description: "Subscription \(index)", quantity: "1", unitPrice: "29.90", taxRate: "20",
                    discounts: ["10%"]),
                DocumentLineSpec(
                    description: "Extra usage", quantity: "3.5", unitPrice: "1.20", taxRate: "20", discounts: ["0.50"]),
                DocumentLineSpec(description: "Printed bill", quantity: "1", unitPrice: "2.00", taxRate: "7"),
            ],
            post: true)
        let event = CloudEvent(
            id: "bench-\(tag)-\(index)", type: DocumentTypes.create, source: "invoicer-bench",
            time: UTCClock.timestamp(), subject: account, data: ContractJSON.encode(command))
        messages.append(KafkaOutgoingMessage(topic: commandsTopic, key: account, event: event))
    }
    try produceAll(producer, messages)
    messages = []
    _ = producer.close(timeoutMs: 5_000)

    let environment = stack.benchWorkerEnvironment(
        database: databaseName, role: "billing_invoicer", group: "invbench-\(tag)",
        [
            "BILLING_TOPIC_SUFFIX": suffix, "WORKER_TOPICS": commandsTopic,
            "WORKER_CONCURRENCY": String(options.concurrency),
        ])
    let worker = try BenchWorker.start(
        executable: "\(stack.binDirectory)/invoicer", environment: environment,
        logPath: "/tmp/invoicer-bench-\(tag).log")
    defer { worker.stop() }

    // Done when every command has its outcome and the outbox has nothing left to send.
    var lastReport = monotonicMs()
    while true {
        let row = try database.query(
            """
            SELECT (SELECT count(*) FROM documents.command_outcomes),
                   (SELECT count(*) FROM documents.outbox WHERE sent_at IS NULL)
            """)[0]
        let outcomes = try row.int64(0)
        if outcomes >= options.invoices, try row.int64(1) == 0 { break }
        guard worker.process.isRunning else { throw BenchFailure("the worker exited; see \(worker.logPath)") }
        if monotonicMs() - lastReport >= 2_000 {
            let gaps = try database.query("SELECT count(*) FROM documents.offset_gaps")[0].int64(0)
            guard gaps == 0 else {
                throw BenchFailure(
                    "the broker dropped commands before the worker read them (\(gaps) offset gaps): use more partitions"
                )
            }
            progress("\(outcomes)/\(options.invoices) commands carried out")
            lastReport = monotonicMs()
        }
        sleepThread(milliseconds: 100)
    }
    let memory = worker.process.memoryKiB() ?? (0, 0)
    let spans = try database.query(
        """
        SELECT (extract(epoch FROM max(created_at) - min(created_at)) * 1000)::bigint,
               (extract(epoch FROM (SELECT max(sent_at) FROM documents.outbox) - min(created_at)) * 1000)::bigint,
               count(*)
        FROM documents.documents
        """)[0]
    let posted = Int(try spans.int64(2))
    let committedRate = posted * 1000 / max(1, Int(try spans.int64(0)))
    let publishedRate = posted * 1000 / max(1, Int(try spans.int64(1)))
    let numbers = try database.query(
        """
        SELECT count(*), count(DISTINCT seq), coalesce(max(seq), 0),
               (SELECT last_sequence FROM documents.number_series WHERE document_kind = 'invoice'
                ORDER BY year DESC LIMIT 1)
        FROM (SELECT split_part(number, '-', 3)::bigint AS seq FROM documents.documents WHERE kind = 'invoice'
              AND state = 'posted') AS n
        """)[0]
    let count = Int(try numbers.int64(0))
    let distinct = Int(try numbers.int64(1))
    let highest = Int(try numbers.int64(2))
    let refused = Int(
        try database.query("SELECT count(*) FROM documents.command_outcomes WHERE status = 'refused'")[0].int64(0))
    database.close()

    // The ledger of this database is empty (no allocator runs here): verify checks the documents' own
    // invariants (numbering, totals) and reports every posted document as not yet on the ledger.
    let verifyText = try benchDatabase.verify(
        stack: stack, environment: environment, outputPath: "/tmp/invoicer-bench-\(tag)-verify.txt"
    ).output
    let verifyOK =
        verifyText.contains("ok   legal numbers have no gaps and no duplicates")
        && verifyText.contains("ok   document totals are the sums of their lines")
    let results = Results(
        invoices: options.invoices, accounts: options.accounts, linesPerInvoice: 3, committedPerSecond: committedRate,
        publishedPerSecond: publishedRate, numbersChecked: count, numberGaps: max(0, highest - distinct),
        numberDuplicates: count - distinct, refused: refused, workerPeakRSSKiB: memory.peak,
        workerRSSAfterKiB: memory.current, verifyOK: verifyOK)
    if options.json {
        try print(String(decoding: ContractJSON.encoder().encode(results), as: UTF8.self))
    } else {
        print(
            """
            invoicer benchmark (\(results.invoices) invoices × 3 lines over \(results.accounts) accounts, one process, \(options.concurrency) loops)
              committed: \(results.committedPerSecond) invoices/s (first document to last)
              published: \(results.publishedPerSecond) invoices/s (to the last event sent)
              numbers: \(results.numbersChecked) checked, \(results.numberGaps) gaps, \(results.numberDuplicates) duplicates; \(results.refused) commands refused
              worker RSS: peak \(results.workerPeakRSSKiB / 1024) MiB, after \(results.workerRSSAfterKiB / 1024) MiB
              billing-ctl verify (numbering, totals): \(results.verifyOK ? "passed" : "FAILED (see /tmp/invoicer-bench-\(tag)-verify.txt)")
            """)
    }
    let sound = results.numberGaps == 0 && results.numberDuplicates == 0 && highest == count && results.refused == 0
    if !sound || !verifyOK { exitCode = 1 }
} catch {
    fail("\(error)", code: 3)
}
// After the do block, so that its defers (stop the worker, drop the database) have run.
exit(exitCode)
