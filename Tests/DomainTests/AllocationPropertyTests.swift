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
}
