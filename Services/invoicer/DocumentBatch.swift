import BillingContracts
import BillingDomain
import BillingPostgres
import BillingRuntime
import InvoicerCore

/// One batch of the invoicer's inputs, applied inside the batch transaction: storage around the
/// decisions of `DocumentDecisions` (InvoicerCore).
///
/// Round trips: one pipeline reads earlier outcomes, the account copies, the named documents (with
/// the lines of drafts, what credit notes have credited and any cancellation), the references and
/// back-office codes already taken, and draft references for the drafts made without one; the
/// commands are then decided in memory; if anything was posted, one statement takes the numbers,
/// series by series in a fixed order (the series rows stay locked until COMMIT, which keeps the
/// numbering gapless across replicas); the writes travel with the COMMIT.
final class DocumentBatch {
    let context: BatchContext
    let decisions: DocumentDecisions

    init(context: BatchContext, today: LocalDate, numbering: NumberingConfiguration) {
        self.context = context
        self.decisions = DocumentDecisions(today: today, numbering: numbering, newID: CloudEvent.newID)
    }

    var numbering: NumberingConfiguration { decisions.numbering }

    func apply(_ batch: [DecodedMessage<DocumentInput>]) throws {
        try load(batch.map(\.payload))
        for decoded in batch { try decisions.apply(decoded.payload) }
        try takeNumbers()
        persist()
        context.publish(decisions.events())
    }
}
