/// One stretch of a subscription's period at one plan, quantity and price: the unit a billing run
/// charges or credits (the seeds' rated billing item for a subscription).
///
/// Its amount is the period's price × quantity × its days / the period's days, rounded half-up
/// once: a whole period costs exactly price × quantity; 22 days of a 31-day month at 30.00 cost
/// 21.29 per unit.
public struct RatedSegment: Sendable, Hashable, Codable {
    public let subscriptionID: String
    public let period: DateSpan
    public let days: DateSpan
    public let planCode: String
    public let quantity: Int64
    /// The plan's price for a whole period, in minor units of `currency`.
    public let periodPriceMinor: Int64
    public let currency: Currency

    public init(
        subscriptionID: String, period: DateSpan, days: DateSpan, planCode: String, quantity: Int64,
        periodPrice: Money
    ) {
        self.subscriptionID = subscriptionID
        self.period = period
        self.days = days
        self.planCode = planCode
        self.quantity = quantity
        self.periodPriceMinor = periodPrice.minor
        self.currency = periodPrice.currency
    }

    public var periodPrice: Money { Money(minor: periodPriceMinor, currency: currency) }

    public var isWholePeriod: Bool { days == period }

    /// The price of one unit for these days (the line's unit price), rounded half-up once.
    public func unitPrice() throws(DomainError) -> Money {
        if isWholePeriod { return periodPrice }
        let rounded = RoundingRule.halfUp.divide(
            Int128(periodPriceMinor) * Int128(days.days), by: Int128(period.days))
        guard let minor = Int64(exactly: rounded) else { throw .overflow("\(periodPrice) × \(days.days) days") }
        return Money(minor: minor, currency: currency)
    }

    /// What bills the same way: the same plan, quantity and price.
    func isBilledAlike(_ other: RatedSegment) -> Bool {
        planCode == other.planCode && quantity == other.quantity && periodPriceMinor == other.periodPriceMinor
            && currency == other.currency
    }

    func with(days: DateSpan) -> RatedSegment {
        RatedSegment(
            subscriptionID: subscriptionID, period: period, days: days, planCode: planCode, quantity: quantity,
            periodPrice: periodPrice)
    }

    /// The invoice line: the plan's name, the days when they are not the whole period.
    public func line(plan: Plan) throws(DomainError) -> InvoiceLine {
        let what = isWholePeriod ? "\(period)" : "\(days) (\(days.days) of \(period.days) days)"
        return try InvoiceLine(
            description: "\(plan.name), \(what)", quantity: DecimalNumber(units: quantity),
            unitPrice: try unitPrice(), taxRatePercent: plan.taxRatePercent)
    }
}

/// What a subscription owes, period by period, and what changes once billed periods change.
public enum SubscriptionRating {
    /// The periods a billing run for `runMonth` looks at: in advance, every period of the
    /// subscription that starts by the run month's last day; in arrears, every period over before
    /// the run month begins. Periods end at the subscription's end; none before its start. Periods
    /// before `from` (already billed and unchanged since) are left out.
    public static func periods(
        of subscription: Subscription, period: BillingPeriod, timing: BillingTiming, runMonth: DateSpan,
        from: LocalDate? = nil
    ) -> [DateSpan] {
        guard !subscription.prepaid else { return [] }
        let horizon: LocalDate
        switch timing {
        case .inAdvance: horizon = runMonth.last
        case .inArrears: horizon = runMonth.first.addingDays(-1)
        }
        var result: [DateSpan] = []
        var current = period.span(containing: max(subscription.start, from ?? subscription.start))
        while true {
            let due = timing == .inAdvance ? current.first <= horizon : current.last <= horizon
            guard due else { break }
            if let end = subscription.end, current.first > end { break }
            result.append(current)
            current = period.span(containing: current.last.addingDays(1))
        }
        return result
    }

