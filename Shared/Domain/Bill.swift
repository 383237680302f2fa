/// How a bill stands against the billing definitions (seed 002, "Classifying Bills").
public enum BillClassification: String, Sendable, Hashable, Codable, CaseIterable {
    /// Neither too high nor too low.
    case normal
    /// The client is in credit by at least the definitions' maximum credit amount.
    case maxCreditAmountReached = "max_credit_amount_reached"
    /// What the client owes reached the account's credit limit, or the definitions' share of it.
    case maxCreditLimitReached = "max_credit_limit_reached"
}

/// The billing definitions' assembly settings that classify bills.
public struct BillingDefinitions: Sendable, Hashable {
    /// A bill whose total to be paid is this much in the client's favour, or more, is
    /// `maxCreditAmountReached`. Nil: never.
    public let maxCreditAmountMinor: Int64?
    /// The share of the account's credit limit at which a bill is `maxCreditLimitReached`
    /// (100: the limit itself).
    public let creditLimitPercent: DecimalNumber

    public init(maxCreditAmountMinor: Int64?, creditLimitPercent: DecimalNumber = DecimalNumber(units: 100))
        throws(DomainError)
    {
        if let maxCreditAmountMinor, maxCreditAmountMinor <= 0 {
            throw .invalidAmount(text: String(maxCreditAmountMinor), problem: "the maximum credit amount must be above zero")
        }
        guard creditLimitPercent.units > 0, creditLimitPercent.isPercentage
        else {
            throw .invalidAmount(text: "\(creditLimitPercent)", problem: "the share of the credit limit is 0 to 100 %")
        }
        self.maxCreditAmountMinor = maxCreditAmountMinor
        self.creditLimitPercent = creditLimitPercent
    }

    public static let standard = BillingDefinitions(unchecked: nil, DecimalNumber(units: 100))

    private init(unchecked maxCreditAmountMinor: Int64?, _ creditLimitPercent: DecimalNumber) {
        self.maxCreditAmountMinor = maxCreditAmountMinor
        self.creditLimitPercent = creditLimitPercent
    }
}

/// A bill's sums (seed 002): what this period billed, what the last bill asked for, what came in
/// since, and what the client owes now, earlier unsettled debt included.
public struct BillTotals: Sendable, Hashable {
    /// The period's invoices less its credit notes, those the system made.
    public let totalBilled: Money
    /// The last bill's total to be paid (zero for the first bill).
    public let previousBalance: Money
    /// Payments and credits posted since the last bill.
    public let paymentsAndCredits: Money
    /// Everything else that moved the balance since the last bill: invoices and debits made by hand.
    public let otherDebits: Money
    /// previous balance − payments and credits + other debits + total billed.
    public let totalToPay: Money

    public init(
        totalBilled: Money, previousBalance: Money, paymentsAndCredits: Money, otherDebits: Money
    ) throws(DomainError) {
        self.totalBilled = totalBilled
        self.previousBalance = previousBalance
        self.paymentsAndCredits = paymentsAndCredits
        self.otherDebits = otherDebits
        self.totalToPay = try previousBalance.subtracting(paymentsAndCredits).adding(otherDebits).adding(totalBilled)
    }

    /// The classification of a bill asking for `totalToPay` from an account with `creditLimit`.
    public func classification(creditLimit: Money?, definitions: BillingDefinitions) throws(DomainError)
        -> BillClassification
    {
        if let maximum = definitions.maxCreditAmountMinor, totalToPay.minor <= -maximum {
            return .maxCreditAmountReached
        }
        if let creditLimit, creditLimit.isPositive {
            let threshold = try creditLimit.percentage(definitions.creditLimitPercent, rounding: .halfUp)
            if totalToPay.minor >= threshold.minor { return .maxCreditLimitReached }
        }
        return .normal
    }
}
