/// One Kafka topic of the system: its name, partition count, what its key is, and who uses it.
public struct TopicContract: Sendable, Hashable {
    public let name: String
    public let partitionCount: Int
    public let key: String
    public let producers: [String]
    public let consumers: [String]
    public let summary: String

    public init(
        name: String, partitionCount: Int, key: String, producers: [String], consumers: [String], summary: String
    ) {
        precondition(name.hasPrefix("billing."), "topics are named billing.<stream>")
        precondition(partitionCount > 0, "a topic needs at least one partition")
        self.name = name
        self.partitionCount = partitionCount
        self.key = key
        self.producers = producers
        self.consumers = consumers
        self.summary = summary
    }
}

/// The topic contract: every topic, its partitions and its key.
///
/// Everything about one client is keyed by account id so that it stays in order (murmur2_random,
/// as Java clients partition). Raw inputs are keyed by their source so one file or event stays whole.
/// dev-kafka creates exactly these topics; `billing-ctl topics` prints them.
public enum Topics {
    public static let bankStatementsRaw = TopicContract(
        name: "billing.bank-statements.raw", partitionCount: 3, key: "bank account (IBAN) or file name",
        producers: ["bank import feeds", "billing-ctl import"], consumers: ["payment-ingest"],
        summary: "statement files as they arrived (camt.053/054, MT940, CSV); file name and format in headers")
    public static let gatewayEventsRaw = TopicContract(
        name: "billing.gateway-events.raw", partitionCount: 3,
        key: "none (gateway-relay does not read a body before its signature is checked)",
        producers: ["gateway-relay"], consumers: ["payment-ingest"],
        summary: "webhook bodies byte for byte; the signature and received_at_ms as Kafka headers")
    public static let paymentRegistriesRaw = TopicContract(
        name: "billing.payment-registries.raw", partitionCount: 3, key: "registry file name",
        producers: ["registry feeds"], consumers: ["payment-ingest"],
        summary: "daily payment registry files of pay-by-account-number networks")
    public static let cashDeskCommands = TopicContract(
        name: "billing.cash-desk.commands", partitionCount: 3, key: "cash desk id",
        producers: ["billing-ctl"], consumers: ["payment-ingest"],
        summary: "open and close shifts, take payments at a desk")
    public static let payments = TopicContract(
        name: "billing.payments", partitionCount: 12, key: "account id",
        producers: ["payment-ingest", "suspense-resolver"], consumers: ["allocator"],
        summary: "identified payments and payment reversals")
    public static let unidentifiedPayments = TopicContract(
        name: "billing.payments.unidentified", partitionCount: 6, key: "payment id",
        producers: ["payment-ingest"], consumers: ["allocator", "suspense-resolver"],
        summary: "payments nobody could tie to an account, with the reasons")
    public static let ledgerCommands = TopicContract(
        name: "billing.ledger.commands", partitionCount: 12, key: "account id",
        producers: ["billing-ctl"], consumers: ["allocator"],
        summary: "accounts, refunds, transfers, write-offs, manual payments")
    public static let ledgerEvents = TopicContract(
        name: "billing.ledger.events", partitionCount: 12, key: "account id",
        producers: ["allocator"], consumers: [],
        summary: "postings, allocations applied and released, balances changed, refunds, payments held in suspense")
    public static let accounts = TopicContract(
        name: "billing.accounts", partitionCount: 12, key: "account id",
        producers: ["allocator"], consumers: ["invoicer", "payment-ingest"],
        summary: "account snapshots: opened, updated, state changed (each service keeps the copy it needs)")
    public static let documentCommands = TopicContract(
        name: "billing.document.commands", partitionCount: 12, key: "account id",
        producers: ["billing-ctl"], consumers: ["invoicer"],
        summary: "create, post, reject and cancel invoices; credit notes")
    public static let documents = TopicContract(
        name: "billing.documents", partitionCount: 12, key: "account id",
        producers: ["invoicer"], consumers: ["allocator", "payment-ingest"],
        summary: "posted invoices, credit notes and invoice cancellations")
    public static let billingRunCommands = TopicContract(
        name: "billing.billing-run.commands", partitionCount: 3, key: "billing run id",
        producers: ["billing-ctl", "scheduler"], consumers: ["invoicer"],
        summary: "start and resume billing runs")
    public static let bills = TopicContract(
        name: "billing.bills", partitionCount: 12, key: "account id",
        producers: ["invoicer"], consumers: ["bill-sender"],
        summary: "issued bills, one per account and period")
    public static let billSenderCommands = TopicContract(
        name: "billing.bill-sender.commands", partitionCount: 3, key: "account id",
        producers: ["billing-ctl"], consumers: ["bill-sender"],
        summary: "resend a bill, change a delivery")
    public static let communications = TopicContract(
        name: "billing.communications", partitionCount: 6, key: "account id",
        producers: ["bill-sender"], consumers: [],
        summary: "bills sent, delivered or failed, by channel")
    public static let suspenseCommands = TopicContract(
        name: "billing.suspense.commands", partitionCount: 3, key: "suspense item id",
        producers: ["billing-ctl"], consumers: ["suspense-resolver"],
        summary: "move a suspense item to an account or return it to the payer")
    public static let suspenseEvents = TopicContract(
        name: "billing.suspense.events", partitionCount: 6, key: "suspense item id",
        producers: ["suspense-resolver"], consumers: [],
        summary: "suspense items opened, matched, moved and returned")
    public static let commandOutcomes = TopicContract(
        name: "billing.command-outcomes", partitionCount: 6, key: "command id",
        producers: ["every worker"], consumers: ["billing-ctl --wait", "automation"],
        summary: "what became of each command: done or refused, with the reason")
    public static let deadLetter = TopicContract(
        name: "billing.dead-letter", partitionCount: 3, key: "the original message's key",
        producers: ["every worker"], consumers: ["operators"],
        summary: "copies of messages that can never be processed, reason in headers")
    public static let probeIn = TopicContract(
        name: "billing.probe.in", partitionCount: 6, key: "any",
        producers: ["runtime-bench", "integration tests"], consumers: ["runtime-probe"],
        summary: "runtime self-test input: one row is written per message")
    public static let probeOut = TopicContract(
        name: "billing.probe.out", partitionCount: 6, key: "as the input's",
        producers: ["runtime-probe"], consumers: ["runtime-bench", "integration tests"],
        summary: "runtime self-test output: one event per applied message, through the outbox")

    public static let all: [TopicContract] = [
        bankStatementsRaw, gatewayEventsRaw, paymentRegistriesRaw, cashDeskCommands, payments, unidentifiedPayments,
        ledgerCommands, ledgerEvents, accounts, documentCommands, documents, billingRunCommands, bills,
        billSenderCommands,
        communications, suspenseCommands, suspenseEvents, commandOutcomes, deadLetter, probeIn, probeOut,
    ]

    public static func named(_ name: String) -> TopicContract? { all.first { $0.name == name } }
}
