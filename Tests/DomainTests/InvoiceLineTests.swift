import BillingDomain
import Testing

@Suite("invoice lines")
struct InvoiceLineTests {
    func money(_ text: String) throws -> Money { try Money.parse(text, currency: .eur) }
    func number(_ text: String) throws -> DecimalNumber { try DecimalNumber.parse(text) }

    /// Worked by hand (EUR, VAT 20 %, half-up per line value):
    ///
    /// Line 1: 3 × 33.33 = 99.99; 15 % of 99.99 = 14.9985 → 15.00; net 84.99;
    ///         VAT 20 % of 84.99 = 16.998 → 17.00; total 101.99.
    /// Line 2: 1.5 × 49.99 = 74.985 → 74.99; fixed discount 20.00; net 54.99;
    ///         VAT 20 % of 54.99 = 10.998 → 11.00; total 65.99.
    /// Invoice: net 84.99 + 54.99 = 139.98; discount 15.00 + 20.00 = 35.00;
    ///          VAT 17.00 + 11.00 = 28.00; total 101.99 + 65.99 = 167.98.
    @Test("two lines, a 15% discount and a fixed 20.00 discount, with VAT: totals to the cent")
    func workedExample() throws {
        let first = try InvoiceLine(
            description: "Card A", quantity: number("3"), unitPrice: money("33.33"), taxRatePercent: number("20"),
            discounts: [.percentage(number("15"))])
        let second = try InvoiceLine(
            description: "Card B", quantity: number("1.5"), unitPrice: money("49.99"), taxRatePercent: number("20"),
            discounts: [.fixed(money("20.00"))])
        let a = try first.amounts()
        #expect(
            [a.gross, a.discount, a.net, a.tax, a.total].map(\.decimalText) == [
                "99.99", "15.00", "84.99", "17.00", "101.99",
            ])
        let b = try second.amounts()
        #expect(
            [b.gross, b.discount, b.net, b.tax, b.total].map(\.decimalText) == [
                "74.99", "20.00", "54.99", "11.00", "65.99",
            ])
        let totals = try DocumentTotals(lines: [a, b], currency: .eur)
        #expect(
            [totals.net, totals.discount, totals.tax, totals.total].map(\.decimalText) == [
                "139.98", "35.00", "28.00", "167.98",
            ])
    }

    /// 1.5 × 120.00 = 180.00; 15 % = 27.00; net 153.00; VAT 20 % = 30.60; total 183.60.
    @Test("the contract's example line: 1.5 hours at 120.00 with 15% off and 20% tax")
    func contractExample() throws {
        let line = try InvoiceLine(
            description: "Consulting", quantity: number("1.5"), unitPrice: money("120.00"),
            taxRatePercent: number("20"),
            discounts: [.percentage(number("15"))])
        let amounts = try line.amounts()
        #expect(
            [amounts.discount.minor, amounts.net.minor, amounts.tax.minor, amounts.total.minor] == [
                2700, 15300, 3060, 18360,
            ])
    }

    /// Half-even: 1.5 × 49.99 = 74.985 → 74.98 (8 is even); VAT 20 % of 74.98 = 14.996 → 15.00.
    @Test("half-even rounding is available per document")
    func halfEven() throws {
        let line = try InvoiceLine(
            description: "Hours", quantity: number("1.5"), unitPrice: money("49.99"), taxRatePercent: number("20"))
        #expect(try line.amounts(rounding: .halfEven).gross.decimalText == "74.98")
        #expect(try line.amounts(rounding: .halfUp).gross.decimalText == "74.99")
        #expect(try line.amounts(rounding: .halfEven).tax.decimalText == "15.00")
    }

    /// 100.00, then 10 % → 90.00, then 5 % of 90.00 = 4.50 → 85.50, then 5.50 fixed → 80.00.
    @Test("discounts apply in the order given, each to what remains")
    func discountOrder() throws {
        let line = try InvoiceLine(
            description: "Bundle", quantity: number("1"), unitPrice: money("100.00"), taxRatePercent: number("0"),
            discounts: [.percentage(number("10")), .percentage(number("5")), .fixed(money("5.50"))])
        #expect(try line.amounts().net.decimalText == "80.00")
        #expect(try line.amounts().discount.decimalText == "20.00")
    }

    @Test("bad lines are refused with the reason")
    func refusals() throws {
        #expect(throws: DomainError.invalidLine("quantity -1 must be greater than zero")) {
            try InvoiceLine(
                description: "x", quantity: number("-1"), unitPrice: money("1.00"), taxRatePercent: number("0"))
        }
        #expect(throws: DomainError.self) {
            try InvoiceLine(
                description: " ", quantity: number("1"), unitPrice: money("1.00"), taxRatePercent: number("0"))
        }
        #expect(throws: DomainError.self) {
            try InvoiceLine(
                description: "x", quantity: number("1"), unitPrice: money("1.00"), taxRatePercent: number("101"))
        }
        #expect(throws: DomainError.self) {
            try InvoiceLine(
                description: "x", quantity: number("1"), unitPrice: money("1.00"), taxRatePercent: number("0"),
                discounts: [.fixed(Money(minor: 1, currency: .usd))])
        }
        let tooMuch = try InvoiceLine(
            description: "x", quantity: number("1"), unitPrice: money("10.00"), taxRatePercent: number("0"),
            discounts: [.fixed(money("10.01"))])
        #expect(throws: DomainError.self) { try tooMuch.amounts() }
    }
}

@Suite("lines and discounts as senders write them")
struct LineTextTests {
    @Test("a line from text: percentage and fixed discounts, decimal quantity and rate")
    func lineFromText() throws {
        let line = try InvoiceLine(
            description: "Course", quantity: "1.5", unitPrice: "120.00", taxRatePercent: "20",
            discounts: ["15%", " 2.00 "], currency: .eur)
        let amounts = try line.amounts()
        // 1.5 × 120.00 = 180.00; 15 % = 27.00; then 2.00 off; net 151.00; tax 30.20.
        #expect(
            [amounts.gross, amounts.discount, amounts.net, amounts.tax, amounts.total].map(\.decimalText) == [
                "180.00", "29.00", "151.00", "30.20", "181.20",
            ])
        #expect(line.discounts.map(\.text) == ["15%", "2.00"])
    }

    @Test("text that is not a number, a negative quantity or too many decimals is refused")
    func refusals() throws {
        #expect(throws: DomainError.self) {
            try InvoiceLine(
                description: "x", quantity: "one", unitPrice: "1.00", taxRatePercent: "0", discounts: [],
                currency: .eur)
        }
        #expect(throws: DomainError.self) {
            try InvoiceLine(
                description: "x", quantity: "-1", unitPrice: "1.00", taxRatePercent: "0", discounts: [],
                currency: .eur)
        }
        #expect(throws: DomainError.self) { try Discount.parse("1.005", currency: .eur) }
        #expect(throws: DomainError.self) { try Discount.parse("ten%", currency: .eur) }
        #expect(throws: DomainError.self) {
            try InvoiceLine(
                description: "x", quantity: "1", unitPrice: "1.00", taxRatePercent: "0", discounts: ["101%"],
                currency: .eur)
        }
    }
}
