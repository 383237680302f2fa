import BillingContracts
import BillingDomain
import BillingPostgres
import BillingRuntime
import BillingSupport
import FoundationEssentials

/// One batch of the allocator's inputs, applied inside the batch transaction.
///
/// Round trips: the reads (earlier command outcomes, reversals parked for the batch's payments, and
/// the pipeline that locks every account the batch touches, in account-id order, and reads what
/// allocation needs) travel with the batch's first round trip; the handler decides everything in
/// memory, and the writes travel, netted per account, with the COMMIT. A batch that opens accounts
/// or reverses payments without naming their account reads in round trips of its own: one for the
/// questions, one to insert new accounts (`account open` only), one for the locks and items.
final class LedgerBatch {
    let context: BatchContext
    let today: LocalDate
    let source: String
    var accounts: [String: LockedAccount] = [:]
    var accountsByID: [Int64: LockedAccount] = [:]
    /// `kind|document id` of everything posted, stored or in this batch (see `isPosted`).
    var posted: Set<String> = []
    var finishedCommands: Set<String> = []
    var openRefusals: [String: Refusal] = [:]
    var paymentAccounts: [String: String] = [:]
    var parkedByPayment: [String: [Booked<PaymentReversed, MoneyFields>]] = [:]
    var parkedIDs: Set<String> = []
    var refunds: [String: RefundRow] = [:]

    var openedNumbers: Set<String> = []
    /// Every event of the batch carries the time the batch decided what happened.
    lazy var eventTime = UTCClock.timestamp()

    var journal: [JournalRow] = []
    var outcomes: [(outcome: CommandOutcome, requestedBy: String)] = []
    var newParked: [(reversal: Booked<PaymentReversed, MoneyFields>, reason: String)] = []
    var resolvedParked: [String] = []
    /// Refunds created or changed in this batch, each once, in the order first touched.
    var changedRefunds: [String] = []

    struct JournalRow {
        let accountID: Int64?
        let kind: String
        let documentID: String
        let entry: JournalEntry
        let origin: CommandOrigin?
        let commandID: String?
    }

    struct RefundRow {
        let id: String
        let accountID: Int64
        let accountNumber: String
        let currency: Currency
        let amountMinor: Int64
        var state: String
        var exportBatch: String?
        var paidOn: String?
        var bankReference: String?
        let requestedBy: String
        let note: String?
        let payeeReference: String?
    }

    init(context: BatchContext, today: LocalDate) {
        self.context = context
        self.today = today
        self.source = context.service.eventSource
    }

    var connection: PGConnection { context.connection }

    func isPosted(_ kind: String, _ documentID: String) -> Bool { posted.contains("\(kind)|\(documentID)") }

    func markPosted(_ kind: String, _ documentID: String) { posted.insert("\(kind)|\(documentID)") }

    func markRefundChanged(_ id: String) {
        if !changedRefunds.contains(id) { changedRefunds.append(id) }
    }

    /// A contract value as JSON text, for `jsonb` parameters.
    func jsonText<T: Encodable>(_ value: T) -> String { String(decoding: ContractJSON.encode(value), as: UTF8.self) }

    // MARK: Applying

    func apply(_ batch: [DecodedMessage<LedgerInput>]) throws {
        try read(batch.map(\.payload), opened: context.opened)
        for (index, decoded) in batch.enumerated() {
            do {
                try applyOne(decoded.payload)
            } catch let error as DomainError {
                throw BatchFailure.rejected(index: index, MessageRejection(code: error.code, reason: error.description))
            } catch let rejection as MessageRejection {
                throw BatchFailure.rejected(index: index, rejection)
            }
        }
        try persist()
        publishEvents()
    }

    private func applyOne(_ input: LedgerInput) throws {
        switch input {
        case .payment(let payment): try postPayment(payment)
        case .unidentified(let payment): try postUnidentified(payment)
        case .bankFee(let fee): try postBankFee(fee)
        case .reversal(let reversal): try postReversal(reversal, parked: false)
        case .document(let document): try postDocument(document)
        case .command(let command): try run(command)
        }
    }

