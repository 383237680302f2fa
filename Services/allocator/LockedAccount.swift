import BillingContracts
import BillingDomain

/// An account as one batch sees it: its row locked (`FOR UPDATE`), its settings, its balance, and
/// an allocation book holding every item that can still take part in allocation. Everything the
/// batch does to the account is collected here and written once, netted, before COMMIT.
///
/// - Important: Lives only inside one `apply` on the worker thread.
final class LockedAccount {
    /// What an item loaded from storage looked like, to write back only what changed.
    struct StoredItem {
        let remaining: Int64
        let closedBy: String?
    }

    let id: Int64
    let number: String
    var name: String
    let currency: Currency
    var state: AccountState
    var creditLimitMinor: Int64?
    var creditRule: String
    var presentment: String
    var email: String?
    var phone: String?
    var owningGroup: String?
    let balanceBefore: Int64
    var balance: Int64
    var itemSequence: Int64
    var book: AllocationBook
    /// The allocation principle setting; a change applies from the next batch's book.
    var allocationSetting: AllocationPrinciple

    var stored: [String: StoredItem] = [:]
    var kinds: [String: DocumentKind] = [:]
    var closedBy: [String: String] = [:]
    /// Items posted in this batch, in posting order.
    var newItems: [String] = []
    /// Allocations made in this batch; `released` when a later posting of the batch undid them.
    var newAllocations: [(allocation: Allocation, released: Bool)] = []
    /// Items whose stored allocations were released in this batch.
    var releaseTargets: [String] = []
    var applied: [Allocation] = []
    var released: [Allocation] = []
    var movements: [BalanceChanged.Movement] = []
    var settingsChanged = false
    var stateChanged = false
    var opened = false

    init(
        id: Int64, number: String, name: String, currency: Currency, state: AccountState, creditLimitMinor: Int64?,
        creditRule: String, principle: AllocationPrinciple, presentment: String, email: String?, phone: String?,
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

    var principle: AllocationPrinciple { allocationSetting }

    /// What the client has in credit (0 when the client owes).
    var creditMinor: Int64 { max(0, -balance) }

    var isChanged: Bool { !movements.isEmpty || settingsChanged || stateChanged || opened }

    var snapshot: AccountSnapshot {
        AccountSnapshot(
            number: number, name: name, currency: currency.code, state: state.rawValue,
            creditLimitMinor: creditLimitMinor, creditRule: creditRule, allocation: principle.rawValue,
            presentment: presentment, email: email, phone: phone, owningGroup: owningGroup, accountId: id)
    }

    /// The state of a debit as the ledger names it (see `ledger.items.state`).
    func debitState(_ id: String, remaining: Int64, closedBy: String?) -> String {
        guard let item = book.items[id] else { return "unknown" }
        if closedBy != nil { return "cancelled" }
        if remaining == 0 { return "paid" }
        return remaining < item.amount.minor ? "partially-paid" : "open"
    }

    /// Finds a posted item by document id, legal number or reference.
    func item(named name: String) -> LedgerItem? {
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
