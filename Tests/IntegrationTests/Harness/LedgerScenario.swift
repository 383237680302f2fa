import BillingContracts
import BillingKafka
import BillingRuntime
import BillingSupport
import Foundation
import Testing

/// A test's own ledger: a fresh database, its own copy of every contract topic (the contract's
/// names with a suffix, `BILLING_TOPIC_SUFFIX`, for what the workers consume and publish), a real
/// allocator process, optionally invoicer replicas, and `billing-ctl` pointed at all of it. Inputs
/// travel through the broker exactly as in production.
final class LedgerScenario {
    let stack: TestStack
    let database: TestDatabase
    let suffix: String
    let commandsTopic: String
    let paymentsTopic: String
    let documentsTopic: String
    let documentCommandsTopic: String
    let worker: WorkerProcess
    private(set) var invoicers: [WorkerProcess] = []
    private(set) var ingest: WorkerProcess?
    let producer: KafkaProducer

    init(
        _ extraEnvironment: [String: String] = [:], invoicers invoicerCount: Int = 0, ingest withIngest: Bool = false,
        ingestEnvironment: [String: String] = [:]
    ) throws {
        stack = try TestStack.fromEnvironment()
        database = try TestDatabase.create(stack)
        suffix = ".\(database.name)"
        for topic in Topics.all where !topic.name.hasPrefix("billing.probe") {
            try stack.devKafka("create-topic \(topic.name)\(suffix) 3")
        }
        commandsTopic = Topics.ledgerCommands.name + suffix
        paymentsTopic = Topics.payments.name + suffix
        documentsTopic = Topics.documents.name + suffix
        documentCommandsTopic = Topics.documentCommands.name + suffix
        worker = WorkerProcess(
            stack: stack, executable: "allocator",
            environment: Self.workerEnvironment(stack, database, suffix, role: "billing_allocator", group: "allocator")
                .merging(extraEnvironment) { _, new in new })
        producer = try KafkaProducer(configuration: stack.kafka)
        try worker.start()
        _ = try worker.waitForOpsPort()
        try eventually(timeoutMs: 30_000, "allocator ready") { worker.isReady() }
        for index in 0..<invoicerCount {
            let invoicer = WorkerProcess(
                stack: stack, executable: "invoicer",
                environment: Self.workerEnvironment(
                    stack, database, suffix, role: "billing_invoicer", group: "invoicer"
                )
                .merging(["WORKER_INSTANCE_ID": "invoicer-\(index + 1)"]) { _, new in new })
            try invoicer.start()
            invoicers.append(invoicer)
        }
        if withIngest {
            ingest = WorkerProcess(
                stack: stack, executable: "payment-ingest",
                environment: Self.workerEnvironment(stack, database, suffix, role: "billing_ingest", group: "ingest")
                    .merging(ingestEnvironment) { _, new in new })
            try ingest?.start()
        }
        for worker in invoicers + [ingest].compactMap({ $0 }) {
            _ = try worker.waitForOpsPort()
            try eventually(timeoutMs: 30_000, "\(worker.executable) ready") { worker.isReady() }
        }
    }

    static func workerEnvironment(
        _ stack: TestStack, _ database: TestDatabase, _ suffix: String, role: String, group: String
    ) -> [String: String] {
        [
            "DATABASE_URL": database.url(role: role), "BILLING_MIGRATION_DATABASE_URL": database.ownerURL,
            "KAFKA_BOOTSTRAP_SERVERS": stack.bootstrapServers, "KAFKA_SESSION_TIMEOUT_MS": "6000",
            "KAFKA_HEARTBEAT_INTERVAL_MS": "1000", "BILLING_TOPIC_SUFFIX": suffix,
            "WORKER_CONSUMER_GROUP": "\(group)-\(database.name)", "OPS_PORT": "0", "LOG_LEVEL": "info",
        ]
    }

    deinit {
        for invoicer in invoicers { _ = invoicer.terminate() }
        _ = ingest?.terminate()
        _ = worker.terminate()
        _ = producer.close(timeoutMs: 2_000)
        database.drop()
    }

