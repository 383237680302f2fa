/// Days from `first` to `last`, both included.
public struct DateSpan: Sendable, Hashable, Codable, CustomStringConvertible {
    public let first: LocalDate
    public let last: LocalDate

    public init(first: LocalDate, last: LocalDate) throws(DomainError) {
        guard first <= last else { throw .invalidDocument("the span \(first) – \(last) ends before it starts") }
        self.first = first
        self.last = last
    }

    /// `first` ≤ `last`, known to the caller.
    init(unchecked first: LocalDate, _ last: LocalDate) {
        self.first = first
        self.last = last
    }

    public var days: Int { first.days(until: last) + 1 }

    public func contains(_ date: LocalDate) -> Bool { first <= date && date <= last }

    /// The days both spans hold, if any.
    public func intersection(_ other: DateSpan) -> DateSpan? {
        let start = max(first, other.first)
        let end = min(last, other.last)
        return start <= end ? DateSpan(unchecked: start, end) : nil
    }

    /// The calendar month `YYYY-MM`, as a billing run names its period.
    public static func month(_ text: String) throws(DomainError) -> DateSpan {
        let first: LocalDate
        do {
            first = try LocalDate.parse(text + "-01")
        } catch {
            throw .invalidDate("'\(text)' is not a month like 2026-03")
        }
        guard text.utf8.count == 7 else { throw .invalidDate("'\(text)' is not a month like 2026-03") }
        return DateSpan(unchecked: first, first.addingMonths(1).addingDays(-1))
    }

    /// `YYYY-MM` of the first day.
    public var monthText: String { String(first.description.prefix(7)) }

    public var description: String { first == last ? "\(first)" : "\(first) – \(last)" }
}

/// How often a plan bills. Periods are whole calendar months aligned to the calendar: a monthly
/// period is a month, a quarterly one January–March, April–June and so on, a yearly one a year. A
/// subscription that starts or ends inside a period is charged for its days in it (prorated by day).
public enum BillingPeriod: String, Sendable, Hashable, Codable, CaseIterable {
    case monthly, quarterly, yearly

    public var months: Int {
        switch self {
        case .monthly: return 1
        case .quarterly: return 3
        case .yearly: return 12
        }
    }

    /// The period that holds `date`.
    public func span(containing date: LocalDate) -> DateSpan {
        let first = date.dayOfMonth(1, monthsLater: -((date.month - 1) % months))
        return DateSpan(unchecked: first, first.addingMonths(months).addingDays(-1))
    }
}

/// Whether a period is invoiced when it starts (in advance) or once it is over (in arrears).
public enum BillingTiming: String, Sendable, Hashable, Codable {
    case inAdvance = "in-advance"
    case inArrears = "in-arrears"
}

/// A plan's price per period from `effectiveOn` until the next version's date.
public struct PlanPrice: Sendable, Hashable {
    public let effectiveOn: LocalDate
    public let price: Money

    public init(effectiveOn: LocalDate, price: Money) {
        self.effectiveOn = effectiveOn
        self.price = price
    }
}

/// A program a client can be enrolled in: what one unit costs per period, how it is billed and taxed.
public struct Plan: Sendable, Hashable {
    public let code: String
    public let name: String
    public let currency: Currency
    public let period: BillingPeriod
    public let timing: BillingTiming
    public let taxRatePercent: DecimalNumber
    public let product: String?
    /// Oldest first; never empty.
    public let prices: [PlanPrice]

    public init(
        code: String, name: String, currency: Currency, period: BillingPeriod, timing: BillingTiming,
        taxRatePercent: DecimalNumber, product: String?, prices: [PlanPrice]
    ) throws(DomainError) {
        guard Plan.isValidCode(code) else {
            throw .invalidDocument("plan code '\(code)' must be 1-40 letters, digits, '-', '_' or '.'")
        }
        guard !name.trimmingSpaces().isEmpty, name.count <= 200 else {
            throw .invalidDocument("plan name must be 1-200 characters")
        }
        guard !prices.isEmpty else { throw .invalidDocument("plan \(code) has no price") }
        for price in prices {
            guard price.price.currency == currency else { throw .currencyMismatch(currency, price.price.currency) }
            guard !price.price.isNegative else {
                throw .invalidAmount(text: price.price.decimalText, problem: "a plan's price cannot be negative")
            }
        }
        guard taxRatePercent.isPercentage
        else { throw .invalidLine("tax rate \(taxRatePercent)% must be between 0 and 100") }
        let sorted = prices.sorted { $0.effectiveOn < $1.effectiveOn }
        guard Set(sorted.map(\.effectiveOn)).count == sorted.count else {
            throw .invalidDocument("plan \(code) has two prices effective on the same day")
        }
        self.code = code
        self.name = name
        self.currency = currency
        self.period = period
        self.timing = timing
        self.taxRatePercent = taxRatePercent
        self.product = product
        self.prices = sorted
    }