    func postPayment(_ payment: Booked<PaymentIdentified, MoneyFields>) throws {
        let fromSuspense = payment.channel == "suspense"
        let inSuspense = isPosted("unidentified-payment", payment.paymentId)
        if fromSuspense && !inSuspense {
            throw DomainError.invalidDocument("payment \(payment.paymentId) is not held in suspense")
        }
        // Money held in suspense is only moved out of it (channel "suspense"), never booked twice.
        guard fromSuspense == inSuspense, !isPosted("payment", payment.paymentId) else { return }
        let currency = payment.fields.amount.currency
        let reason: String?
        if let account = accounts[payment.account] {
            if account.state == .terminated {
                reason = "account \(payment.account) is terminated"
            } else if account.currency != currency {
                reason = "payment is in \(currency.code), account \(payment.account) in \(account.currency.code)"
            } else {
                reason = nil
            }
        } else {
            reason = "account \(payment.account) does not exist"
        }
        if let reason, fromSuspense {
            throw DomainError.invalidAccount("cannot move \(payment.paymentId) out of suspense: \(reason)")
        }
        if let reason {
            // The money is here: the books hold it in suspense until someone matches it.
            let unidentified = PaymentUnidentified(
                paymentId: payment.paymentId, amountMinor: payment.amountMinor, currency: payment.currency,
                channel: payment.channel, receivedOn: payment.receivedOn, reference: payment.reference,
                payerName: payment.payerName, account: payment.account, reason: reason)
            if try postUnidentified(Booked(body: unidentified, fields: payment.fields)) {
                // On the ledger's own events: nothing the allocator consumes, so nothing comes back to it.
                publish(
                    Topics.ledgerEvents.name, key: payment.account, type: LedgerTypes.paymentHeldInSuspense,
                    unidentified)
            }
            return
        }
        let account = accounts[payment.account]!
        let amount = payment.fields.amount
        let item = try LedgerItem(
            id: payment.paymentId, side: .credit, amount: amount, postedOn: payment.fields.on,
            sequence: account.itemSequence + 1, reference: payment.reference, namedItems: payment.namedItems ?? [])
        try post(
            item, kind: .payment, on: account,
            source: .payment(
                client: account.number, amount: amount, channel: payment.fields.channel),
            origin: nil, commandID: nil)
        for reversal in parkedByPayment.removeValue(forKey: payment.paymentId) ?? [] {
            try postReversal(reversal, parked: true, paymentAccount: account.number)
        }
    }

    /// Posts a fee the bank or a gateway took: bank fees expense against that channel's cash, once.
    func postBankFee(_ fee: Booked<BankFee, MoneyFields>) throws {
        guard !isPosted("bank-fee", fee.feeId) else { return }
        markPosted("bank-fee", fee.feeId)
        journal.append(
            JournalRow(
                accountID: nil, kind: "bank-fee", documentID: fee.feeId,
                entry: try JournalEntry(for: .bankFee(amount: fee.fields.amount, channel: fee.fields.channel)),
                origin: nil, commandID: nil))
    }

    /// Posts money nobody could tie to an account against suspense; false if it was posted before.
    @discardableResult
    func postUnidentified(_ payment: Booked<PaymentUnidentified, MoneyFields>) throws -> Bool {
        guard !isPosted("unidentified-payment", payment.paymentId) else { return false }
        markPosted("unidentified-payment", payment.paymentId)
        journal.append(
            JournalRow(
                accountID: nil, kind: "unidentified-payment", documentID: payment.paymentId,
                entry: try JournalEntry(
                    for: .unidentifiedPayment(amount: payment.fields.amount, channel: payment.fields.channel)),
                origin: nil, commandID: nil))
        return true
    }

