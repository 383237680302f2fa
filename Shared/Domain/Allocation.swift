/// How an account's credits are assigned to its debits.
public enum AllocationPrinciple: String, Sendable, Hashable, Codable, CaseIterable {
    /// Oldest debit first: earliest due date, then posting date, then number.
    case fifo
    /// A credit that names its invoices (by number or reference) goes to those first; the rest FIFO.
    case againstItem = "against-item"
}

/// Something on an account that allocation can close or use: a debit (invoice, refund, transfer out,
/// payment reversal) or a credit (payment, credit note, invoice cancellation, transfer in, write-off).
public struct LedgerItem: Sendable, Hashable {
    public enum Side: String, Sendable, Hashable, Codable {
        case debit, credit
    }

    public let id: String
    public let side: Side
    /// The document's full amount (positive), in the account's currency.
    public let amount: Money
    public let postedOn: LocalDate
    /// Posting order on the account: breaks ties between items posted the same day.
    public let sequence: Int64
    /// Debits only: when it falls due (items without one fall due when posted).
    public let dueOn: LocalDate?
    /// Legal number and reference number, by which credits may name it.
    public let number: String?
    public let reference: String?
    /// Credits: the invoices (numbers or references) the payer named, in the order named.
    public let namedItems: [String]
    /// An item that exists to close one specific other item, whatever the principle: an invoice
    /// cancellation closes its invoice, a payment reversal closes its payment, a write-off the
    /// invoice it writes off.
    public let closes: String?
    /// Whether posting this item first releases everything allocated to the item it closes (a
    /// cancellation or a reversal undoes what was applied; a write-off only covers what is open).
    public let releasesClosedItem: Bool

    public init(
        id: String, side: Side, amount: Money, postedOn: LocalDate, sequence: Int64, dueOn: LocalDate? = nil,
        number: String? = nil, reference: String? = nil, namedItems: [String] = [], closes: String? = nil,
        releasesClosedItem: Bool = true
    ) throws(DomainError) {
        guard amount.isPositive else { throw .invalidDocument("amount \(amount.decimalText) must be positive") }
        self.id = id
        self.side = side
        self.amount = amount
        self.postedOn = postedOn
        self.sequence = sequence
        self.dueOn = dueOn
        self.number = number
        self.reference = reference
        self.namedItems = namedItems
        self.closes = closes
        self.releasesClosedItem = closes != nil && releasesClosedItem
    }

    func isNamed(by name: String) -> Bool { name == number || name == reference || name == id }
}

/// One credit applied to one debit, and why.
public struct Allocation: Sendable, Hashable {
    public enum Reason: Sendable, Hashable, CustomStringConvertible {
        /// The credit exists to close this debit, or the debit to close this credit (cancellation, reversal).
        case closesItem
        /// The payer named this item.
        case namedItem(String)
        /// Oldest open debit first.
        case fifo

        public var description: String {
            switch self {
            case .closesItem: return "closes the item it was made for"
            case .namedItem(let name): return "the payer named \(name)"
            case .fifo: return "oldest open debit first"
            }
        }

        /// Stable text for storage and events: `closes-item`, `named:<item>`, `fifo`.
        public var code: String {
            switch self {
            case .closesItem: return "closes-item"
            case .namedItem(let name): return "named:\(name)"
            case .fifo: return "fifo"
            }
        }

        public init(code: String) throws(DomainError) {
            switch code {
            case "closes-item": self = .closesItem
            case "fifo": self = .fifo
            case _ where code.hasPrefix("named:") && code.count > 6: self = .namedItem(String(code.dropFirst(6)))
            default: throw .invalidDocument("'\(code)' is not an allocation reason")
            }
        }
    }

    public let creditID: String
    public let debitID: String
    public let amount: Money
    public let reason: Reason

    public init(creditID: String, debitID: String, amount: Money, reason: Reason) {
        self.creditID = creditID
        self.debitID = debitID
        self.amount = amount
        self.reason = reason
    }
}

/// Decides allocations. Pure and deterministic: the same items and amounts give the same result.
public enum AllocationEngine {
    /// Allocations for the given open debits and available credits (amounts still free, > 0).
    ///
    /// Order: first items made to close one other item (cancellations, reversals); then, under
    /// `againstItem`, each credit (oldest first) to the items it names, in the order named; then
    /// each credit, oldest first, to the open debits by due date, posting date and number.
    public static func allocate(
        debits: [(item: LedgerItem, open: Money)], credits: [(item: LedgerItem, available: Money)],
        principle: AllocationPrinciple
    ) -> [Allocation] {
        var open = Dictionary(uniqueKeysWithValues: debits.map { ($0.item.id, $0.open.minor) })
        var available = Dictionary(uniqueKeysWithValues: credits.map { ($0.item.id, $0.available.minor) })
        let debitOrder = debits.map(\.item).sorted(by: fifoOrder)
        let creditOrder = credits.map(\.item).sorted(by: postingOrder)
        guard let currency = debits.first?.open.currency ?? credits.first?.available.currency else { return [] }
        var result: [Allocation] = []

        func apply(_ credit: LedgerItem, _ debit: LedgerItem, _ reason: Allocation.Reason) {
            let amount = min(open[debit.id] ?? 0, available[credit.id] ?? 0)
            guard amount > 0 else { return }
            open[debit.id]! -= amount
            available[credit.id]! -= amount
            result.append(
                Allocation(
                    creditID: credit.id, debitID: debit.id, amount: Money(minor: amount, currency: currency),
                    reason: reason))
        }

        for credit in creditOrder {
            if let target = credit.closes, let debit = debitOrder.first(where: { $0.id == target }) {
                apply(credit, debit, .closesItem)
            }
        }
        for debit in debitOrder {
            if let target = debit.closes, let credit = creditOrder.first(where: { $0.id == target }) {
                apply(credit, debit, .closesItem)
            }
        }
        if principle == .againstItem {
            for credit in creditOrder {
                for name in credit.namedItems {
                    guard let debit = debitOrder.first(where: { $0.isNamed(by: name) }) else { continue }
                    apply(credit, debit, .namedItem(name))
                }
            }
        }
        for credit in creditOrder {
            for debit in debitOrder {
                if (available[credit.id] ?? 0) == 0 { break }
                apply(credit, debit, .fifo)
            }
        }
        return result
    }

    /// Oldest due date first (an item without one falls due when posted), then posting date, then
    /// number (or id), then posting sequence.
    static func fifoOrder(_ lhs: LedgerItem, _ rhs: LedgerItem) -> Bool {
        let leftDue = lhs.dueOn ?? lhs.postedOn
        let rightDue = rhs.dueOn ?? rhs.postedOn
        if leftDue != rightDue { return leftDue < rightDue }
        if lhs.postedOn != rhs.postedOn { return lhs.postedOn < rhs.postedOn }
        let leftNumber = lhs.number ?? lhs.id
        let rightNumber = rhs.number ?? rhs.id
        if leftNumber != rightNumber { return leftNumber < rightNumber }
        return lhs.sequence < rhs.sequence
    }

    static func postingOrder(_ lhs: LedgerItem, _ rhs: LedgerItem) -> Bool {
        if lhs.postedOn != rhs.postedOn { return lhs.postedOn < rhs.postedOn }
        if lhs.sequence != rhs.sequence { return lhs.sequence < rhs.sequence }
        return lhs.id < rhs.id
    }
}
