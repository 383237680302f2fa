import AllocatorCore
import BillingContracts
import BillingDomain
import BillingPostgres
import BillingRuntime
import FoundationEssentials

/// One batch of the allocator's inputs, applied inside the batch transaction: storage around the
/// decisions of `LedgerDecisions` (AllocatorCore), which say what each input does to the books.
///
/// Round trips: the reads (earlier command outcomes, reversals parked for the batch's payments, and
/// the pipeline that locks every account the batch touches, in account-id order, and reads what
/// allocation needs) travel with the batch's first round trip; the decisions are made in memory,
/// and the writes travel, netted per account, with the COMMIT. A batch that opens accounts or
/// reverses payments without naming their account reads in round trips of its own: one for the
/// questions, one to insert new accounts (`account open` only), one for the locks and items.
final class LedgerBatch {
    let context: BatchContext
    let ledger: LedgerDecisions
    var accountsByID: [Int64: LockedAccount] = [:]
    var openedNumbers: Set<String> = []

    init(context: BatchContext, today: LocalDate) {
        self.context = context
        self.ledger = LedgerDecisions(today: today)
    }

    var connection: PGConnection { context.connection }

    func apply(_ batch: [DecodedMessage<LedgerInput>]) throws {
        try read(batch.map(\.payload), opened: context.opened)
        for (index, decoded) in batch.enumerated() {
            do {
                try ledger.apply(decoded.payload)
            } catch let error as DomainError {
                throw BatchFailure.rejected(index: index, MessageRejection(code: error.code, reason: error.description))
            } catch let rejection as MessageRejection {
                throw BatchFailure.rejected(index: index, rejection)
            }
        }
        try persist()
        context.publish(ledger.events())
    }
}