    /// Posts a reversal against its payment, or parks it until the payment is posted. A parked
    /// reversal comes back with `paymentAccount`, the account its payment was just posted on (it
    /// may not have named one).
    func postReversal(
        _ reversal: Booked<PaymentReversed, MoneyFields>, parked: Bool, paymentAccount: String? = nil
    ) throws {
        if isPosted("payment-reversal", reversal.reversalId) || (!parked && parkedIDs.contains(reversal.reversalId)) {
            return
        }
        let number = reversal.account ?? paymentAccount ?? paymentAccounts[reversal.paymentId]
        guard let account = number.flatMap({ accounts[$0] }), let payment = account.book.items[reversal.paymentId],
            account.kinds[reversal.paymentId] == .payment
        else {
            let reason =
                isPosted("unidentified-payment", reversal.paymentId)
                ? "payment \(reversal.paymentId) is held in suspense: return it through the suspense-resolver"
                : "payment \(reversal.paymentId) is not posted on \(number.map { "account \($0)" } ?? "any account")"
            parkedIDs.insert(reversal.reversalId)
            newParked.append((reversal, reason))
            parkedByPayment[reversal.paymentId, default: []].append(reversal)
            return
        }
        let currency = reversal.fields.amount.currency
        guard currency == account.currency else {
            throw DomainError.currencyMismatch(account.currency, currency)
        }
        guard account.closedBy[reversal.paymentId] == nil else {
            throw DomainError.invalidDocument(
                "payment \(reversal.paymentId) was already reversed by \(account.closedBy[reversal.paymentId]!)")
        }
        guard reversal.amountMinor <= payment.amount.minor else {
            throw DomainError.invalidDocument(
                "reversal of \(reversal.amountMinor) is above the payment's \(payment.amount.minor)")
        }
        if parked { resolvedParked.append(reversal.reversalId) }
        let amount = reversal.fields.amount
        let item = try LedgerItem(
            id: reversal.reversalId, side: .debit, amount: amount, postedOn: reversal.fields.on,
            sequence: account.itemSequence + 1, closes: reversal.paymentId)
        try post(
            item, kind: .paymentReversal, on: account,
            source: .paymentReversal(
                client: account.number, amount: amount, channel: reversal.fields.channel),
            origin: nil, commandID: nil)
    }

    func postDocument(_ document: Booked<DocumentPosted, DocumentFields>) throws {
        let kind = document.fields.kind
        guard !isPosted(kind.rawValue, document.documentId) else { return }
        guard let account = accounts[document.account] else {
            throw DomainError.invalidAccount("account \(document.account) does not exist")
        }
        let (net, tax, total, postedOn) = (
            document.fields.net, document.fields.tax, document.fields.total, document.fields.postedOn
        )
        guard total.currency == account.currency else {
            throw DomainError.currencyMismatch(account.currency, total.currency)
        }
        let item: LedgerItem
        let source: JournalSource
        switch kind {
        case .invoice:
            item = try LedgerItem(
                id: document.documentId, side: .debit, amount: total, postedOn: postedOn,
                sequence: account.itemSequence + 1, dueOn: document.fields.dueOn,
                number: document.number, reference: document.reference)
            source = .invoice(client: account.number, net: net, tax: tax)
        case .creditNote:
            item = try LedgerItem(
                id: document.documentId, side: .credit, amount: total, postedOn: postedOn,
                sequence: account.itemSequence + 1, number: document.number, reference: document.reference,
                namedItems: document.relatedDocumentId.map { [$0] } ?? [])
            source = .creditNote(client: account.number, net: net, tax: tax)
        case .invoiceCancellation:
            let target = document.relatedDocumentId!
            guard let invoice = account.book.items[target], account.kinds[target] == .invoice else {
                throw DomainError.invalidDocument("invoice \(target) is not posted on account \(account.number)")
            }
            guard account.closedBy[target] == nil else {
                throw DomainError.invalidDocument("invoice \(target) is already cancelled")
            }
            guard invoice.amount == total else {
                throw DomainError.invalidDocument(
                    "the cancellation's total \(total.decimalText) is not the invoice's \(invoice.amount.decimalText)")
            }
            item = try LedgerItem(
                id: document.documentId, side: .credit, amount: total, postedOn: postedOn,
                sequence: account.itemSequence + 1, number: document.number, reference: document.reference,
                closes: target)
            source = .invoiceCancellation(client: account.number, net: net, tax: tax)
        default:
            throw DomainError.invalidDocument("\(kind.rawValue) is not a document the invoicer posts")
        }
        try post(item, kind: kind, on: account, source: source, origin: nil, commandID: nil)
    }

    /// Posts one item: its journal entry, the book's allocation, the balance.
    func post(
        _ item: LedgerItem, kind: DocumentKind, on account: LockedAccount, source: JournalSource,
        origin: CommandOrigin?, commandID: String?
    ) throws {
        let entry = try JournalEntry(for: source)
        let change = try account.book.post(item)
        account.itemSequence = item.sequence
        account.kinds[item.id] = kind
        account.newItems.append(item.id)
        if let target = item.closes, item.releasesClosedItem {
            account.closedBy[target] = item.id
            if account.stored[target] != nil { account.releaseTargets.append(target) }
        }
        account.record(change)
        let delta = entry.balanceChange(of: account.number)
        let (balance, overflow) = account.balance.addingReportingOverflow(delta)
        guard !overflow else { throw DomainError.overflow("the balance of \(account.number)") }
        account.balance = balance
        account.movements.append(.init(kind: kind.rawValue, document: item.number ?? item.id, amountMinor: delta))
        journal.append(
            JournalRow(
                accountID: account.id, kind: kind.rawValue, documentID: item.id, entry: entry, origin: origin,
                commandID: commandID))
        markPosted(kind.rawValue, item.id)
    }

