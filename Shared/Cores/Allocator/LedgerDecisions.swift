import BillingContracts
import BillingDomain
import FoundationEssentials

/// What one batch of the allocator's inputs does to the books, decided in memory: no I/O.
///
/// The allocator's storage fills in what the batch needs (the locked accounts with their open
/// items, what is posted already, earlier command outcomes, parked reversals, refunds), then
/// calls `apply` for each input in order and writes what this holds afterwards: the journal rows,
/// the accounts' changed items, allocations and balances, command outcomes, parked and resolved
/// reversals, refunds, and the events `events()` lists. Given the same state and inputs it
/// decides the same, which is what the unit tests hold it to.
public final class LedgerDecisions {
    /// The day postings made by commands carry (`posted_on`).
    public let today: LocalDate
    public var accounts: [String: LockedAccount] = [:]
    /// Everything posted, stored or in this batch (see `isPosted`).
    public var posted: Set<PostedKey> = []
    /// Command ids carried out before or in this batch.
    public var finishedCommands: Set<String> = []
    /// `account open` commands refused while their accounts were inserted, by command id.
    public var openRefusals: [String: Refusal] = [:]
    /// The accounts of payments that account-less reversals name, by payment id.
    public var paymentAccounts: [String: String] = [:]
    public var parkedByPayment: [String: [Booked<PaymentReversed, MoneyFields>]] = [:]
    public var parkedIDs: Set<String> = []
    public var refunds: [String: RefundRow] = [:]

    public internal(set) var journal: [JournalRow] = []
    public internal(set) var outcomes: [(outcome: CommandOutcome, requestedBy: String)] = []
    public internal(set) var newParked: [(reversal: Booked<PaymentReversed, MoneyFields>, reason: String)] = []
    public internal(set) var resolvedParked: [String] = []
    /// Refunds created or changed in this batch, each once, in the order first touched.
    public internal(set) var changedRefunds: [String] = []
    /// Events decided while applying (money held in suspense), before those `events()` adds.
    private var heldEvents: [OutgoingEvent] = []

    /// A posted document's identity: its kind and id.
    public struct PostedKey: Hashable, Sendable {
        public let kind: EntryKind
        public let id: String

        public init(_ kind: EntryKind, _ id: String) {
            self.kind = kind
            self.id = id
        }
    }

    /// One journal entry to write, and what it is about.
    public struct JournalRow: Sendable {
        public let accountID: Int64?
        public let kind: EntryKind
        public let documentID: String
        public let entry: JournalEntry
        public let origin: CommandOrigin?
        public let commandID: String?
    }

    /// A refund to the client and where its payout stands.
    public struct RefundRow: Sendable {
        public let id: String
        public let accountID: Int64
        public let accountNumber: String
        public let currency: Currency
        public let amountMinor: Int64
        public var state: RefundState
        public var exportBatch: String?
        public var paidOn: String?
        public var bankReference: String?
        public let requestedBy: String
        public let note: String?
        public let payeeReference: String?

        public init(
            id: String, accountID: Int64, accountNumber: String, currency: Currency, amountMinor: Int64,
            state: RefundState, exportBatch: String? = nil, paidOn: String? = nil, bankReference: String? = nil,
            requestedBy: String, note: String?, payeeReference: String?
        ) {
            self.id = id
            self.accountID = accountID
            self.accountNumber = accountNumber
            self.currency = currency
            self.amountMinor = amountMinor
            self.state = state
            self.exportBatch = exportBatch
            self.paidOn = paidOn
            self.bankReference = bankReference
            self.requestedBy = requestedBy
            self.note = note
            self.payeeReference = payeeReference
        }
    }

    public init(today: LocalDate) {
        self.today = today
    }

    /// Takes in a locked account (replacing one of the same number).
    public func add(_ account: LockedAccount) { accounts[account.number] = account }

    public func isPosted(_ kind: EntryKind, _ documentID: String) -> Bool {
        posted.contains(PostedKey(kind, documentID))
    }

    public func markPosted(_ kind: EntryKind, _ documentID: String) { posted.insert(PostedKey(kind, documentID)) }

    func markRefundChanged(_ id: String) {
        if !changedRefunds.contains(id) { changedRefunds.append(id) }
    }

    // MARK: Applying

    /// Applies one input. Throws `DomainError` or `MessageRejection` when the input can never be
    /// applied (the message is dead-lettered); a command a business rule refuses does not throw
    /// but records its refusal as the outcome. A throw may leave this half-changed: the caller
    /// discards it with the batch's transaction.
    public func apply(_ input: LedgerInput) throws {
        switch input {
        case .payment(let payment): try postPayment(payment)
        case .unidentified(let payment): try postUnidentified(payment)
        case .bankFee(let fee): try postBankFee(fee)
        case .reversal(let reversal): try postReversal(reversal, parked: false)
        case .document(let document): try postDocument(document)
        case .command(let command): try run(command)
        }
    }

