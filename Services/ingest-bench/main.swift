import ArgumentParser
import BillingBench
import BillingContracts
import BillingIngest
import BillingKafka
import BillingPostgres
import BillingSchema
import BillingSupport
import BillingTestSupport
import FoundationEssentials

#if canImport(Glibc)
    import Glibc
#endif

// ingest-bench: parse throughput of camt.053 and MT940 on generated files, the memory parsing
// needs beyond the file, and end-to-end statement lines/s from the raw topic to booked lines.
//
//   swift build -c release --product ingest-bench && .build/release/ingest-bench --parse-only
//   BILLING_BUILD_CONFIGURATION=release Deploy/local/stack up && . .local/stack.env && ingest-bench

struct Options: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest-bench",
        abstract: "Measures statement parsing (no servers) and payment-ingest end to end.",
        discussion: """
            Parse phase (no servers): generates a camt.053 and an MT940 file of --entries entries and parses each in \
            a fresh process: entries/s, MB/s, and the peak memory beyond the file.

            End-to-end phase (source .local/stack.env first; skipped with --parse-only): --files camt.053 files of \
            --lines-per-file credit lines (dev-kafka keeps about 5 MiB per partition, one partition per file) on \
            topics of their own, one payment-ingest process: lines/s from the first file committed to the last.

            Exit codes: 0 done, 2 usage, 3 stack unavailable or the worker failed.
            """)

    @Option(help: "entries of each generated file in the parse phase") var entries = 100_000
    @Option(help: "camt.053 files of the end-to-end phase") var files = 20
    @Option(help: "credit lines per file of the end-to-end phase") var linesPerFile = 2_500
    @Flag(help: "only the parse phase (no servers)") var parseOnly = false
    @Flag(help: "keep the benchmark's database afterwards; prints its name") var keep = false
    @Flag(help: "print the results as JSON") var json = false

    func validate() throws {
        try requireAtLeast(1, ("--entries", entries), ("--files", files), ("--lines-per-file", linesPerFile))
    }
}

func fail(_ message: String, code: Int32) -> Never { benchFail("ingest-bench", message, code: code) }
func progress(_ text: String) { benchProgress("ingest-bench", text) }

/// Resident memory of this process in KiB: (peak, current).
func ownMemory() -> (peak: Int, current: Int) {
    ChildProcess.memoryKiB(pid: getpid()) ?? (0, 0)
}

func amount(_ index: Int) -> String { CamtWriter.decimal(Int64(100 + (index * 7_919) % 500_000)) }

func camt(entries: Int, first: Int = 0, account: (Int) -> String) -> [UInt8] {
    CamtWriter.statement(
        id: "BENCH-\(first)", iban: "DE02120300000000202051",
        credits: (first..<(first + entries)).map { index in
            CamtCredit(
                amountMinor: Int64(100 + (index * 7_919) % 500_000), bankReference: "BR\(index)",
                endToEndID: "E2E-\(index)", payerName: "Client \(index)",
                payerIBAN: "DE89370400440532013\(zeroPadded(index % 1000, width: 3))",
                remittance: "Payment \(account(index)) for services, thank you", bookedOn: "2026-06-01")
        })
}

func mt940(entries: Int) -> [UInt8] {
    var text = ":20:BENCH\n:25:DE02120300000000202051\n:28C:1/1\n:60F:C260601EUR0,00\n"
    text.reserveCapacity(entries * 160)
    var balance = 0
    for index in 0..<entries {
        let value = amount(index)
        balance += 100 + (index * 7_919) % 500_000
        text += ":61:2606010601C\(value.replacingDot())NTRFREF\(index)//BR\(index)\n"
        text +=
            ":86:/EREF/E2E-\(index)//IBAN/DE89370400440532013000/NAME/Client \(index)/REMI/Payment A-\(index % 1000) thanks/\n"
    }
    text += ":62F:C260601EUR\(balance / 100),\(balance % 100 < 10 ? "0" : "")\(balance % 100)\n-\n"
    return Array(text.utf8)
}

extension String {
    func replacingDot() -> String { String(map { $0 == "." ? "," : $0 }) }
}

