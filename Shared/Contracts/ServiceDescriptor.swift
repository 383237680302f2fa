/// A worker service: its consumer group, the topics it consumes, and where it keeps its state.
public struct ServiceDescriptor: Sendable, Hashable {
    /// Executable name, also the consumer group and the CloudEvents source (`billing/<name>`).
    public let name: String
    /// The PostgreSQL schema this service owns.
    public let schema: String
    /// The PostgreSQL role that holds exactly this service's privileges.
    public let role: String
    public let consumedTopics: [String]

    public init(name: String, schema: String, role: String, consumedTopics: [String]) {
        self.name = name
        self.schema = schema
        self.role = role
        self.consumedTopics = consumedTopics
    }

    public var eventSource: String { "billing/\(name)" }
}

public enum Services {
    public static let paymentIngest = ServiceDescriptor(
        name: "payment-ingest", schema: "ingest", role: "billing_ingest",
        consumedTopics: [
            Topics.bankStatementsRaw.name, Topics.gatewayEventsRaw.name, Topics.paymentRegistriesRaw.name,
            Topics.cashDeskCommands.name, Topics.accounts.name, Topics.documents.name,
        ])
    public static let allocator = ServiceDescriptor(
        name: "allocator", schema: "ledger", role: "billing_allocator",
        consumedTopics: [
            Topics.payments.name, Topics.unidentifiedPayments.name, Topics.ledgerCommands.name,
            Topics.documents.name,
        ])
    public static let invoicer = ServiceDescriptor(
        name: "invoicer", schema: "documents", role: "billing_invoicer",
        consumedTopics: [Topics.documentCommands.name, Topics.billingRunCommands.name, Topics.accounts.name])
    public static let billSender = ServiceDescriptor(
        name: "bill-sender", schema: "sending", role: "billing_sender",
        consumedTopics: [Topics.bills.name, Topics.billSenderCommands.name])
    public static let suspenseResolver = ServiceDescriptor(
        name: "suspense-resolver", schema: "suspense", role: "billing_suspense",
        consumedTopics: [Topics.unidentifiedPayments.name, Topics.suspenseCommands.name])
    /// The runtime's self-test worker (integration tests and the runtime benchmark).
    public static let runtimeProbe = ServiceDescriptor(
        name: "runtime-probe", schema: "probe", role: "billing_probe",
        consumedTopics: [Topics.probeIn.name])

    public static let workers: [ServiceDescriptor] = [paymentIngest, allocator, invoicer, billSender, suspenseResolver]
    public static let all: [ServiceDescriptor] = workers + [runtimeProbe]

    /// The read-only role of operators and `billing-ctl` queries.
    public static let operatorRole = "billing_operator"
}