    // MARK: billing-ctl

    var ctlEnvironment: [String: String] {
        [
            "DATABASE_URL": database.ownerURL, "KAFKA_BOOTSTRAP_SERVERS": stack.bootstrapServers,
            "BILLING_LEDGER_COMMANDS_TOPIC": commandsTopic, "BILLING_DOCUMENT_COMMANDS_TOPIC": documentCommandsTopic,
            "BILLING_BANK_STATEMENTS_TOPIC": Topics.bankStatementsRaw.name + suffix,
            "BILLING_PAYMENT_REGISTRIES_TOPIC": Topics.paymentRegistriesRaw.name + suffix,
            "BILLING_CASH_DESK_COMMANDS_TOPIC": Topics.cashDeskCommands.name + suffix,
            "BILLING_OPERATOR": "tests",
        ]
    }

    /// One partition of `topic` owned by each of `count` replicas (their lowest), as `schema`'s
    /// consumer offsets record it, once that many replicas own some: where to send messages so that
    /// different replicas handle them at once.
    func partitionsOfDifferentOwners(schema: String, topic: String, count: Int = 2) throws -> [Int32] {
        var owners: [String: Int32] = [:]
        try eventually(timeoutMs: 30_000, "\(count) replicas own partitions of \(topic)") {
            owners = [:]
            for row in try database.query(
                """
                SELECT owner, min(partition) FROM \(schema).consumer_offsets
                WHERE topic = $1 AND owner IS NOT NULL GROUP BY owner
                """, [topic]
            ).rows {
                owners[try row.string(0)] = Int32(try row.int(1))
            }
            return owners.count == count
        }
        return owners.values.sorted()
    }

    /// Runs billing-ctl; commands that go through Kafka get `--wait`.
    @discardableResult
    func ctl(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try runProcess("\(stack.binDirectory)/billing-ctl", arguments, environment: ctlEnvironment)
    }