    /// What the subscription owes for `period`: one segment per stretch of days with one term
    /// and one price, within its start and end.
    public static func segments(
        of subscription: Subscription, in period: DateSpan, plans: [String: Plan]
    ) throws(DomainError) -> [RatedSegment] {
        guard !subscription.prepaid else { return [] }
        let serviceEnd = subscription.end ?? period.last
        guard subscription.start <= period.last, serviceEnd >= period.first, subscription.start <= serviceEnd else {
            return []
        }
        let active = DateSpan(unchecked: max(period.first, subscription.start), min(period.last, serviceEnd))
        var segments: [RatedSegment] = []
        for (index, term) in subscription.terms.enumerated() {
            let termLast = index + 1 < subscription.terms.count
                ? subscription.terms[index + 1].from.addingDays(-1) : active.last
            guard term.from <= termLast, let termDays = DateSpan(unchecked: term.from, termLast).intersection(active)
            else { continue }
            guard let plan = plans[term.planCode] else {
                throw .invalidDocument("subscription \(subscription.id): plan \(term.planCode) is unknown")
            }
            var cuts = [termDays.first] + plan.priceChanges(within: termDays)
            cuts.append(termDays.last.addingDays(1))
            for (first, next) in zip(cuts, cuts.dropFirst()) {
                guard let price = plan.price(on: first) else {
                    throw .invalidDocument("plan \(plan.code) has no price on \(first)")
                }
                segments.append(
                    RatedSegment(
                        subscriptionID: subscription.id, period: period,
                        days: DateSpan(unchecked: first, next.addingDays(-1)), planCode: plan.code,
                        quantity: term.quantity, periodPrice: price))
            }
        }
        return segments
    }

    /// What to charge and credit for one period, given what it should cost now (`owed`) and what
    /// was charged and credited for it before. Days billed alike (same plan, quantity and price)
    /// stay as they are; days billed that are no longer owed, or owed otherwise, are credited at
    /// the price they were billed at; days owed and not billed alike are charged.
    public static func adjustments(
        owed: [RatedSegment], charged: [RatedSegment], credited: [RatedSegment]
    ) -> (charges: [RatedSegment], credits: [RatedSegment]) {
        let billed = net(charged, less: credited)
        var charges: [RatedSegment] = []
        var credits: [RatedSegment] = []
        for segment in billed {
            let alike = owed.filter { $0.isBilledAlike(segment) }.map(\.days)
            credits += subtract(alike, from: segment.days).map { segment.with(days: $0) }
        }
        for segment in owed {
            let alike = billed.filter { $0.isBilledAlike(segment) }.map(\.days)
            charges += subtract(alike, from: segment.days).map { segment.with(days: $0) }
        }
        return (charges, credits)
    }

    /// What stands billed: per kind of billing (plan, quantity, price), each day counts its
    /// charges less its credits, and the days left are joined back into segments. A day charged
    /// twice and credited once stands once, whatever order the segments came in.
    static func net(_ charged: [RatedSegment], less credited: [RatedSegment]) -> [RatedSegment] {
        var kinds: [RatedSegment] = []
        var counts: [[Int: Int]] = []
        func add(_ segment: RatedSegment, _ sign: Int) {
            let index: Int
            if let found = kinds.firstIndex(where: { $0.isBilledAlike(segment) && $0.period == segment.period }) {
                index = found
            } else {
                kinds.append(segment)
                counts.append([:])
                index = kinds.count - 1
            }
            let first = segment.days.first.daysSinceEpoch
            for day in first..<(first + segment.days.days) { counts[index][day, default: 0] += sign }
        }
        for segment in charged { add(segment, 1) }
        for segment in credited { add(segment, -1) }
        var result: [RatedSegment] = []
        for (kind, days) in zip(kinds, counts) {
            let top = days.values.max() ?? 0
            guard top > 0 else { continue }
            let sorted = days.keys.sorted()
            for level in 1...top {
                var open: (first: Int, last: Int)?
                func close() {
                    guard let open else { return }
                    result.append(
                        kind.with(
                            days: DateSpan(
                                unchecked: LocalDate(daysSinceEpoch: open.first), LocalDate(daysSinceEpoch: open.last))))
                }
                for day in sorted where (days[day] ?? 0) >= level {
                    if let current = open, day == current.last + 1 {
                        open = (current.first, day)
                    } else {
                        close()
                        open = (day, day)
                    }
                }
                close()
            }
        }
        return result
    }

    /// `span` without the days of `others`, as the stretches that are left, in date order.
    static func subtract(_ others: [DateSpan], from span: DateSpan) -> [DateSpan] {
        var left = [span]
        for other in others {
            left = left.flatMap { piece -> [DateSpan] in
                guard let overlap = piece.intersection(other) else { return [piece] }
                var parts: [DateSpan] = []
                if piece.first < overlap.first {
                    parts.append(DateSpan(unchecked: piece.first, overlap.first.addingDays(-1)))
                }
                if overlap.last < piece.last {
                    parts.append(DateSpan(unchecked: overlap.last.addingDays(1), piece.last))
                }
                return parts
            }
        }
        return left
    }
}
