/// An account of the general ledger that postings go to.
///
/// `accountsReceivable` is the AR control account with the client's sub-account: a client's
/// balance is the sum of its AR postings, and the AR control total is the sum over all clients.
public enum LedgerAccount: Sendable, Hashable, CustomStringConvertible {
    case accountsReceivable(client: String)
    /// Money received through a channel (bank account, gateway, registry).
    case cash(channel: String)
    /// Money held at a cash desk.
    case cashDesk(String)
    /// Money received that nobody could tie to a client yet.
    case suspense
    case revenue
    case taxPayable
    case writeOffExpense(category: String)
    /// Money owed back to clients until it is paid out.
    case refundsPayable
    case bankFees
    /// Between the two halves of a transfer (each half is its own document).
    case transferClearing

    /// Stable code for storage: `AR`, `CASH:bank`, `DESK:d1`, `SUSPENSE`, `REVENUE`, ...
    public var code: String {
        switch self {
        case .accountsReceivable: return "AR"
        case .cash(let channel): return "CASH:\(channel)"
        case .cashDesk(let desk): return "DESK:\(desk)"
        case .suspense: return "SUSPENSE"
        case .revenue: return "REVENUE"
        case .taxPayable: return "TAX_PAYABLE"
        case .writeOffExpense(let category): return "WRITE_OFF:\(category)"
        case .refundsPayable: return "REFUNDS_PAYABLE"
        case .bankFees: return "BANK_FEES"
        case .transferClearing: return "TRANSFER_CLEARING"
        }
    }

    /// Where a payment's money is, from its channel: `desk:<id>` is a cash desk, `suspense` is money
    /// moved out of suspense, anything else (`bank:<iban>`, `gateway:<name>`, `manual`, ...) is cash
    /// received through that channel.
    public static func forPaymentChannel(_ channel: String) throws(DomainError) -> LedgerAccount {
        // Checked on the bytes (every payment passes here twice; Character properties cost a
        // Unicode table lookup each): visible ASCII is 0x21 to 0x7E, one byte per character.
        let bytes = channel.utf8
        guard (1...70).contains(bytes.count), bytes.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw .invalidDocument("payment channel '\(channel)' must be 1 to 70 visible ASCII characters")
        }
        if channel == "suspense" { return .suspense }
        if channel.hasPrefix("desk:"), bytes.count > 5 { return .cashDesk(String(channel.dropFirst(5))) }
        return .cash(channel: channel)
    }

    /// The client sub-account, for AR postings.
    public var client: String? {
        if case .accountsReceivable(let client) = self { return client }
        return nil
    }

    public var description: String { client.map { "AR:\($0)" } ?? code }
}

/// One line of a journal entry: positive amounts are debits, negative amounts credits.
public struct Posting: Sendable, Hashable {
    public let account: LedgerAccount
    public let amount: Money

    public init(_ account: LedgerAccount, _ amount: Money) {
        self.account = account
        self.amount = amount
    }
}

/// What a posted document means for the ledger; each case gives one balanced journal entry.
public enum JournalSource: Sendable, Hashable {
    case invoice(client: String, net: Money, tax: Money)
    case creditNote(client: String, net: Money, tax: Money)
    case invoiceCancellation(client: String, net: Money, tax: Money)
    case payment(client: String, amount: Money, channel: LedgerAccount)
    /// Cash in, owed to whoever turns out to have paid: held in suspense.
    case unidentifiedPayment(amount: Money, channel: LedgerAccount)
    case paymentReversal(client: String, amount: Money, channel: LedgerAccount)
    case refund(client: String, amount: Money)
    /// A refund paid out: refunds payable cleared against the cash it left from.
    case refundPayout(amount: Money, channel: LedgerAccount)
    case transferOut(client: String, amount: Money)
    case transferIn(client: String, amount: Money)
    case writeOff(client: String, amount: Money, category: String)
    /// A fee the bank or gateway took: bank fees expense against the cash it left from.
    case bankFee(amount: Money, channel: LedgerAccount)
}

/// The balanced set of postings for one posted document.
public struct JournalEntry: Sendable, Hashable {
    public let postings: [Posting]

    /// Postings given explicitly; refused unless debits equal credits in every currency.
    public init(postings: [Posting]) throws(DomainError) {
        guard !postings.isEmpty else { throw .invalidDocument("a journal entry needs postings") }
        var sums: [Currency: Int64] = [:]
        for posting in postings {
            let (sum, overflow) = sums[posting.amount.currency, default: 0].addingReportingOverflow(
                posting.amount.minor)
            guard !overflow else { throw .overflow("journal entry") }
            sums[posting.amount.currency] = sum
        }
        for (currency, sum) in sums where sum != 0 {
            throw .invalidDocument(
                "journal entry does not balance in \(currency.code): off by \(Money(minor: sum, currency: currency).decimalText)"
            )
        }
        self.postings = postings.filter { !$0.amount.isZero }
    }

    /// The entry a posted document writes. Amounts are the document's (positive) values.
    public init(for source: JournalSource) throws(DomainError) {
        func neg(_ money: Money) throws(DomainError) -> Money { try money.negated() }
        switch source {
        case .invoice(let client, let net, let tax):
            try self.init(postings: [
                Posting(.accountsReceivable(client: client), try net.adding(tax)), Posting(.revenue, try neg(net)),
                Posting(.taxPayable, try neg(tax)),
            ])
        case .creditNote(let client, let net, let tax), .invoiceCancellation(let client, let net, let tax):
            try self.init(postings: [
                Posting(.revenue, net), Posting(.taxPayable, tax),
                Posting(.accountsReceivable(client: client), try neg(try net.adding(tax))),
            ])
        case .payment(let client, let amount, let channel):
            try self.init(postings: [
                Posting(channel, amount), Posting(.accountsReceivable(client: client), try neg(amount)),
            ])
        case .unidentifiedPayment(let amount, let channel):
            try self.init(postings: [Posting(channel, amount), Posting(.suspense, try neg(amount))])
        case .paymentReversal(let client, let amount, let channel):
            try self.init(postings: [
                Posting(.accountsReceivable(client: client), amount), Posting(channel, try neg(amount)),
            ])
        case .refund(let client, let amount):
            try self.init(postings: [
                Posting(.accountsReceivable(client: client), amount), Posting(.refundsPayable, try neg(amount)),
            ])
        case .refundPayout(let amount, let channel):
            try self.init(postings: [Posting(.refundsPayable, amount), Posting(channel, try neg(amount))])
        case .bankFee(let amount, let channel):
            try self.init(postings: [Posting(.bankFees, amount), Posting(channel, try neg(amount))])
        case .transferOut(let client, let amount):
            try self.init(postings: [
                Posting(.accountsReceivable(client: client), amount), Posting(.transferClearing, try neg(amount)),
            ])
        case .transferIn(let client, let amount):
            try self.init(postings: [
                Posting(.transferClearing, amount), Posting(.accountsReceivable(client: client), try neg(amount)),
            ])
        case .writeOff(let client, let amount, let category):
            try self.init(postings: [
                Posting(.writeOffExpense(category: category), amount),
                Posting(.accountsReceivable(client: client), try neg(amount)),
            ])
        }
    }

    /// How much this entry moves `client`'s balance (positive: the client owes more).
    public func balanceChange(of client: String) -> Int64 {
        postings.filter { $0.account.client == client }.reduce(0) { $0 + $1.amount.minor }
    }
}