struct ParseResult: Codable {
    var format: String
    var entries: Int
    var bytes: Int
    var micros: Int64
    var peakBeyondFileKiB: Int
    var entriesPerSecond: Int { Int(Int64(entries) * 1_000_000 / max(1, micros)) }
    var megabytesPerSecondTimes10: Int { Int(Int64(bytes) * 10_000_000 / max(1, micros) / 1_048_576) }
}

/// Child mode: parse one file, report time and the memory it took beyond the file's bytes.
func parseOnly(_ path: String) -> Never {
    guard let data = FileManager.default.contents(atPath: path) else { fail("cannot read \(path)", code: 2) }
    let bytes = [UInt8](data)
    let before = ownMemory().current
    let started = monotonicMicros()
    do {
        // Entries are handed over one by one, as the parser streams them, and dropped here.
        var handed = 0
        let parsed = try StatementFiles.parse(bytes) { _, _ in handed += 1 }
        let micros = monotonicMicros() - started
        let entries = parsed.statements.reduce(0) { $0 + $1.entryCount }
        guard entries == handed else { fail("\(handed) entries handed over, \(entries) counted", code: 3) }
        let result = ParseResult(
            format: parsed.format, entries: entries, bytes: bytes.count, micros: micros,
            peakBeyondFileKiB: max(0, ownMemory().peak - before))
        print(ContractJSON.text(result))
        exit(0)
    } catch {
        fail("\(error)", code: 3)
    }
}

TerminationSignals.ignoreBrokenPipe()
if CommandLine.arguments.count == 3, CommandLine.arguments[1] == "--parse-file" { parseOnly(CommandLine.arguments[2]) }
let options = Options.parseBenchOptions()

var parseResults: [ParseResult] = []
for (name, generate) in [
    ("camt.053", { camt(entries: options.entries) { "A-\($0 % 1000)" } }),
    ("mt940", { mt940(entries: options.entries) }),
] {
    progress("parse: generating a \(name) file of \(options.entries) entries")
    let path = "/tmp/ingest-bench-\(name)-\(getpid()).txt"
    let bytes = generate()
    guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
        fail("cannot write \(path)", code: 3)
    }
    defer { try? FileManager.default.removeItem(atPath: path) }
    let output = "/tmp/ingest-bench-\(name)-\(getpid()).json"
    do {
        let child = try ChildProcess(
            path: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
                ?? CommandLine.arguments[0],
            arguments: ["--parse-file", path], environment: ProcessEnvironment.current().values, outputPath: output)
        guard child.wait() == 0, let text = FileManager.default.contents(atPath: output) else {
            fail("parsing \(name) failed: see \(output)", code: 3)
        }
        let line = String(decoding: text, as: UTF8.self).split(separator: "\n").last { $0.hasPrefix("{") } ?? ""
        parseResults.append(try ContractJSON.decoder().decode(ParseResult.self, from: Data(line.utf8)))
        try? FileManager.default.removeItem(atPath: output)
    } catch {
        fail("\(error)", code: 3)
    }
}

struct EndToEnd: Codable {
    var files: Int
    var lines: Int
    var linesPerSecond: Int
    var identified: Int
    var workerPeakRSSKiB: Int
}

