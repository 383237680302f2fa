import AllocatorCore
import BillingContracts
import BillingDomain
import BillingKafka
import BillingRuntime
import BillingSupport

/// The allocator: owner of accounts receivable, the journal and allocation.
///
/// Consumes identified and unidentified payments, reversals, posted documents and ledger commands;
/// posts each document once as a balanced journal entry, allocates credits to debits by the
/// account's principle, and publishes what changed on `billing.ledger.events` and command outcomes
/// on `billing.command-outcomes`. Deduplication is by business identity (document id, command id),
/// so the runtime's event-id inbox is not used.
struct AllocatorHandler: WorkerHandler {
    static let router = EventRouter<LedgerInput>(LedgerInputDecoder.routes)

    func decode(_ message: KafkaMessage) throws(MessageRejection) -> (eventID: String?, payload: LedgerInput) {
        let (_, input) = try Self.router.decode(message)
        return (nil, input)
    }

    func opening(_ batch: [DecodedMessage<LedgerInput>]) -> BatchOpening? {
        LedgerBatch.opening(batch.map(\.payload))
    }

    func apply(_ batch: [DecodedMessage<LedgerInput>], in context: BatchContext) throws {
        try LedgerBatch(context: context, today: context.today).apply(batch)
    }
}

WorkerMain.run(service: Services.allocator, defaults: .init(opsPort: 9102)) { _ in AllocatorHandler() }
