/// One account's posted items and the allocations between them: what is open, what is free,
/// and what changes when something is posted, cancelled or reversed.
///
/// Pure state: the allocator loads it, applies a document, persists the changes it returns.
public struct AllocationBook: Sendable {
    public let currency: Currency
    public let principle: AllocationPrinciple
    public private(set) var items: [String: LedgerItem] = [:]
    /// Allocations in force.
    public private(set) var allocations: [Allocation] = []

    public init(currency: Currency, principle: AllocationPrinciple) {
        self.currency = currency
        self.principle = principle
    }

    /// A book restored from storage. Its invariants are checked as it is read: every allocation
    /// joins a credit to a debit of this book, in its currency, and none over-allocates.
    public init(
        currency: Currency, principle: AllocationPrinciple, items: [LedgerItem], allocations: [Allocation]
    ) throws(DomainError) {
        self.init(currency: currency, principle: principle)
        for item in items {
            guard item.amount.currency == currency else { throw .currencyMismatch(currency, item.amount.currency) }
            self.items[item.id] = item
        }
        for allocation in allocations {
            guard self.items[allocation.creditID]?.side == .credit, self.items[allocation.debitID]?.side == .debit,
                allocation.amount.currency == currency, allocation.amount.isPositive
            else {
                throw .invalidDocument(
                    "allocation \(allocation.creditID) → \(allocation.debitID) does not fit this account")
            }
            self.allocations.append(allocation)
        }
        for id in self.items.keys where open(id).isNegative || available(id).isNegative {
            throw .invalidDocument("\(id) is allocated beyond its amount")
        }
    }

    /// What a change did: allocations released and made, in that order.
    public struct Change: Sendable {
        public var released: [Allocation] = []
        public var made: [Allocation] = []
    }

    /// The part of a debit not yet covered by credits.
    public func open(_ id: String) -> Money {
        guard let item = items[id], item.side == .debit else { return .zero(currency) }
        let covered = allocations.filter { $0.debitID == id }.reduce(Int64(0)) { $0 + $1.amount.minor }
        return Money(minor: item.amount.minor - covered, currency: currency)
    }

    /// The part of a credit not yet used.
    public func available(_ id: String) -> Money {
        guard let item = items[id], item.side == .credit else { return .zero(currency) }
        let used = allocations.filter { $0.creditID == id }.reduce(Int64(0)) { $0 + $1.amount.minor }
        return Money(minor: item.amount.minor - used, currency: currency)
    }

    /// Positive: the client owes; negative: the client is in credit.
    public var balance: Money {
        let minor = items.values.reduce(Int64(0)) { $0 + ($1.side == .debit ? $1.amount.minor : -$1.amount.minor) }
        return Money(minor: minor, currency: currency)
    }

    public var openDebitTotal: Money {
        Money(minor: items.values.filter { $0.side == .debit }.reduce(0) { $0 + open($1.id).minor }, currency: currency)
    }

    public var unallocatedCreditTotal: Money {
        Money(
            minor: items.values.filter { $0.side == .credit }.reduce(0) { $0 + available($1.id).minor },
            currency: currency)
    }

    /// Adds a posted item and allocates. An item that closes another (a cancellation or a
    /// reversal) first releases that item's allocations, so what they freed is allocated again
    /// after the item itself is closed.
    public mutating func post(_ item: LedgerItem) throws(DomainError) -> Change {
        guard item.amount.currency == currency else { throw .currencyMismatch(currency, item.amount.currency) }
        guard items[item.id] == nil else { throw .invalidDocument("\(item.id) is already posted on this account") }
        var change = Change()
        if let target = item.closes {
            guard let closed = items[target] else {
                throw .invalidDocument("\(item.id) closes \(target), which is not on this account")
            }
            guard closed.side != item.side else {
                throw .invalidDocument("\(item.id) and \(target) are on the same side")
            }
            change.released = release(target)
        }
        items[item.id] = item
        change.made = allocateAll()
        return change
    }

    /// Runs allocation over everything open and free; returns the new allocations.
    public mutating func allocateAll() -> [Allocation] {
        let debits = items.values.filter { $0.side == .debit }.map { ($0, open($0.id)) }.filter { $0.1.isPositive }
        let credits = items.values.filter { $0.side == .credit }.map { ($0, available($0.id)) }.filter {
            $0.1.isPositive
        }
        let made = AllocationEngine.allocate(
            debits: debits.map { (item: $0.0, open: $0.1) }, credits: credits.map { (item: $0.0, available: $0.1) },
            principle: principle)
        for allocation in made {
            precondition(allocation.amount.minor <= open(allocation.debitID).minor, "allocation above the open amount")
            precondition(
                allocation.amount.minor <= available(allocation.creditID).minor, "allocation above the available credit"
            )
            allocations.append(allocation)
        }
        return made
    }

    /// Releases every allocation that involves `id`.
    private mutating func release(_ id: String) -> [Allocation] {
        let released = allocations.filter { $0.creditID == id || $0.debitID == id }
        allocations.removeAll { $0.creditID == id || $0.debitID == id }
        return released
    }
}