    private func postPayment(_ payment: Booked<PaymentIdentified, MoneyFields>) throws {
        let fromSuspense = payment.channel == "suspense"
        let inSuspense = isPosted(.unidentifiedPayment, payment.paymentId)
        if fromSuspense && !inSuspense {
            throw DomainError.invalidDocument("payment \(payment.paymentId) is not held in suspense")
        }
        // Money held in suspense is only moved out of it (channel "suspense"), never booked twice.
        guard fromSuspense == inSuspense, !isPosted(.document(.payment), payment.paymentId) else { return }
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
                heldEvents.append(
                    OutgoingEvent(
                        topic: Topics.ledgerEvents.name, key: payment.account, type: LedgerTypes.paymentHeldInSuspense,
                        unidentified))
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
    private func postBankFee(_ fee: Booked<BankFee, MoneyFields>) throws {
        guard !isPosted(.bankFee, fee.feeId) else { return }
        markPosted(.bankFee, fee.feeId)
        journal.append(
            JournalRow(
                accountID: nil, kind: .bankFee, documentID: fee.feeId,
                entry: try JournalEntry(for: .bankFee(amount: fee.fields.amount, channel: fee.fields.channel)),
                origin: nil, commandID: nil))
    }

    /// Posts money nobody could tie to an account against suspense; false if it was posted before.
    @discardableResult
    private func postUnidentified(_ payment: Booked<PaymentUnidentified, MoneyFields>) throws -> Bool {
        guard !isPosted(.unidentifiedPayment, payment.paymentId) else { return false }
        markPosted(.unidentifiedPayment, payment.paymentId)
        journal.append(
            JournalRow(
                accountID: nil, kind: .unidentifiedPayment, documentID: payment.paymentId,
                entry: try JournalEntry(
                    for: .unidentifiedPayment(amount: payment.fields.amount, channel: payment.fields.channel)),
                origin: nil, commandID: nil))
        return true
    }

    /// Posts a reversal against its payment, or parks it until the payment is posted. A parked
    /// reversal comes back with `paymentAccount`, the account its payment was just posted on (it
    /// may not have named one).
    private func postReversal(
        _ reversal: Booked<PaymentReversed, MoneyFields>, parked: Bool, paymentAccount: String? = nil
    ) throws {
        if isPosted(.document(.paymentReversal), reversal.reversalId) || (!parked && parkedIDs.contains(reversal.reversalId)) {
            return
        }
        let number = reversal.account ?? paymentAccount ?? paymentAccounts[reversal.paymentId]
        guard let account = number.flatMap({ accounts[$0] }), let payment = account.book.items[reversal.paymentId],
            account.kinds[reversal.paymentId] == .payment
        else {
            let reason =
                isPosted(.unidentifiedPayment, reversal.paymentId)
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

    private func postDocument(_ document: Booked<DocumentPosted, DocumentFields>) throws {
        let kind = document.fields.kind
        guard !isPosted(.document(kind), document.documentId) else { return }
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
                accountID: account.id, kind: .document(kind), documentID: item.id, entry: entry, origin: origin,
                commandID: commandID))
        markPosted(.document(kind), item.id)
    }

    // MARK: Events

    /// The events the batch publishes, in order: money held in suspense as it was decided, then
    /// per changed account (in account-id order) its snapshot, allocations released and applied,
    /// debits settled or reopened and its balance; then refunds, parked reversals and command
    /// outcomes.
    public func events() -> [OutgoingEvent] {
        var events = heldEvents
        func publish<T: Encodable>(_ topic: String, key: String, type: String, _ body: T) {
            events.append(OutgoingEvent(topic: topic, key: key, type: type, body))
        }
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
                    type: change.state == DebitState.paid.rawValue ? LedgerTypes.invoiceSettled : LedgerTypes.invoiceReopened, change)
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
                    currency: refund.currency.code, state: refund.state.rawValue))
        }
        for (reversal, reason) in newParked {
            publish(
                topic, key: reversal.account ?? reversal.paymentId, type: LedgerTypes.reversalParked,
                ParkedReversal(reversal: reversal.body, reason: reason))
        }
        for (outcome, _) in outcomes {
            publish(Topics.commandOutcomes.name, key: outcome.commandId, type: LedgerTypes.commandOutcome, outcome)
        }
        return events
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
                ?? .open
            let remaining = account.book.remaining[id] ?? 0
            let after = account.debitState(id, remaining: remaining, closedBy: account.closedBy[id])
            guard before != after, after == .paid || (before == .paid && after != .cancelled) else { continue }
            changes.append(
                DebitStateChanged(
                    account: account.number, document: id, number: item.number, kind: kind.rawValue,
                    state: after.rawValue,
                    totalMinor: item.amount.minor, openMinor: remaining))
        }
        return changes
    }
}

/// A reversal kept until its payment is posted, and why.
public struct ParkedReversal: Codable, Sendable {
    public let reversal: PaymentReversed
    public let reason: String
}

/// The kind of a journal entry's document: one of the ledger's document kinds, or an entry that
/// belongs to no client item (a bank fee, money held in suspense, a refund's payout).
public enum EntryKind: Sendable, Hashable {
    case document(DocumentKind)
    case bankFee
    case unidentifiedPayment
    case refundPayout

    /// The kind as `ledger.journal_entries.document_kind` stores it.
    public var rawValue: String {
        switch self {
        case .document(let kind): return kind.rawValue
        case .bankFee: return "bank-fee"
        case .unidentifiedPayment: return "unidentified-payment"
        case .refundPayout: return "refund-payout"
        }
    }

    public init?(rawValue: String) {
        switch rawValue {
        case EntryKind.bankFee.rawValue: self = .bankFee
        case EntryKind.unidentifiedPayment.rawValue: self = .unidentifiedPayment
        case EntryKind.refundPayout.rawValue: self = .refundPayout
        default:
            guard let kind = DocumentKind(rawValue: rawValue) else { return nil }
            self = .document(kind)
        }
    }
}

/// Where a refund's payout stands (`ledger.refunds.state`).
public enum RefundState: String, Sendable, CaseIterable {
    case due, exported, paid
}

/// The state of a debit as the ledger names it (see `ledger.items.state`).
public enum DebitState: String, Sendable {
    case open
    case partiallyPaid = "partially-paid"
    case paid
    case cancelled
    case unknown
}
