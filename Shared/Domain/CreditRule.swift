/// How an account's invoices fall due: "the nth day, X months after the posting date" or
/// "X days after the posting date", with an optional proximity range (a negative number of days).
///
/// The rule's date is the latest allowed due date. With a proximity range P the earliest allowed is
/// that date + P, and an empty due date is filled with the earliest; without one, any date from the
/// posting date up to the rule's date is accepted and an empty due date gets the rule's date.
public struct CreditRule: Sendable, Hashable, CustomStringConvertible {
    public enum Period: Sendable, Hashable {
        /// Day `day` (1–31, clamped to the month's length) of the month `monthsAfter` months after posting.
        case dayOfMonth(day: Int, monthsAfter: Int)
        /// `days` days after posting.
        case daysAfter(Int)
    }

    public let period: Period
    /// Days (≤ 0) before the rule's date that are still allowed; nil for none.
    public let proximityDays: Int?

    public init(period: Period, proximityDays: Int? = nil) throws(DomainError) {
        switch period {
        case .dayOfMonth(let day, let months):
            guard (1...31).contains(day) else { throw .invalidCreditRule("day must be 1 to 31, got \(day)") }
            guard (0...120).contains(months) else { throw .invalidCreditRule("months must be 0 to 120, got \(months)") }
        case .daysAfter(let days):
            guard (0...3_650).contains(days) else { throw .invalidCreditRule("days must be 0 to 3650, got \(days)") }
        }
        if let proximityDays, !(-3_650...0).contains(proximityDays) {
            throw .invalidCreditRule("proximity must be zero or a negative number of days, got \(proximityDays)")
        }
        self.period = period
        self.proximityDays = proximityDays
    }

    /// Parses `day:15,months:1`, `days:10` or `days:10,proximity:-5`.
    public static func parse(_ text: String) throws(DomainError) -> CreditRule {
        var fields: [String: Int] = [:]
        for part in text.split(separator: ",") {
            let pair = part.split(separator: ":", maxSplits: 1).map { String($0).trimmingSpaces() }
            guard pair.count == 2, let value = Int(pair[1]) else {
                throw .invalidCreditRule("'\(part)' is not name:number")
            }
            guard ["day", "months", "days", "proximity"].contains(pair[0]) else {
                throw .invalidCreditRule("unknown field '\(pair[0])' (use day, months, days, proximity)")
            }
            guard fields[pair[0]] == nil else { throw .invalidCreditRule("'\(pair[0])' is given twice") }
            fields[pair[0]] = value
        }
        let proximity = fields["proximity"]
        if let day = fields["day"] {
            guard fields["days"] == nil else { throw .invalidCreditRule("give either day and months, or days") }
            return try CreditRule(
                period: .dayOfMonth(day: day, monthsAfter: fields["months"] ?? 0), proximityDays: proximity)
        }
        if let days = fields["days"] {
            guard fields["months"] == nil else { throw .invalidCreditRule("months goes with day, not with days") }
            return try CreditRule(period: .daysAfter(days), proximityDays: proximity)
        }
        throw .invalidCreditRule("'\(text)' names neither day nor days")
    }

    /// The machine form accepted by `parse`.
    public var specification: String {
        var text: String
        switch period {
        case .dayOfMonth(let day, let months): text = "day:\(day),months:\(months)"
        case .daysAfter(let days): text = "days:\(days)"
        }
        if let proximityDays { text += ",proximity:\(proximityDays)" }
        return text
    }

    /// In words, as refusals quote it: "at most 10 days after posting".
    public var description: String {
        switch period {
        case .dayOfMonth(let day, let months):
            let ordinal = Self.ordinal(day)
            let monthsText = months == 1 ? "1 month" : "\(months) months"
            let base = "the \(ordinal) day, \(monthsText) after posting"
            return proximityDays.map { "\(base), up to \(-$0) days earlier" } ?? base
        case .daysAfter(let days):
            let base = "at most \(days) days after posting"
            return proximityDays.map { "\(base), at least \(days + $0) days after" } ?? base
        }
    }

    public func latestDueDate(postedOn posted: LocalDate) -> LocalDate {
        switch period {
        case .dayOfMonth(let day, let months): return posted.dayOfMonth(day, monthsLater: months)
        case .daysAfter(let days): return posted.addingDays(days)
        }
    }

    public func earliestDueDate(postedOn posted: LocalDate) -> LocalDate {
        guard let proximityDays else { return posted }
        return max(posted, latestDueDate(postedOn: posted).addingDays(proximityDays))
    }

    /// The due date for a document posted on `posted`: `requested` when the rule allows it, else a
    /// refusal that names the limit; computed when `requested` is nil.
    public func dueDate(postedOn posted: LocalDate, requested: LocalDate?) throws(DomainError) -> LocalDate {
        let latest = latestDueDate(postedOn: posted)
        let earliest = earliestDueDate(postedOn: posted)
        guard let requested else { return proximityDays == nil ? latest : earliest }
        guard requested >= posted else { throw .dueDateBeforePosting(due: requested, posted: posted) }
        guard requested <= latest else { throw .dueDateTooLate(due: requested, latest: latest, rule: description) }
        guard requested >= earliest else {
            throw .dueDateTooEarly(due: requested, earliest: earliest, rule: description)
        }
        return requested
    }

    private static func ordinal(_ number: Int) -> String {
        let suffix: String
        switch (number % 10, number % 100) {
        case (_, 11...13): suffix = "th"
        case (1, _): suffix = "st"
        case (2, _): suffix = "nd"
        case (3, _): suffix = "rd"
        default: suffix = "th"
        }
        return "\(number)\(suffix)"
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces.
    public func trimmingSpaces() -> String {
        var start = startIndex
        var end = endIndex
        while start < end, self[start] == " " { start = index(after: start) }
        while end > start, self[index(before: end)] == " " { end = index(before: end) }
        return String(self[start..<end])
    }
}
