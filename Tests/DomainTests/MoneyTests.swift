import BillingDomain
import Testing

@Suite("money")
struct MoneyTests {
    @Test(
        "decimal text parses to exact minor units",
        arguments: [
            ("89.25", "EUR", Int64(8925)), ("50000", "EUR", 5_000_000), ("12.5", "EUR", 1250), ("-0.30", "EUR", -30),
            ("+7", "EUR", 700), ("50000", "JPY", 50000), ("1.234", "BHD", 1234), ("12.500", "EUR", 1250),
            ("0", "USD", 0), ("92233720368547758.07", "EUR", Int64.max),
        ] as [(String, String, Int64)])
    func parses(text: String, code: String, minor: Int64) throws {
        let currency = try Currency(code: code)
        #expect(try Money.parse(text, currency: currency).minor == minor)
    }

    @Test("grouped European text parses with its format")
    func european() throws {
        #expect(try Money.parse("1 234,56", currency: .eur, format: .european).minor == 123_456)
        #expect(try Money.parse("1.234.567,8", currency: .eur, format: .european).minor == 123_456_780)
        #expect(try Money.parse("1\u{00A0}000", currency: .eur, format: .european).minor == 100_000)
        #expect(try Money.parse("0,3", currency: .eur, format: .swift).minor == 30)
    }

    @Test("too many decimals are refused in an operator's words, never rounded")
    func tooManyDecimals() {
        #expect(throws: DomainError.tooManyDecimals(text: "12.345", decimals: 3, currency: .eur)) {
            try Money.parse("12.345", currency: .eur)
        }
        #expect((try? Money.parse("12.345", currency: .eur)) == nil)
        #expect(
            DomainError.tooManyDecimals(text: "12.345", decimals: 3, currency: .eur).description
                == "amount 12.345 has 3 decimals, EUR allows 2")
        #expect(throws: DomainError.tooManyDecimals(text: "1.5", decimals: 1, currency: .jpy)) {
            try Money.parse("1.5", currency: .jpy)
        }
    }

    @Test("malformed, overflowing and unknown-currency input is refused with a reason")
    func refusals() {
        #expect(throws: DomainError.amountOutOfRange("92233720368547758.08")) {
            try Money.parse("92233720368547758.08", currency: .eur)
        }
        #expect(throws: DomainError.amountOutOfRange("99999999999999999999")) {
            try Money.parse("99999999999999999999", currency: .eur)
        }
        for bad in ["", "  ", "12,50", "1.2.3", "abc", "-", "1e5", "١٢"] {
            #expect(throws: DomainError.self, "'\(bad)'") { try Money.parse(bad, currency: .eur) }
        }
        #expect(throws: DomainError.unknownCurrency("XYZ")) { try Currency(code: "XYZ") }
    }

    @Test("formatting writes exactly the currency's decimals")
    func formatting() throws {
        #expect(Money(minor: 8925, currency: .eur).decimalText == "89.25")
        #expect(Money(minor: -30, currency: .eur).decimalText == "-0.30")
        #expect(Money(minor: 5, currency: .eur).decimalText == "0.05")
        #expect(Money(minor: 50000, currency: .jpy).decimalText == "50000")
        #expect(Money(minor: 1234, currency: .bhd).decimalText == "1.234")
        #expect(Money(minor: Int64.min, currency: .eur).decimalText == "-92233720368547758.08")
    }

    @Test("arithmetic refuses mixed currencies and overflow")
    func arithmetic() throws {
        let eur = Money(minor: 100, currency: .eur)
        #expect(try eur.adding(Money(minor: 50, currency: .eur)).minor == 150)
        #expect(throws: DomainError.currencyMismatch(.eur, .usd)) { try eur.adding(Money(minor: 1, currency: .usd)) }
        #expect(throws: DomainError.self) { try Money(minor: Int64.max, currency: .eur).adding(eur) }
        #expect(throws: DomainError.self) { try Money(minor: Int64.min, currency: .eur).negated() }
    }

    @Test("rounding is explicit: half-up rounds halves away from zero, half-even to the even neighbour")
    func rounding() {
        #expect(RoundingRule.halfUp.divide(125, by: 10) == 13)
        #expect(RoundingRule.halfUp.divide(-125, by: 10) == -13)
        #expect(RoundingRule.halfEven.divide(125, by: 10) == 12)
        #expect(RoundingRule.halfEven.divide(135, by: 10) == 14)
        #expect(RoundingRule.halfEven.divide(-125, by: 10) == -12)
        #expect(RoundingRule.halfUp.divide(124, by: 10) == 12)
        #expect(RoundingRule.halfUp.divide(126, by: 10) == 13)
        #expect(RoundingRule.halfUp.divide(120, by: 10) == 12)
    }

    @Test("percentages and quantities multiply exactly and round once")
    func products() throws {
        let price = Money(minor: 4999, currency: .eur)
        #expect(try price.multiplied(by: DecimalNumber.parse("1.5"), rounding: .halfUp).minor == 7499)  // 74.985
        #expect(try price.multiplied(by: DecimalNumber.parse("1.5"), rounding: .halfEven).minor == 7498)
        #expect(
            try Money(minor: 1999, currency: .eur).percentage(DecimalNumber.parse("7.7"), rounding: .halfUp).minor
                == 154)  // 153.923
        #expect(throws: DomainError.self) {
            try Money(minor: Int64.max, currency: .eur).multiplied(by: DecimalNumber.parse("2"), rounding: .halfUp)
        }
    }

    @Test("decimal quantities and rates keep their exact value and minimal text")
    func decimals() throws {
        #expect(try DecimalNumber.parse("1.50").description == "1.5")
        #expect(try DecimalNumber.parse("20").description == "20")
        #expect(try DecimalNumber.parse("0.125").units == 125)
        #expect(try DecimalNumber.parse("-0.25").description == "-0.25")
        #expect(throws: DomainError.self) { try DecimalNumber.parse("1.2345678901") }
        #expect(throws: DomainError.self) { try DecimalNumber.parse("one") }
    }
}
