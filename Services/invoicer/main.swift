import BillingContracts
import InvoicerCore
import BillingDomain
import BillingKafka
import BillingRuntime
import BillingSupport

/// The invoicer: owner of financial documents and their legal numbering.
///
/// Consumes document commands (create, change, post, reject, cancel) and account snapshots (its
/// copy of the accounts it bills); posts documents with gapless numbers; publishes posted
/// documents on `billing.documents` and command outcomes on `billing.command-outcomes`.
/// Commands are deduplicated by command id (`documents.command_outcomes`), so the runtime's
/// event-id inbox is not used.
struct InvoicerHandler: WorkerHandler {
    static let router = EventRouter<DocumentInput>(DocumentInputDecoder.routes)

    let numbering: NumberingConfiguration

    func decode(_ message: KafkaMessage) throws(MessageRejection) -> (eventID: String?, payload: DocumentInput) {
        let (_, input) = try Self.router.decode(message)
        return (nil, input)
    }

    func apply(_ batch: [DecodedMessage<DocumentInput>], in context: BatchContext) throws {
        try DocumentBatch(context: context, today: context.today, numbering: numbering).apply(batch)
    }
}

/// Number prefixes from the environment: `INVOICE_NUMBER_PREFIX` (INV), `CREDIT_NOTE_NUMBER_PREFIX`
/// (CN), `CANCELLATION_NUMBER_PREFIX` (IC), `DRAFT_REFERENCE_PREFIX` (DRAFT).
func numberingConfiguration(_ environment: ProcessEnvironment) throws -> NumberingConfiguration {
    var configuration = NumberingConfiguration.defaults
    let variables: [(String, DocumentKind)] = [
        ("INVOICE_NUMBER_PREFIX", .invoice), ("CREDIT_NOTE_NUMBER_PREFIX", .creditNote),
        ("CANCELLATION_NUMBER_PREFIX", .invoiceCancellation),
    ]
    for (name, kind) in variables {
        let prefix = environment.string(name, default: configuration.prefixes[kind]!)
        do {
            _ = try DocumentNumber(prefix: prefix, year: 2026, sequence: 1)
        } catch {
            throw ConfigurationError(variable: name, problem: error.description)
        }
        configuration.prefixes[kind] = prefix
    }
    let draft = environment.string("DRAFT_REFERENCE_PREFIX", default: configuration.draftReferencePrefix)
    guard (1...12).contains(draft.count), draft.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
        throw ConfigurationError(
            variable: "DRAFT_REFERENCE_PREFIX", problem: "'\(draft)' must be 1 to 12 letters or digits")
    }
    configuration.draftReferencePrefix = draft
    guard Set(configuration.prefixes.values).count == 3, !configuration.prefixes.values.contains(draft) else {
        throw ConfigurationError(
            variable: "INVOICE_NUMBER_PREFIX", problem: "number and draft reference prefixes must all differ")
    }
    return configuration
}

WorkerMain.run(service: Services.invoicer, defaults: .init(opsPort: 9103)) { _ in
    InvoicerHandler(numbering: try numberingConfiguration(ProcessEnvironment.current()))
}
