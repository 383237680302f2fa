import BillingDomain
import Testing

/// Builds ledger items for an account in EUR, numbering postings in the order they are made.
struct AccountScript {
    var sequence: Int64 = 0

    func eur(_ text: String) throws -> Money { try Money.parse(text, currency: .eur) }

    mutating func invoice(_ number: String, _ amount: String, due: String, posted: String = "2026-05-01") throws
        -> LedgerItem
    {
        sequence += 1
        return try LedgerItem(
            id: number, side: .debit, amount: eur(amount), postedOn: LocalDate.parse(posted), sequence: sequence,
            dueOn: LocalDate.parse(due), number: number, reference: "REF-\(number)")
    }

    mutating func payment(_ id: String, _ amount: String, posted: String = "2026-05-10", naming: [String] = []) throws
        -> LedgerItem
    {
        sequence += 1
        return try LedgerItem(
            id: id, side: .credit, amount: eur(amount), postedOn: LocalDate.parse(posted), sequence: sequence,
            namedItems: naming)
    }

    mutating func cancellation(of invoice: LedgerItem, posted: String = "2026-05-20") throws -> LedgerItem {
        sequence += 1
        return try LedgerItem(
            id: "CAN-\(invoice.id)", side: .credit, amount: invoice.amount, postedOn: LocalDate.parse(posted),
            sequence: sequence, closes: invoice.id)
    }

    mutating func reversal(of payment: LedgerItem, posted: String = "2026-05-21") throws -> LedgerItem {
        sequence += 1
        return try LedgerItem(
            id: "REV-\(payment.id)", side: .debit, amount: payment.amount, postedOn: LocalDate.parse(posted),
            sequence: sequence, closes: payment.id)
    }
}

@Suite("allocation")
struct AllocationTests {
    @Test("FIFO closes the oldest due invoice first; a partial payment leaves it partly open")
    func fifoPartial() throws {
        var script = AccountScript()
        var book = AllocationBook(currency: .eur, principle: .fifo)
        _ = try book.post(script.invoice("INV-2", "50.00", due: "2026-06-20"))
        _ = try book.post(script.invoice("INV-1", "30.00", due: "2026-06-10"))
        let change = try book.post(script.payment("PAY-1", "40.00"))
        #expect(change.made.map(\.debitID) == ["INV-1", "INV-2"])
        #expect(change.made.map(\.amount.minor) == [3000, 1000])
        #expect(book.open("INV-1").minor == 0)
        #expect(book.open("INV-2").minor == 4000)
        #expect(book.balance.minor == 4000)
    }

