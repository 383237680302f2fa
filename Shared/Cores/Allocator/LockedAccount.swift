import BillingContracts
import BillingDomain

/// An account as one batch sees it: its row locked (`FOR UPDATE`), its settings, its balance, and
/// an allocation book holding every item that can still take part in allocation. Everything the
/// batch does to the account is collected here and written once, netted, before COMMIT.
///
/// - Important: Lives only inside one `apply` on the worker thread.
public final class LockedAccount {
    /// What an item loaded from storage looked like, to write back only what changed.
    public struct StoredItem: Sendable {
        public let remaining: Int64
        public let closedBy: String?

        public init(remaining: Int64, closedBy: String?) {
            self.remaining = remaining
            self.closedBy = closedBy
        }
    }

    public let id: Int64
    public let number: String
    public internal(set) var name: String
    public let currency: Currency
    public internal(set) var state: AccountState
    public internal(set) var creditLimitMinor: Int64?
    public internal(set) var creditRule: String
    public internal(set) var presentment: PresentmentChannel
    public internal(set) var email: String?
    public internal(set) var phone: String?
    public internal(set) var owningGroup: String?
    public let balanceBefore: Int64
    public internal(set) var balance: Int64
    public internal(set) var itemSequence: Int64
    public var book: AllocationBook
    /// The allocation principle setting; a change applies from the next batch's book.
    public internal(set) var allocationSetting: AllocationPrinciple

    public var stored: [String: StoredItem] = [:]
    public var kinds: [String: DocumentKind] = [:]
    public var closedBy: [String: String] = [:]
    /// Items posted in this batch, in posting order.
    public internal(set) var newItems: [String] = []
    /// Allocations made in this batch; `released` when a later posting of the batch undid them.
    public internal(set) var newAllocations: [(allocation: Allocation, released: Bool)] = []
    /// Items whose stored allocations were released in this batch.
    public internal(set) var releaseTargets: [String] = []
    public internal(set) var applied: [Allocation] = []
    public internal(set) var released: [Allocation] = []
    public internal(set) var movements: [BalanceChanged.Movement] = []
    public internal(set) var settingsChanged = false
    public internal(set) var stateChanged = false
    public var opened = false

    public init(
        id: Int64, number: String, name: String, currency: Currency, state: AccountState, creditLimitMinor: Int64?,
        creditRule: String, principle: AllocationPrinciple, presentment: PresentmentChannel, email: String?, phone: String?,
        owningGroup: String?, balance: Int64, itemSequence: Int64
    ) {
        self.id = id
        self.number = number
        self.name = name
        self.currency = currency
        self.state = state
        self.creditLimitMinor = creditLimitMinor
        self.creditRule = creditRule
        self.presentment = presentment
        self.email = email
        self.phone = phone
        self.owningGroup = owningGroup
        self.balanceBefore = balance
        self.balance = balance
        self.itemSequence = itemSequence
        self.book = AllocationBook(currency: currency, principle: principle)
        self.allocationSetting = principle
    }

    public var principle: AllocationPrinciple { allocationSetting }

    /// What the client has in credit (0 when the client owes).
    public var creditMinor: Int64 { max(0, -balance) }

    public var isChanged: Bool { !movements.isEmpty || settingsChanged || stateChanged || opened }

    public var snapshot: AccountSnapshot {
        AccountSnapshot(
            number: number, name: name, currency: currency.code, state: state.rawValue,
            creditLimitMinor: creditLimitMinor, creditRule: creditRule, allocation: principle.rawValue,
            presentment: presentment.rawValue, email: email, phone: phone, owningGroup: owningGroup, accountId: id)
    }

    /// The state of a debit with `remaining` open and closed by `closedBy`.
    public func debitState(_ id: String, remaining: Int64, closedBy: String?) -> DebitState {
        guard let item = book.items[id] else { return .unknown }
        if closedBy != nil { return .cancelled }
        if remaining == 0 { return .paid }
        return remaining < item.amount.minor ? .partiallyPaid : .open
    }

    /// Finds a posted item by document id, legal number or reference.
    public func item(named name: String) -> LedgerItem? {
        book.items[name] ?? book.items.values.first { $0.number == name || $0.reference == name }
    }

    /// Records a change from the book: what it released and made, for storage and events.
    func record(_ change: AllocationBook.Change) {
        for allocation in change.released {
            if let index = newAllocations.firstIndex(where: { !$0.released && $0.allocation == allocation }) {
                newAllocations[index].released = true
            }
            released.append(allocation)
        }
        for allocation in change.made {
            newAllocations.append((allocation, false))
            applied.append(allocation)
        }
    }
}
