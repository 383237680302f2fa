/// A discount on an invoice line.
public enum Discount: Sendable, Hashable {
    /// A percentage (0–100) of what remains of the line when it applies.
    case percentage(DecimalNumber)
    /// A fixed amount off the line.
    case fixed(Money)
}

/// One line of an invoice or credit note: what was sold, how many, at what price, with which
/// discounts and tax rate. Every amount of the line is derived (`amounts`), never typed in.
///
/// Order of calculation, per line, each step rounded once by the document's rounding rule:
/// 1. gross = unit price × quantity;
/// 2. discounts in the order given, each on what remains after the earlier ones: a percentage
///    takes that share of the remainder, a fixed amount takes itself; together they may not
///    exceed the gross;
/// 3. net = gross − discounts;
/// 4. tax = net × tax rate / 100;
/// 5. total = net + tax.
public struct InvoiceLine: Sendable, Hashable {
    public let description: String
    public let quantity: DecimalNumber
    public let unitPrice: Money
    public let taxRatePercent: DecimalNumber
    public let discounts: [Discount]

    public init(
        description: String, quantity: DecimalNumber, unitPrice: Money, taxRatePercent: DecimalNumber,
        discounts: [Discount] = []
    ) throws(DomainError) {
        guard !description.trimmingSpaces().isEmpty else { throw .invalidLine("the description is empty") }
        guard description.count <= 500 else { throw .invalidLine("the description is longer than 500 characters") }
        guard quantity.units > 0 else { throw .invalidLine("quantity \(quantity) must be greater than zero") }
        guard !unitPrice.isNegative else { throw .invalidLine("unit price \(unitPrice.decimalText) is negative") }
        guard taxRatePercent.isPercentage
        else { throw .invalidLine("tax rate \(taxRatePercent)% must be between 0 and 100") }
        for discount in discounts {
            switch discount {
            case .percentage(let percent):
                guard percent.isPercentage
                else { throw .invalidLine("discount \(percent)% must be between 0 and 100") }
            case .fixed(let amount):
                guard amount.currency == unitPrice.currency else {
                    throw .invalidLine("discount is in \(amount.currency.code), the line in \(unitPrice.currency.code)")
                }
                guard !amount.isNegative else { throw .invalidLine("discount \(amount.decimalText) is negative") }
            }
        }
        self.description = description
        self.quantity = quantity
        self.unitPrice = unitPrice
        self.taxRatePercent = taxRatePercent
        self.discounts = discounts
    }

    public var currency: Currency { unitPrice.currency }

    public func amounts(rounding: RoundingRule = .halfUp) throws(DomainError) -> LineAmounts {
        let gross = try unitPrice.multiplied(by: quantity, rounding: rounding)
        var remaining = gross
        for discount in discounts {
            let taken: Money
            switch discount {
            case .percentage(let percent): taken = try remaining.percentage(percent, rounding: rounding)
            case .fixed(let amount): taken = amount
            }
            remaining = try remaining.subtracting(taken)
            guard !remaining.isNegative else {
                throw .invalidLine("discounts of \"\(description)\" exceed its amount \(gross.decimalText)")
            }
        }
        let net = remaining
        let tax = try net.percentage(taxRatePercent, rounding: rounding)
        return LineAmounts(
            gross: gross, discount: try gross.subtracting(net), net: net, tax: tax, total: try net.adding(tax))
    }
}

/// A line's derived amounts.
public struct LineAmounts: Sendable, Hashable {
    public let gross: Money
    public let discount: Money
    /// After discounts, before tax.
    public let net: Money
    public let tax: Money
    public let total: Money
}

/// A document's totals: sums of its lines' values, nothing typed in twice.
public struct DocumentTotals: Sendable, Hashable {
    public let net: Money
    public let discount: Money
    public let tax: Money
    public let total: Money

    public init(lines: [LineAmounts], currency: Currency) throws(DomainError) {
        net = try Money.sum(lines.map(\.net), currency: currency)
        discount = try Money.sum(lines.map(\.discount), currency: currency)
        tax = try Money.sum(lines.map(\.tax), currency: currency)
        total = try Money.sum(lines.map(\.total), currency: currency)
    }
}

extension Discount {
    /// A discount as senders write it: `15%` (a percentage of what remains of the line) or `20.00`
    /// (a fixed amount in `currency`).
    public static func parse(_ text: String, currency: Currency) throws(DomainError) -> Discount {
        let trimmed = text.trimmingSpaces()
        if trimmed.hasSuffix("%") {
            return .percentage(try DecimalNumber.parse(String(trimmed.dropLast()).trimmingSpaces()))
        }
        return .fixed(try Money.parse(trimmed, currency: currency))
    }

    /// The form `parse` reads: `15%` or `20.00`.
    public var text: String {
        switch self {
        case .percentage(let percent): return "\(percent)%"
        case .fixed(let amount): return amount.decimalText
        }
    }
}

extension InvoiceLine {
    /// A line from the text fields senders write: quantity and tax rate as decimal text, the unit
    /// price and fixed discounts as amounts in `currency`, percentage discounts as `15%`.
    public init(
        description: String, quantity: String, unitPrice: String, taxRatePercent: String, discounts: [String],
        currency: Currency
    ) throws(DomainError) {
        var parsed: [Discount] = []
        for discount in discounts { parsed.append(try Discount.parse(discount, currency: currency)) }
        try self.init(
            description: description, quantity: try DecimalNumber.parse(quantity.trimmingSpaces()),
            unitPrice: try Money.parse(unitPrice.trimmingSpaces(), currency: currency),
            taxRatePercent: try DecimalNumber.parse(taxRatePercent.trimmingSpaces()), discounts: parsed)
    }
}
