/// An amount of money: a whole number of minor units (cents, fils, yen) in one currency.
///
/// Never a floating-point value, anywhere: parsing, arithmetic and formatting work on integers,
/// overflow is an error, and amounts of different currencies never combine.
public struct Money: Sendable, Hashable, CustomStringConvertible {
    public let minor: Int64
    public let currency: Currency

    public init(minor: Int64, currency: Currency) {
        self.minor = minor
        self.currency = currency
    }

    public static func zero(_ currency: Currency) -> Money { Money(minor: 0, currency: currency) }

    public var isZero: Bool { minor == 0 }
    public var isPositive: Bool { minor > 0 }
    public var isNegative: Bool { minor < 0 }

    /// Parses decimal text in `currency` ("89.25", "50000", "12.5", "-0.30", "1 234,56" with
    /// `.european`). More decimals than the currency has are refused unless they are zeros;
    /// nothing is rounded.
    public static func parse(_ text: String, currency: Currency, format: AmountFormat = .plain) throws(DomainError)
        -> Money
    {
        let number = try DecimalNumber.parse(text, format: format, tooLarge: .amountOutOfRange(text)) { problem in
            .invalidAmount(text: text, problem: problem)
        }
        let significant = number.trimmingTrailingZeros()
        guard significant.scale <= currency.exponent else {
            throw .tooManyDecimals(text: text, decimals: significant.scale, currency: currency)
        }
        guard let minor = significant.units(atScale: currency.exponent) else { throw .amountOutOfRange(text) }
        return Money(minor: minor, currency: currency)
    }

    /// Decimal text with exactly the currency's decimals, e.g. `89.25`, `-0.30`, `50000` (JPY).
    public var decimalText: String {
        DecimalNumber(units: minor, scale: currency.exponent).fixedText
    }

    public var description: String { "\(decimalText) \(currency.code)" }

    public func adding(_ other: Money) throws(DomainError) -> Money {
        try requireSameCurrency(other)
        let (sum, overflow) = minor.addingReportingOverflow(other.minor)
        guard !overflow else { throw .overflow("\(self) + \(other)") }
        return Money(minor: sum, currency: currency)
    }

    public func subtracting(_ other: Money) throws(DomainError) -> Money {
        try requireSameCurrency(other)
        let (difference, overflow) = minor.subtractingReportingOverflow(other.minor)
        guard !overflow else { throw .overflow("\(self) - \(other)") }
        return Money(minor: difference, currency: currency)
    }

    public func negated() throws(DomainError) -> Money {
        guard minor != Int64.min else { throw .overflow("-(\(self))") }
        return Money(minor: -minor, currency: currency)
    }

    /// Sum of `amounts`, all in `currency`.
    public static func sum<S: Sequence>(_ amounts: S, currency: Currency) throws(DomainError) -> Money
    where S.Element == Money {
        var total = Money.zero(currency)
        for amount in amounts { total = try total.adding(amount) }
        return total
    }

    /// This amount times a decimal factor (a quantity or a percentage already divided), rounded once.
    public func multiplied(by factor: DecimalNumber, rounding: RoundingRule) throws(DomainError) -> Money {
        let product = Int128(minor) * Int128(factor.units)
        let rounded = rounding.divide(product, by: DecimalNumber.powerOfTen(factor.scale))
        guard let value = Int64(exactly: rounded) else { throw .overflow("\(self) × \(factor)") }
        return Money(minor: value, currency: currency)
    }

    /// `percent` per cent of this amount, rounded once (e.g. tax at 20, a 15 % discount).
    public func percentage(_ percent: DecimalNumber, rounding: RoundingRule) throws(DomainError) -> Money {
        let product = Int128(minor) * Int128(percent.units)
        let rounded = rounding.divide(product, by: DecimalNumber.powerOfTen(percent.scale) * 100)
        guard let value = Int64(exactly: rounded) else { throw .overflow("\(percent)% of \(self)") }
        return Money(minor: value, currency: currency)
    }

    private func requireSameCurrency(_ other: Money) throws(DomainError) {
        guard other.currency == currency else { throw .currencyMismatch(currency, other.currency) }
    }
}

/// How amount text is written: the decimal separator and the characters allowed to group digits.
public struct AmountFormat: Sendable, Hashable {
    public let decimalSeparator: Character
    public let groupingSeparators: Set<Character>

    public init(decimalSeparator: Character, groupingSeparators: Set<Character>) {
        self.decimalSeparator = decimalSeparator
        self.groupingSeparators = groupingSeparators
    }

    /// `1234.56`: what machines write (ISO 20022, JSON, the command line).
    public static let plain = AmountFormat(decimalSeparator: ".", groupingSeparators: [])
    /// `1 234,56` or `1.234,56`: decimal comma, spaces (also no-break) or dots between groups.
    public static let european = AmountFormat(decimalSeparator: ",", groupingSeparators: [" ", "\u{00A0}", "."])
    /// `1234,56` as MT940 writes amounts: decimal comma, no grouping.
    public static let swift = AmountFormat(decimalSeparator: ",", groupingSeparators: [])
}

/// How a value that falls between two minor units is rounded. Applied explicitly, once per line value.
public enum RoundingRule: String, Sendable, Hashable, Codable {
    /// Halves away from zero: 0.125 → 0.13, -0.125 → -0.13 (the default for tax and discounts).
    case halfUp = "half-up"
    /// Halves to the even neighbour ("banker's rounding"): 0.125 → 0.12, 0.135 → 0.14.
    case halfEven = "half-even"

    /// `numerator / denominator` rounded to a whole number by this rule; `denominator` > 0.
    public func divide(_ numerator: Int128, by denominator: Int128) -> Int128 {
        precondition(denominator > 0, "rounding divides by a positive number")
        let quotient = numerator / denominator
        let remainder = numerator % denominator
        if remainder == 0 { return quotient }
        let twiceRemainder = (remainder < 0 ? -remainder : remainder) * 2
        let awayFromZero: Bool
        if twiceRemainder > denominator {
            awayFromZero = true
        } else if twiceRemainder < denominator {
            awayFromZero = false
        } else {
            awayFromZero = self == .halfUp || quotient % 2 != 0
        }
        guard awayFromZero else { return quotient }
        return numerator < 0 ? quotient - 1 : quotient + 1
    }
}
