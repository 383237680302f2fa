/// One account's items and the allocations between them: what is open, what is free, and what
/// changes when something is posted, cancelled or reversed.
///
/// Pure state: the allocator loads it, applies documents, persists the changes it returns.
/// A book may hold only part of an account's history, as long as it holds every item that can
/// still take part: all open debits, all free credits (when something could use them), and,
/// for an item about to be closed, that item with every allocation in force that involves it and
/// their other sides. What a partial book decides is then exactly what the whole history would.
public struct AllocationBook: Sendable {
    public let currency: Currency
    public let principle: AllocationPrinciple
    public private(set) var items: [String: LedgerItem] = [:]
    /// Per item: the open part of a debit, or the free part of a credit, in minor units.
    public private(set) var remaining: [String: Int64] = [:]
    /// Allocations in force between the items held.
    public private(set) var allocations: [Allocation] = []

    public init(currency: Currency, principle: AllocationPrinciple) {
        self.currency = currency
        self.principle = principle
    }

    /// A book restored from storage: items with what remains of each, and the allocations in force
    /// among them. Invariants are checked as it is read: amounts in this currency, every remaining
    /// amount within 0...amount, every allocation joining a credit to a debit held here.
    public init(
        currency: Currency, principle: AllocationPrinciple, items: [(item: LedgerItem, remaining: Int64)],
        allocations: [Allocation]
    ) throws(DomainError) {
        self.init(currency: currency, principle: principle)
        for (item, remaining) in items {
            guard item.amount.currency == currency else { throw .currencyMismatch(currency, item.amount.currency) }
            guard (0...item.amount.minor).contains(remaining) else {
                throw .invalidDocument("\(item.id) has \(remaining) remaining of \(item.amount.minor)")
            }
            self.items[item.id] = item
            self.remaining[item.id] = remaining
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
    }

    /// What a change did: allocations released and made, in that order.
    public struct Change: Sendable {
        public var released: [Allocation] = []
        public var made: [Allocation] = []
    }

    /// The part of a debit not yet covered by credits.
    public func open(_ id: String) -> Money {
        guard items[id]?.side == .debit else { return .zero(currency) }
        return Money(minor: remaining[id] ?? 0, currency: currency)
    }

    /// The part of a credit not yet used.
    public func available(_ id: String) -> Money {
        guard items[id]?.side == .credit else { return .zero(currency) }
        return Money(minor: remaining[id] ?? 0, currency: currency)
    }

    /// Debits minus credits over the items held (the account's balance when the book holds all of them).
    public var balance: Money {
        let minor = items.values.reduce(Int64(0)) { $0 + ($1.side == .debit ? $1.amount.minor : -$1.amount.minor) }
        return Money(minor: minor, currency: currency)
    }

    public var openDebitTotal: Money { total(of: .debit) }

    public var unallocatedCreditTotal: Money { total(of: .credit) }

    private func total(of side: LedgerItem.Side) -> Money {
        Money(
            minor: items.values.filter { $0.side == side }.reduce(0) { $0 + (remaining[$1.id] ?? 0) },
            currency: currency)
    }

    /// Adds a posted item and allocates. An item that closes another by undoing it (a cancellation
    /// or a reversal) first releases that item's allocations, so what they freed is allocated
    /// again after the item itself is closed.
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
            if item.releasesClosedItem { change.released = try release(target) }
        }
        items[item.id] = item
        remaining[item.id] = item.amount.minor
        change.made = allocateAll()
        return change
    }

    /// Runs allocation over everything open and free; returns the new allocations.
    public mutating func allocateAll() -> [Allocation] {
        var debits: [(item: LedgerItem, open: Money)] = []
        var credits: [(item: LedgerItem, available: Money)] = []
        for (id, left) in remaining where left > 0 {
            let item = items[id]!
            let money = Money(minor: left, currency: currency)
            if item.side == .debit { debits.append((item, money)) } else { credits.append((item, money)) }
        }
        guard !debits.isEmpty, !credits.isEmpty else { return [] }
        let made = AllocationEngine.allocate(debits: debits, credits: credits, principle: principle)
        for allocation in made {
            precondition(allocation.amount.minor <= remaining[allocation.debitID]!, "allocation above the open amount")
            precondition(
                allocation.amount.minor <= remaining[allocation.creditID]!, "allocation above the available credit")
            remaining[allocation.debitID]! -= allocation.amount.minor
            remaining[allocation.creditID]! -= allocation.amount.minor
            allocations.append(allocation)
        }
        return made
    }

    /// Releases every allocation that involves `id`. The book must hold all of them: what is
    /// allocated of the item has to equal the allocations held, or the load was incomplete.
    private mutating func release(_ id: String) throws(DomainError) -> [Allocation] {
        let released = allocations.filter { $0.creditID == id || $0.debitID == id }
        let allocatedMinor = released.reduce(Int64(0)) { $0 + $1.amount.minor }
        guard let item = items[id], allocatedMinor == item.amount.minor - (remaining[id] ?? 0) else {
            throw .invalidDocument("the allocations of \(id) are not all known; cannot release them")
        }
        allocations.removeAll { $0.creditID == id || $0.debitID == id }
        for allocation in released {
            remaining[allocation.creditID]! += allocation.amount.minor
            remaining[allocation.debitID]! += allocation.amount.minor
        }
        return released
    }
}