    /// Runs a command that must succeed.
    @discardableResult
    func done(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let result = try ctl(arguments + ["--wait"])
        #expect(
            result.status == 0, "billing-ctl \(arguments.joined(separator: " ")): \(result.output)",
            sourceLocation: sourceLocation)
        return result.output
    }

    /// Runs a command that must be refused (exit 1) with `code`.
    func refused(_ arguments: [String], code: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let result = try ctl(arguments + ["--wait"])
        #expect(
            result.status == 1, "billing-ctl \(arguments.joined(separator: " ")): \(result.output)",
            sourceLocation: sourceLocation)
        #expect(result.output.contains("[\(code)]"), "\(result.output)", sourceLocation: sourceLocation)
    }

    func openAccount(_ number: String, currency: String = "EUR", _ extra: [String] = []) throws {
        try done(["account", "open", "--number", number, "--name", "Client \(number)", "--currency", currency] + extra)
    }

    struct Balance: Decodable {
        struct OpenInvoice: Decodable {
            let number: String
            let dueOn: String?
            let totalMinor: Int64
            let openMinor: Int64
            let state: String
        }
        let account: String
        let currency: String
        let balanceMinor: Int64
        let unallocatedCreditMinor: Int64
        let openInvoices: [OpenInvoice]
    }

    func balance(_ account: String) throws -> Balance {
        let result = try ctl(["balance", account, "--json"])
        guard result.status == 0 else { throw HarnessError("balance \(account): \(result.output)") }
        return try ContractJSON.decoder().decode(Balance.self, from: Data(result.output.utf8))
    }

    /// `billing-ctl verify` must pass: the check every ledger test ends with.
    func verify(sourceLocation: SourceLocation = #_sourceLocation) throws {
        let result = try ctl(["verify", "--json"])
        #expect(result.status == 0, "verify: \(result.output)", sourceLocation: sourceLocation)
        #expect(result.output.contains("\"ok\" : true"), sourceLocation: sourceLocation)
    }

    // MARK: Events from other services

    func send<T: Encodable>(_ topic: String, key: String, type: String, _ body: T, id: String = UUID().uuidString)
        throws
    {
        try Self.send([Self.message(topic, key: key, type: type, body, id: id)], with: producer)
    }

    /// An event as other services publish it: a CloudEvent in Kafka headers, the body as value.
    static func message<T: Encodable>(
        _ topic: String, key: String, type: String, _ body: T, id: String = UUID().uuidString
    ) -> KafkaOutgoingMessage {
        let event = CloudEvent(
            id: id, type: type, source: "tests", time: UTCClock.timestamp(), data: ContractJSON.encode(body))
        return KafkaOutgoingMessage(topic: topic, key: key, event: event)
    }

    static func send(_ messages: [KafkaOutgoingMessage], with producer: KafkaProducer) throws {
        let results = try producer.send(messages, timeoutMs: 15_000)
        guard results.allSatisfy(\.isDelivered) else { throw HarnessError("not delivered: \(results)") }
    }

    func invoice(
        _ account: String, _ number: String, totalMinor: Int64, postedOn: String = "2026-05-01", dueOn: String
    ) throws {
        try send(
            documentsTopic, key: account, type: LedgerTypes.documentPosted,
            DocumentPosted(
                documentId: "doc-\(number)", kind: "invoice", account: account, number: number,
                reference: "REF-\(number)", currency: "EUR", netMinor: totalMinor - totalMinor / 6,
                taxMinor: totalMinor / 6, totalMinor: totalMinor, postedOn: postedOn, dueOn: dueOn))
        try waitPosted("invoice", "doc-\(number)")
    }

    func cancel(_ account: String, invoice number: String, totalMinor: Int64) throws {
        try send(
            documentsTopic, key: account, type: LedgerTypes.documentPosted,
            DocumentPosted(
                documentId: "doc-IC-\(number)", kind: "invoice-cancellation", account: account,
                number: "IC-\(number)", currency: "EUR", netMinor: totalMinor - totalMinor / 6,
                taxMinor: totalMinor / 6, totalMinor: totalMinor, postedOn: "2026-05-20",
                relatedDocumentId: "doc-\(number)"))
        try waitPosted("invoice-cancellation", "doc-IC-\(number)")
    }

    func payment(_ id: String, _ account: String, minor: Int64, naming: [String]? = nil) -> PaymentIdentified {
        Self.payment(id, account, minor: minor, naming: naming)
    }

    static func payment(_ id: String, _ account: String, minor: Int64, naming: [String]? = nil) -> PaymentIdentified {
        PaymentIdentified(
            paymentId: id, account: account, amountMinor: minor, currency: "EUR",
            channel: "bank:DE89370400440532013000",
            receivedOn: "2026-05-10", reference: "pay \(id)", namedItems: naming)
    }

    func pay(_ id: String, _ account: String, minor: Int64, naming: [String]? = nil) throws {
        try send(
            paymentsTopic, key: account, type: LedgerTypes.paymentIdentified,
            payment(id, account, minor: minor, naming: naming))
        try waitPosted("payment", id)
    }

    func waitPosted(_ kind: String, _ id: String) throws {
        try eventually(timeoutMs: 30_000, "\(kind) \(id) posted") {
            try database.scalar(
                "SELECT count(*) FROM ledger.journal_entries WHERE document_kind = $1 AND document_id = $2", [kind, id])
                == 1
        }
    }

    /// Events of `type` the allocator wrote to its outbox (the type is in the `ce_type` header).
    func outboxCount(_ type: String) throws -> Int64 {
        try database.scalar(
            "SELECT count(*) FROM ledger.outbox_messages WHERE position(convert_to($1, 'UTF8') IN headers) > 0", [type])
    }

    func itemState(_ documentID: String) throws -> String {
        try database.query("SELECT state FROM ledger.items WHERE document_id = $1", [documentID])[0].string(0)
    }
}