    @Test("a payment larger than all open invoices leaves client credit that the next invoice consumes")
    func overpayment() throws {
        var script = AccountScript()
        var book = AllocationBook(currency: .eur, principle: .fifo)
        _ = try book.post(script.invoice("INV-1", "30.00", due: "2026-06-10"))
        _ = try book.post(script.payment("PAY-1", "100.00"))
        #expect(book.available("PAY-1").minor == 7000)
        #expect(book.balance.minor == -7000)
        let next = try book.post(script.invoice("INV-2", "50.00", due: "2026-07-10", posted: "2026-06-01"))
        #expect(
            next.made == [
                Allocation(creditID: "PAY-1", debitID: "INV-2", amount: try script.eur("50.00"), reason: .fifo)
            ])
        #expect(book.available("PAY-1").minor == 2000)
    }

    @Test("against item: a payment goes to the invoices it names first, by number or reference, the rest FIFO")
    func againstItem() throws {
        var script = AccountScript()
        var book = AllocationBook(currency: .eur, principle: .againstItem)
        _ = try book.post(script.invoice("INV-1", "30.00", due: "2026-06-10"))
        _ = try book.post(script.invoice("INV-2", "50.00", due: "2026-06-20"))
        _ = try book.post(script.invoice("INV-3", "20.00", due: "2026-06-30"))
        let change = try book.post(script.payment("PAY-1", "60.00", naming: ["REF-INV-3", "INV-2"]))
        #expect(change.made.map(\.debitID) == ["INV-3", "INV-2"])
        #expect(change.made.map(\.reason) == [.namedItem("REF-INV-3"), .namedItem("INV-2")])
        #expect(book.open("INV-2").minor == 1000)
        #expect(book.open("INV-1").minor == 3000)
        // Under FIFO the same naming is ignored.
        var fifo = AllocationBook(currency: .eur, principle: .fifo)
        var again = AccountScript()
        _ = try fifo.post(again.invoice("INV-1", "30.00", due: "2026-06-10"))
        _ = try fifo.post(again.invoice("INV-3", "20.00", due: "2026-06-30"))
        #expect(try fifo.post(again.payment("PAY-1", "30.00", naming: ["INV-3"])).made.map(\.debitID) == ["INV-1"])
    }

    @Test("cancelling a paid invoice closes it and the freed payment pays the next open invoice")
    func cancellation() throws {
        var script = AccountScript()
        var book = AllocationBook(currency: .eur, principle: .fifo)
        let first = try script.invoice("INV-1", "30.00", due: "2026-06-10")
        _ = try book.post(first)
        _ = try book.post(script.payment("PAY-1", "30.00"))
        _ = try book.post(script.invoice("INV-2", "25.00", due: "2026-06-20"))
        #expect(book.open("INV-2").minor == 2500)
        let change = try book.post(script.cancellation(of: first))
        #expect(change.released.map(\.debitID) == ["INV-1"])
        #expect(
            change.made.first
                == Allocation(
                    creditID: "CAN-INV-1", debitID: "INV-1", amount: try script.eur("30.00"), reason: .closesItem))
        #expect(change.made.dropFirst().map(\.debitID) == ["INV-2"])
        #expect(book.open("INV-1").minor == 0)
        #expect(book.open("INV-2").minor == 0)
        #expect(book.available("PAY-1").minor == 500)
        #expect(book.balance.minor == -500)
    }

    @Test("a reversed payment re-opens the invoices it paid")
    func reversal() throws {
        var script = AccountScript()
        var book = AllocationBook(currency: .eur, principle: .fifo)
        _ = try book.post(script.invoice("INV-1", "30.00", due: "2026-06-10"))
        _ = try book.post(script.invoice("INV-2", "25.00", due: "2026-06-20"))
        let payment = try script.payment("PAY-1", "55.00")
        _ = try book.post(payment)
        #expect(book.openDebitTotal.minor == 0)
        let change = try book.post(script.reversal(of: payment))
        #expect(Set(change.released.map(\.debitID)) == ["INV-1", "INV-2"])
        #expect(
            change.made == [
                Allocation(
                    creditID: "PAY-1", debitID: "REV-PAY-1", amount: try script.eur("55.00"), reason: .closesItem)
            ])
        #expect(book.open("INV-1").minor == 3000)
        #expect(book.open("INV-2").minor == 2500)
        #expect(book.balance.minor == 5500)
    }

    @Test("items in another currency, posted twice, or closing something absent are refused")
    func refusals() throws {
        var script = AccountScript()
        var book = AllocationBook(currency: .eur, principle: .fifo)
        let invoice = try script.invoice("INV-1", "30.00", due: "2026-06-10")
        _ = try book.post(invoice)
        #expect(throws: DomainError.self) { try book.post(invoice) }
        #expect(throws: DomainError.self) {
            try book.post(
                LedgerItem(
                    id: "USD-1", side: .credit, amount: Money(minor: 1, currency: .usd),
                    postedOn: LocalDate.parse("2026-05-01"), sequence: 9))
        }
        #expect(throws: DomainError.self) {
            try book.post(
                LedgerItem(
                    id: "CAN-X", side: .credit, amount: script.eur("1.00"), postedOn: LocalDate.parse("2026-05-01"),
                    sequence: 10, closes: "INV-404"))
        }
        #expect(throws: DomainError.self) {
            try LedgerItem(
                id: "ZERO", side: .credit, amount: script.eur("0.00"), postedOn: LocalDate.parse("2026-05-01"),
                sequence: 11)
        }
    }
}
