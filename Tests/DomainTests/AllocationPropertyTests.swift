import BillingDomain
import PropertyBased
import Testing

/// A random account history: invoices and payments with amounts in cents, due dates within a
/// quarter, some payments naming invoices.
struct History: Sendable, CustomStringConvertible {
    struct Entry: Sendable {
        var isInvoice: Bool
        var cents: Int64
        var day: Int
        var dueOffset: Int
        var namesIndex: Int?
    }

    var entries: [Entry]

    var description: String {
        entries.map {
            "\($0.isInvoice ? "inv" : "pay") \($0.cents) d\($0.day)\($0.namesIndex.map { " names \($0)" } ?? "")"
        }
        .joined(separator: "; ")
    }

    static let generator = PropertyBased.zip(
        Gen.bool, Gen.int64(in: 1...50_000), Gen.int(in: 1...28), Gen.int(in: 0...60), Gen.int(in: -1...5)
    )
    .map { isInvoice, cents, day, dueOffset, names in
        Entry(isInvoice: isInvoice, cents: cents, day: day, dueOffset: dueOffset, namesIndex: names < 0 ? nil : names)
    }
    .array(of: 1...25)
    .map { History(entries: $0) }

    /// Ledger items in the order given; `sameDay` puts every item on one date.
    func items(sameDay: Bool = false) throws -> [LedgerItem] {
        var items: [LedgerItem] = []
        var invoiceNumbers: [String] = []
        for (index, entry) in entries.enumerated() {
            let posted = try LocalDate(year: 2026, month: 5, day: sameDay ? 1 : entry.day)
            if entry.isInvoice {
                let number = "INV-\(index)"
                invoiceNumbers.append(number)
                items.append(
                    try LedgerItem(
                        id: number, side: .debit, amount: Money(minor: entry.cents, currency: .eur), postedOn: posted,
                        sequence: Int64(index), dueOn: posted.addingDays(entry.dueOffset), number: number))
            } else {
                let named = entry.namesIndex.flatMap { $0 < invoiceNumbers.count ? [invoiceNumbers[$0]] : nil } ?? []
                items.append(
                    try LedgerItem(
                        id: "PAY-\(index)", side: .credit, amount: Money(minor: entry.cents, currency: .eur),
                        postedOn: posted, sequence: Int64(index), namedItems: named))
            }
        }
        return items
    }

    func book(_ principle: AllocationPrinciple, items: [LedgerItem]) throws -> AllocationBook {
        var book = AllocationBook(currency: .eur, principle: principle)
        for item in items { _ = try book.post(item) }
        return book
    }
}

@Suite("allocation invariants (property-based)")
struct AllocationPropertyTests {
    @Test(
        "allocations never exceed a debit's open amount or a credit's available amount",
        arguments: AllocationPrinciple.allCases)
    func neverExceeds(principle: AllocationPrinciple) async {
        await propertyCheck(count: 300, input: History.generator) { history in
            let book = try history.book(principle, items: history.items())
            for (id, item) in book.items {
                let allocated = book.allocations.filter { $0.debitID == id || $0.creditID == id }.reduce(Int64(0)) {
                    $0 + $1.amount.minor
                }
                #expect(allocated <= item.amount.minor, "\(id)")
                #expect(book.open(id).minor >= 0 && book.available(id).minor >= 0)
            }
            #expect(book.allocations.allSatisfy { $0.amount.isPositive })
        }
    }

    @Test("the balance equals open debits minus unallocated credits", arguments: AllocationPrinciple.allCases)
    func balanceIdentity(principle: AllocationPrinciple) async {
        await propertyCheck(count: 300, input: History.generator) { history in
            let book = try history.book(principle, items: history.items())
            #expect(book.balance.minor == book.openDebitTotal.minor - book.unallocatedCreditTotal.minor)
            // Allocation never leaves both an open debit and a free credit behind.
            #expect(book.openDebitTotal.isZero || book.unallocatedCreditTotal.isZero)
        }
    }