var endToEnd: EndToEnd?
if !options.parseOnly {
    let stack = benchStack("ingest-bench", hint: " (or use --parse-only)")
    let tag = benchTag()
    let suffix = ".bench-\(tag)"
    let files = options.files
    let perFile = options.linesPerFile
    do {
        let benchDatabase = try BenchDatabase(
            stack: stack, name: "ingbench_\(tag)", tool: "ingest-bench", keep: options.keep)
        defer { benchDatabase.finish() }
        let database = try PGConnection(
            conninfo: stack.url(database: "ingbench_\(tag)", role: "billing_owner"), applicationName: "ingest-bench",
            ioTimeoutMs: 600_000)
        _ = try Migrator().migrate(database)
        // dev-kafka keeps about 5 MiB per partition: spread the files over enough partitions.
        for topic in Topics.all where !topic.name.hasPrefix("billing.probe") {
            let partitions = topic.name == Topics.bankStatementsRaw.name ? max(3, files) : 3
            try stack.devKafka("create-topic \(topic.name)\(suffix) \(partitions)")
        }
        try database.query(
            """
            INSERT INTO ingest.accounts (account_number, account_id, currency, state)
            SELECT 'A-' || n, n + 1, 'EUR', 'active' FROM generate_series(0, 999) AS n
            """)
        progress("end to end: producing \(files) camt.053 files of \(perFile) lines")
        let producer = try KafkaProducer(
            configuration: KafkaConfiguration([
                "bootstrap.servers": stack.bootstrapServers, "message.max.bytes": "33554432",
            ]))
        var messages: [KafkaOutgoingMessage] = []
        for file in 0..<files {
            messages.append(
                KafkaOutgoingMessage(
                    topic: Topics.bankStatementsRaw.name + suffix, key: nil,
                    value: camt(entries: perFile, first: file * perFile) { "A-\($0 % 1000)" },
                    headers: [KafkaHeader(name: "file_name", text: "bench-\(file).xml")], partition: Int32(file)))
        }
        try produceAll(producer, messages)
        _ = producer.close(timeoutMs: 5_000)
        let environment = stack.benchWorkerEnvironment(
            database: "ingbench_\(tag)", role: "billing_ingest", group: "ingbench-\(tag)",
            ["BILLING_TOPIC_SUFFIX": suffix])
        let worker = try BenchWorker.start(
            executable: "\(stack.binDirectory)/payment-ingest", environment: environment,
            logPath: "/tmp/ingest-bench-\(tag).log")
        defer { worker.stop() }
        var lastReport = monotonicMs()
        while true {
            let row = try database.query(
                "SELECT (SELECT count(*) FROM ingest.files), (SELECT count(*) FROM ingest.offset_gaps)")[0]
            if try row.int64(0) >= files { break }
            guard try row.int64(1) == 0 else {
                throw BenchFailure(
                    "the broker dropped files before the worker read them (dev-kafka keeps about 5 MiB per partition): use smaller or fewer files"
                )
            }
            guard worker.process.isRunning else { throw BenchFailure("the worker exited; see \(worker.logPath)") }
            if monotonicMs() - lastReport > 2_000 {
                progress("end to end: \(try row.int64(0))/\(files) files imported")
                lastReport = monotonicMs()
            }
            sleepThread(milliseconds: 100)
        }
        let memory = worker.process.memoryKiB() ?? (0, 0)
        let row = try database.query(
            """
            SELECT (extract(epoch FROM max(imported_at) - min(imported_at)) * 1000000)::bigint,
                   (SELECT count(*) FROM ingest.statement_lines WHERE outcome = 'identified')
            FROM ingest.files
            """)[0]
        // The first file's lines are not in the span (it starts at that file's commit).
        let lines = (files - 1) * perFile
        endToEnd = EndToEnd(
            files: files, lines: files * perFile,
            linesPerSecond: Int(Int64(lines) * 1_000_000 / max(1, try row.int64(0))),
            identified: Int(try row.int64(1)), workerPeakRSSKiB: memory.peak)
        database.close()
    } catch {
        fail("\(error)", code: 3)
    }
}

if options.json {
    struct Output: Encodable {
        let parse: [ParseResult]
        let endToEnd: EndToEnd?
    }
    print(ContractJSON.text(Output(parse: parseResults, endToEnd: endToEnd)))
} else {
    print("ingest benchmark")
    for result in parseResults {
        print(
            "  parse \(result.format): \(result.entries) entries, \(result.bytes / 1_048_576) MiB in \(millisecondsText(result.micros)) ms: \(result.entriesPerSecond) entries/s, \(result.megabytesPerSecondTimes10 / 10).\(result.megabytesPerSecondTimes10 % 10) MB/s, peak \(result.peakBeyondFileKiB / 1024) MiB beyond the file"
        )
    }
    if let endToEnd {
        print(
            "  end to end: \(endToEnd.files) files × \(endToEnd.lines / endToEnd.files) lines: \(endToEnd.linesPerSecond) lines/s booked (\(endToEnd.identified) identified), worker RSS peak \(endToEnd.workerPeakRSSKiB / 1024) MiB"
        )
    }
}