    // MARK: Events

    func publish<T: Encodable>(_ topic: String, key: String, type: String, _ body: T) {
        context.publish(
            topic: topic, key: key,
            event: CloudEvent(
                id: CloudEvent.newID(), type: type, source: source, time: eventTime,
                data: ContractJSON.encode(body)))
    }

    private func publishEvents() {
        let topic = Topics.ledgerEvents.name
        let accountsTopic = Topics.accounts.name
        for account in accounts.values.sorted(by: { $0.id < $1.id }) where account.isChanged {
            if account.opened {
                publish(accountsTopic, key: account.number, type: LedgerTypes.accountOpened, account.snapshot)
            } else if account.settingsChanged {
                publish(accountsTopic, key: account.number, type: LedgerTypes.accountUpdated, account.snapshot)
            }
            if account.stateChanged {
                publish(accountsTopic, key: account.number, type: LedgerTypes.accountStateChanged, account.snapshot)
            }
            if !account.released.isEmpty {
                publish(
                    topic, key: account.number, type: LedgerTypes.allocationsReleased,
                    allocationLines(account, account.released))
            }
            if !account.applied.isEmpty {
                publish(
                    topic, key: account.number, type: LedgerTypes.allocationsApplied,
                    allocationLines(account, account.applied))
            }
            for change in debitStateChanges(account) {
                publish(
                    topic, key: account.number,
                    type: change.state == "paid" ? LedgerTypes.invoiceSettled : LedgerTypes.invoiceReopened, change)
            }
            if !account.movements.isEmpty {
                publish(
                    topic, key: account.number, type: LedgerTypes.balanceChanged,
                    BalanceChanged(
                        account: account.number, currency: account.currency.code,
                        previousMinor: account.balanceBefore, balanceMinor: account.balance,
                        movements: account.movements))
            }
        }
        for refund in changedRefunds.compactMap({ refunds[$0] }) {
            publish(
                topic, key: refund.accountNumber, type: LedgerTypes.refundStateChanged,
                RefundStateChanged(
                    refundId: refund.id, account: refund.accountNumber, amountMinor: refund.amountMinor,
                    currency: refund.currency.code, state: refund.state))
        }
        for (reversal, reason) in newParked {
            publish(
                topic, key: reversal.account ?? reversal.paymentId, type: LedgerTypes.reversalParked,
                ParkedReversal(reversal: reversal.body, reason: reason))
        }
        for (outcome, _) in outcomes {
            publish(Topics.commandOutcomes.name, key: outcome.commandId, type: LedgerTypes.commandOutcome, outcome)
        }
    }

    private func allocationLines(_ account: LockedAccount, _ allocations: [Allocation]) -> AllocationsChanged {
        AllocationsChanged(
            account: account.number, currency: account.currency.code,
            allocations: allocations.map {
                .init(
                    credit: account.book.items[$0.creditID]?.number ?? $0.creditID,
                    debit: account.book.items[$0.debitID]?.number ?? $0.debitID, amountMinor: $0.amount.minor,
                    reason: $0.reason.code)
            })
    }

    /// Debits that became paid, or stopped being paid, in this batch.
    private func debitStateChanges(_ account: LockedAccount) -> [DebitStateChanged] {
        var changes: [DebitStateChanged] = []
        let touched = Set(account.applied.map(\.debitID) + account.released.map(\.debitID))
        for id in touched.sorted() {
            guard let item = account.book.items[id], let kind = account.kinds[id] else { continue }
            let before =
                account.stored[id].map { account.debitState(id, remaining: $0.remaining, closedBy: $0.closedBy) }
                ?? "open"
            let remaining = account.book.remaining[id] ?? 0
            let after = account.debitState(id, remaining: remaining, closedBy: account.closedBy[id])
            guard before != after, after == "paid" || (before == "paid" && after != "cancelled") else { continue }
            changes.append(
                DebitStateChanged(
                    account: account.number, document: id, number: item.number, kind: kind.rawValue, state: after,
                    totalMinor: item.amount.minor, openMinor: remaining))
        }
        return changes
    }
}

/// A reversal kept until its payment is posted, and why.
struct ParkedReversal: Codable, Sendable {
    let reversal: PaymentReversed
    let reason: String
}