    @Test("running allocation again on the same state changes nothing", arguments: AllocationPrinciple.allCases)
    func idempotent(principle: AllocationPrinciple) async {
        await propertyCheck(count: 300, input: History.generator) { history in
            var book = try history.book(principle, items: history.items())
            let before = book.allocations
            #expect(book.allocateAll().isEmpty)
            #expect(book.allocations == before)
        }
    }

    @Test(
        "the order of postings within the same instant does not change totals", arguments: AllocationPrinciple.allCases)
    func orderWithinInstant(principle: AllocationPrinciple) async {
        await propertyCheck(count: 300, input: History.generator) { history in
            let items = try history.items(sameDay: true)
            let forward = try history.book(principle, items: items)
            let backward = try history.book(principle, items: items.reversed())
            #expect(forward.balance == backward.balance)
            #expect(forward.openDebitTotal == backward.openDebitTotal)
            #expect(forward.unallocatedCreditTotal == backward.unallocatedCreditTotal)
        }
    }

    @Test("cancelling any invoice keeps every invariant and leaves that invoice closed")
    func cancellationKeepsInvariants() async {
        await propertyCheck(count: 300, input: History.generator, Gen.int(in: 0...24)) { history, pick in
            let items = try history.items()
            var book = try history.book(.fifo, items: items)
            let invoices = items.filter { $0.side == .debit }
            guard !invoices.isEmpty else { return }
            let target = invoices[pick % invoices.count]
            _ = try book.post(
                LedgerItem(
                    id: "CAN-\(target.id)", side: .credit, amount: target.amount,
                    postedOn: LocalDate.parse("2026-06-30"),
                    sequence: 1_000, closes: target.id))
            #expect(book.open(target.id).isZero)
            #expect(book.balance.minor == book.openDebitTotal.minor - book.unallocatedCreditTotal.minor)
            #expect(book.openDebitTotal.isZero || book.unallocatedCreditTotal.isZero)
        }
    }

    @Test("a book restored from open items and the closed item's allocations decides as the whole history does")
    func partialBookMatchesWhole() async {
        await propertyCheck(count: 300, input: History.generator, Gen.int(in: 0...24)) { history, pick in
            let items = try history.items()
            var whole = try history.book(.fifo, items: items)
            guard !items.isEmpty else { return }
            let target = items[pick % items.count]
            let involved = whole.allocations.filter { $0.creditID == target.id || $0.debitID == target.id }
            let neededIDs = Set(involved.flatMap { [$0.creditID, $0.debitID] } + [target.id])
            let loaded = whole.items.values.filter { (whole.remaining[$0.id] ?? 0) > 0 || neededIDs.contains($0.id) }
            var partial = try AllocationBook(
                currency: .eur, principle: .fifo, items: loaded.map { ($0, whole.remaining[$0.id]!) },
                allocations: involved)
            let closer = try LedgerItem(
                id: "CLOSE-\(target.id)", side: target.side == .debit ? .credit : .debit, amount: target.amount,
                postedOn: LocalDate.parse("2026-06-30"), sequence: 1_000, closes: target.id)
            let wholeChange = try whole.post(closer)
            let partialChange = try partial.post(closer)
            #expect(Set(wholeChange.released) == Set(partialChange.released))
            #expect(wholeChange.made == partialChange.made)
            for id in partial.items.keys { #expect(partial.remaining[id] == whole.remaining[id], "\(id)") }
        }
    }

    @Test("restoring refuses a book whose allocations do not account for a closed item")
    func incompleteBookRefusesRelease() throws {
        let invoice = try LedgerItem(
            id: "INV-1", side: .debit, amount: Money(minor: 3000, currency: .eur),
            postedOn: LocalDate.parse("2026-05-01"), sequence: 1)
        var book = try AllocationBook(
            currency: .eur, principle: .fifo, items: [(invoice, 1000)], allocations: [])
        #expect(throws: DomainError.self) {
            try book.post(
                LedgerItem(
                    id: "CAN-1", side: .credit, amount: invoice.amount, postedOn: LocalDate.parse("2026-05-02"),
                    sequence: 2, closes: "INV-1"))
        }
        #expect(throws: DomainError.self) {
            try AllocationBook(currency: .eur, principle: .fifo, items: [(invoice, 4000)], allocations: [])
        }
    }
}