    public static func isValidCode(_ code: String) -> Bool {
        !code.isEmpty && code.utf8.count <= 40
            && code.utf8.allSatisfy { byte in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-")
                    || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
            }
    }

    /// The price in force on `date`, nil before the first version.
    public func price(on date: LocalDate) -> Money? {
        prices.last { $0.effectiveOn <= date }?.price
    }

    /// The days from which the price changes inside `span` (after its first day).
    func priceChanges(within span: DateSpan) -> [LocalDate] {
        prices.map(\.effectiveOn).filter { $0 > span.first && $0 <= span.last }
    }
}

/// From `from` on (until the next term), the subscription is to `planCode` for `quantity` units.
public struct SubscriptionTerm: Sendable, Hashable, Codable {
    public let from: LocalDate
    public let planCode: String
    public let quantity: Int64

    public init(from: LocalDate, planCode: String, quantity: Int64) throws(DomainError) {
        guard quantity > 0, quantity <= 1_000_000 else {
            throw .invalidQuantity(text: String(quantity), problem: "a subscription's quantity is 1 to 1000000")
        }
        self.from = from
        self.planCode = planCode
        self.quantity = quantity
    }
}

/// An account's enrolment in a plan: from `start` (the first day of service) to `end` (the last
/// day of service, included) when it has one. A change of plan or quantity is a new term from its
/// day on. A prepaid subscription is paid outside billing and never billed.
public struct Subscription: Sendable, Hashable {
    public let id: String
    public let account: String
    public let start: LocalDate
    public private(set) var end: LocalDate?
    public let prepaid: Bool
    /// Oldest first; the first starts on `start`.
    public private(set) var terms: [SubscriptionTerm]

    public init(
        id: String, account: String, start: LocalDate, end: LocalDate?, prepaid: Bool, terms: [SubscriptionTerm]
    ) throws(DomainError) {
        guard let first = terms.first, first.from == start else {
            throw .invalidDocument("subscription \(id): its first term must start on \(start)")
        }
        if let end, end < start {
            throw .invalidDocument("subscription \(id) would end on \(end), before it starts on \(start)")
        }
        for (earlier, later) in zip(terms, terms.dropFirst()) where later.from <= earlier.from {
            throw .invalidDocument("subscription \(id): terms are not in date order")
        }
        self.id = id
        self.account = account
        self.start = start
        self.end = end
        self.prepaid = prepaid
        self.terms = terms
    }

    /// Days of service, `start` through `end` (or without end).
    public func isActive(on date: LocalDate) -> Bool { start <= date && end.map { date <= $0 } ?? true }

    /// The term in force on `date`.
    public func term(on date: LocalDate) -> SubscriptionTerm? {
        guard isActive(on: date) else { return nil }
        return terms.last { $0.from <= date }
    }

    /// A new plan or quantity from `date` on (that day included); later terms are replaced.
    public mutating func change(on date: LocalDate, planCode: String?, quantity: Int64?) throws(DomainError) {
        guard let current = term(on: date) else {
            throw .invalidDocument("subscription \(id) is not active on \(date)")
        }
        guard planCode != nil || quantity != nil else {
            throw .invalidDocument("a change names a new plan or a new quantity")
        }
        let next = try SubscriptionTerm(
            from: date, planCode: planCode ?? current.planCode, quantity: quantity ?? current.quantity)
        guard next != current || date != current.from else {
            throw .invalidDocument("subscription \(id) is already to \(next.planCode) × \(next.quantity) on \(date)")
        }
        terms.removeAll { $0.from >= date }
        terms.append(next)
    }

    /// Service ends on `date` (its last day). `date` before the start ends it before its first day.
    public mutating func cancel(lastDay date: LocalDate) throws(DomainError) {
        guard date >= start.addingDays(-1) else {
            throw .invalidDocument("subscription \(id) starts on \(start); it cannot end on \(date)")
        }
        if let end, date > end {
            throw .invalidDocument("subscription \(id) already ends on \(end)")
        }
        end = date
        terms.removeAll { $0.from > date && $0.from != start }
    }
}
