import ArgumentParser
import BillingContracts
import BillingKafka
import BillingPostgres
import BillingSupport
import FoundationEssentials

/// `billing-ctl import FILE`: publishes a bank statement file as it is (raw bytes, metadata in
/// headers) to `billing.bank-statements.raw`; with `--wait`, prints payment-ingest's report.
struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract:
            "Import a bank statement file (camt.052/053/054, MT940, CSV) or a payment registry and, with --wait, print its report.",
        discussion: """
            The report gives per statement the account, currency, opening and closing balance, whether
            they reconcile, and the entries' counts and totals; then the lines booked, duplicate,
            identified, unidentified, not booked and rejected, with reasons. Importing the same file
            again books nothing: every line is reported as duplicate.

            Exit codes: 0 imported, 1 the file was refused (reason printed), 2 usage, 3 unavailable.
            """)

    @Argument(help: "The statement file.")
    var file: String

    @Option(help: "camt, mt940 or csv (default: detected; CSV needs the worker's INGEST_CSV_MAPPING).")
    var format: String?

    @Option(help: "Our bank account the file is for (selects a configured encoding or CSV mapping).")
    var bankAccount: String?

    @Option(help: "utf-8, latin-1 or cp852 (default: detected, or configured for the bank account).")
    var encoding: String?

    @Flag(help: "The file is a payment registry (read by the worker's INGEST_REGISTRY_MAPPING), not a bank statement.")
    var registry = false

    @OptionGroup var wait: WaitOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw CtlFailure.usage("cannot read \(file)")
        }
        let fileID = try wait.commandID()
        let bytes = [UInt8](data)
        if wait.idempotencyKey != nil {
            // Sent before under this key: the same bytes are the same import, reported again.
            let connection = try connectDatabase()
            defer { connection.close() }
            if let report = try recordedReport(fileID, bytes: bytes, connection: connection) {
                try show(report)
                return
            }
        }
        let fileName = file.split(separator: "/").last.map(String.init) ?? file
        var headers = [
            KafkaHeader(name: StatementFileHeaders.fileID, text: fileID),
            KafkaHeader(name: StatementFileHeaders.fileName, text: fileName), KafkaHeader(name: "ce_id", text: fileID),
        ]
        if let format { headers.append(KafkaHeader(name: StatementFileHeaders.format, text: format)) }
        if let bankAccount { headers.append(KafkaHeader(name: StatementFileHeaders.bankAccount, text: bankAccount)) }
        if let encoding { headers.append(KafkaHeader(name: StatementFileHeaders.encoding, text: encoding)) }
        let environment = ProcessEnvironment.current()
        let topic =
            registry
            ? environment.string("BILLING_PAYMENT_REGISTRIES_TOPIC", default: Topics.paymentRegistriesRaw.name)
            : environment.string("BILLING_BANK_STATEMENTS_TOPIC", default: Topics.bankStatementsRaw.name)
        let producer: KafkaProducer
        do {
            producer = try KafkaProducer(
                configuration: try KafkaConfiguration.fromEnvironment(environment).over([
                    "message.max.bytes": String(max(1_000_000, data.count + 65_536))
                ]))
        } catch let error as ConfigurationError {
            throw CtlFailure.usage(error.description)
        }
        defer { _ = producer.close(timeoutMs: 2_000) }
        let key = bankAccount ?? fileName
        let result = try producer.send(
            [KafkaOutgoingMessage(topic: topic, key: Array(key.utf8), value: bytes, headers: headers)],
            timeoutMs: 30_000)
        guard result.first?.isDelivered == true else {
            throw CtlFailure.unavailable(
                "kafka: the file was not delivered to \(topic): \(String(describing: result.first))")
        }
        guard wait.wait else {
            if output.json {
                try printContractJSON(["file_id": fileID, "status": "sent"])
            } else {
                print("sent \(fileName) (\(data.count) bytes) as file \(fileID) (use --wait for its report)")
            }
            return
        }
        try show(try awaitReport(fileID, bytes: bytes))
    }

    private func show(_ report: String) throws {
        if output.json {
            print(report)
        } else {
            try printReport(report)
        }
    }

    /// The report of the file stored under `fileID`, or nil when there is none yet. A refusal, or
    /// a file stored under the id with other bytes (a key used for another file), exits 1.
    func recordedReport(_ fileID: String, bytes: [UInt8], connection: PGConnection) throws -> String? {
        let rows = try connection.query(
            """
            SELECT 'report', jsonb_pretty(report), raw = $2::bytea FROM ingest.files WHERE file_id = $1
            UNION ALL
            (SELECT 'refused', reason_code || ': ' || reason, payload = $2::bytea FROM ingest.dead_letters
             WHERE event_id = $1 ORDER BY id LIMIT 1)
            """, [fileID, bytes])
        guard let row = rows.rows.first else { return nil }
        guard try row.string(2) == "t" else {
            throw CtlFailure.refused(
                "file id \(fileID) was used before for a file with other content; use a new --idempotency-key [idempotency_key_reused]"
            )
        }
        if try row.string(0) == "refused" {
            throw CtlFailure.refused("the file was refused: \(try row.string(1))")
        }
        return try row.string(1)
    }

    /// The report's JSON text once payment-ingest has stored the file; a refusal exits 1.
    func awaitReport(_ fileID: String, bytes: [UInt8]) throws -> String {
        let connection = try connectDatabase()
        defer { connection.close() }
        let deadline = monotonicMs() + Int64(wait.waitTimeoutSeconds) * 1_000
        var announced = false
        let started = monotonicMs()
        while true {
            if let report = try recordedReport(fileID, bytes: bytes, connection: connection) { return report }
            if monotonicMs() >= deadline {
                throw CtlFailure.unavailable(
                    "no report for file \(fileID) after \(wait.waitTimeoutSeconds) s: is payment-ingest running?")
            }
            if !announced, monotonicMs() - started > 3_000 {
                writeStandardError("waiting for payment-ingest to read file \(fileID)…")
                announced = true
            }
            sleepThread(milliseconds: 200)
        }
    }

    func printReport(_ json: String) throws {
        let report = try ContractJSON.decoder().decode(ImportReport.self, from: Data(json.utf8))
        print("file \(report.fileId) (\(report.fileName ?? "unnamed"), \(report.format))")
        for (index, statement) in report.statements.enumerated() {
            let money = { (minor: Int64?) -> String in
                guard let minor, let code = statement.currency else { return "—" }
                return (try? MoneyText.format(minor, code)) ?? String(minor)
            }
            let reconciles = statement.reconciles.map { $0 ? "yes" : "NO" } ?? "no balances"
            print(
                "statement \(index + 1)  \(statement.account) \(statement.currency ?? "")  opening \(money(statement.openingBalanceMinor))  closing \(money(statement.closingBalanceMinor))  reconciles: \(reconciles)"
            )
            print(
                "  entries \(statement.entries): \(statement.creditsCount) credits \(money(statement.creditsMinor)), \(statement.debitsCount) debits \(money(statement.debitsMinor))"
            )
        }
        let lines = report.lines
        print(
            "lines: booked \(lines.booked) (identified \(lines.identified), unidentified \(lines.unidentified), bank fees \(lines.bankFees)), duplicate \(lines.duplicate), alike to a line of another statement \(lines.alike), not booked \(lines.notBooked), rejected \(lines.rejected)"
        )
        for notice in report.notices { print("notice: \(notice)") }
        for rejection in report.rejections { print("rejected: \(rejection.reason) (\(rejection.where))") }
    }
}
