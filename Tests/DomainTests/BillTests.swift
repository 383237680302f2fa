import BillingDomain
import Testing

@Suite("bill totals and classification")
struct BillTests {
    func eur(_ minor: Int64) -> Money { Money(minor: minor, currency: .eur) }

    @Test("previous 15.00, paid 15.00, billed 36.00: 36.00 to pay")
    func totals() throws {
        let totals = try BillTotals(
            totalBilled: eur(3600), previousBalance: eur(1500), paymentsAndCredits: eur(1500), otherDebits: eur(0))
        #expect(totals.totalToPay == eur(3600))
    }

    @Test("an unpaid 20.00 from last time and a 5.00 invoice by hand are in the total to pay: 61.00")
    func pastDebt() throws {
        let totals = try BillTotals(
            totalBilled: eur(3600), previousBalance: eur(2000), paymentsAndCredits: eur(0), otherDebits: eur(500))
        #expect(totals.totalToPay == eur(6100))
    }

    @Test("classification: normal; 50.00 in the client's favour with a 50.00 maximum; 80 % of a 100.00 limit")
    func classification() throws {
        let definitions = try BillingDefinitions(maxCreditAmountMinor: 5000, creditLimitPercent: DecimalNumber(units: 80))
        func classify(_ toPay: Int64, limit: Int64? = 10000) throws -> BillClassification {
            try BillTotals(totalBilled: eur(toPay), previousBalance: eur(0), paymentsAndCredits: eur(0), otherDebits: eur(0))
                .classification(creditLimit: limit.map(eur), definitions: definitions)
        }
        #expect(try classify(3600) == .normal)
        #expect(try classify(7999) == .normal)
        #expect(try classify(8000) == .maxCreditLimitReached)
        #expect(try classify(-4999) == .normal)
        #expect(try classify(-5000) == .maxCreditAmountReached)
        #expect(try classify(1_000_000, limit: nil) == .normal)
        #expect(try BillTotals(totalBilled: eur(10000), previousBalance: eur(0), paymentsAndCredits: eur(0), otherDebits: eur(0))
            .classification(creditLimit: eur(10000), definitions: .standard) == .maxCreditLimitReached)
        #expect(throws: DomainError.self) { try BillingDefinitions(maxCreditAmountMinor: 0) }
    }
}
