import BillingDomain
import PropertyBased
import Testing

/// Worked by hand: every amount below is price × quantity × days ÷ period days, rounded half-up once.
@Suite("subscription periods, proration and re-rating")
struct SubscriptionRatingTests {
    func date(_ text: String) throws -> LocalDate { try LocalDate.parse(text) }
    func eur(_ minor: Int64) -> Money { Money(minor: minor, currency: .eur) }

    func plan(
        _ code: String = "BASIC", period: BillingPeriod = .monthly, timing: BillingTiming = .inAdvance,
        prices: [(String, Int64)] = [("2026-01-01", 3000)]
    ) throws -> Plan {
        try Plan(
            code: code, name: "Basic", currency: .eur, period: period, timing: timing,
            taxRatePercent: DecimalNumber(units: 20), product: "internet",
            prices: try prices.map { PlanPrice(effectiveOn: try date($0.0), price: eur($0.1)) })
    }

    func subscription(
        _ start: String, plan: String = "BASIC", quantity: Int64 = 1, end: String? = nil, prepaid: Bool = false
    ) throws -> Subscription {
        try Subscription(
            id: "S1", account: "A-1", start: date(start), end: end.map { try date($0) }, prepaid: prepaid,
            terms: [SubscriptionTerm(from: date(start), planCode: plan, quantity: quantity)])
    }

    /// Every period due for the run, and what it owes now given what was charged and credited.
    func rate(
        _ subscription: Subscription, _ plan: Plan, run: String, charged: [RatedSegment] = [],
        credited: [RatedSegment] = []
    ) throws -> (charges: [RatedSegment], credits: [RatedSegment]) {
        var charges: [RatedSegment] = []
        var credits: [RatedSegment] = []
        for period in SubscriptionRating.periods(
            of: subscription, period: plan.period, timing: plan.timing, runMonth: try DateSpan.month(run))
        {
            let owed = try SubscriptionRating.segments(of: subscription, in: period, plans: [plan.code: plan])
            let result = SubscriptionRating.adjustments(
                owed: owed, charged: charged.filter { $0.period == period }, credited: credited.filter { $0.period == period })
            charges += result.charges
            credits += result.credits
        }
        return (charges, credits)
    }

    @Test("calendar periods: March is a month, Q2 April–June, 2028 a year of 366 days")
    func periods() throws {
        #expect(BillingPeriod.monthly.span(containing: try date("2026-03-17")).description == "2026-03-01 – 2026-03-31")
        #expect(BillingPeriod.quarterly.span(containing: try date("2026-05-02")).description == "2026-04-01 – 2026-06-30")
        #expect(BillingPeriod.yearly.span(containing: try date("2028-07-01")).days == 366)
        #expect(try DateSpan.month("2026-02").days == 28)
        #expect(throws: DomainError.self) { try DateSpan.month("2026-13") }
        #expect(throws: DomainError.self) { try DateSpan.month("2026-3") }
    }

    @Test("starting 10 March, 2 units at 30.00 a month: March is 22 of 31 days, 21.29 a unit, 51.10 with 20 % tax")
    func firstPeriodProrated() throws {
        let plan = try plan()
        let result = try rate(try subscription("2026-03-10", quantity: 2), plan, run: "2026-03")
        #expect(result.credits.isEmpty)
        let segment = try #require(result.charges.first)
        #expect(result.charges.count == 1)
        #expect(segment.days.days == 22)
        #expect(try segment.unitPrice() == eur(2129))
        let amounts = try segment.line(plan: plan).amounts()
        #expect(amounts.net == eur(4258))
        #expect(amounts.tax == eur(852))
        #expect(amounts.total == eur(5110))
        #expect(try segment.line(plan: plan).description == "Basic, 2026-03-10 – 2026-03-31 (22 of 31 days)")
    }

    @Test("the April run bills April whole and nothing again for March, once March is charged")
    func nextPeriodWhole() throws {
        let plan = try plan()
        let subscription = try subscription("2026-03-10", quantity: 2)
        let march = try rate(subscription, plan, run: "2026-03").charges
        let april = try rate(subscription, plan, run: "2026-04", charged: march)
        #expect(april.credits.isEmpty)
        #expect(april.charges.count == 1)
        #expect(april.charges[0].isWholePeriod)
        #expect(try april.charges[0].line(plan: plan).amounts().net == eur(6000))
    }

    @Test("2 → 3 units from 16 April after April was billed: 30.00 credited for two units, 45.00 charged for three")
    func quantityChangeMidPeriod() throws {
        let plan = try plan()
        var subscription = try subscription("2026-04-01", quantity: 2)
        let billed = try rate(subscription, plan, run: "2026-04").charges
        try subscription.change(on: date("2026-04-16"), planCode: nil, quantity: 3)
        let result = try rate(subscription, plan, run: "2026-04", charged: billed)
        #expect(result.credits.count == 1)
        #expect(result.charges.count == 1)
        let credit = result.credits[0]
        #expect(credit.days.description == "2026-04-16 – 2026-04-30")
        #expect(credit.quantity == 2)
        #expect(try credit.line(plan: plan).amounts().net == eur(3000))
        #expect(result.charges[0].quantity == 3)
        #expect(try result.charges[0].line(plan: plan).amounts().net == eur(4500))
        // Once those are stored, rating again finds nothing to do.
        let again = try rate(
            subscription, plan, run: "2026-04", charged: billed + result.charges, credited: result.credits)
        #expect(again.charges.isEmpty && again.credits.isEmpty)
    }

    @Test("2 → 1 → 2 units from 16 April: the second change charges two units again for 16-30 April, 30.00, and nets out")
    func changeAndBack() throws {
        let plan = try plan()
        var subscription = try subscription("2026-04-01", quantity: 2)
        var charged = try rate(subscription, plan, run: "2026-04").charges
        var credited: [RatedSegment] = []
        for quantity: Int64 in [1, 2] {
            try subscription.change(on: date("2026-04-16"), planCode: nil, quantity: quantity)
            let result = try rate(subscription, plan, run: "2026-04", charged: charged, credited: credited)
            charged += result.charges
            credited += result.credits
        }
        // Charged: April × 2 (60.00), 16-30 × 1 (15.00), 16-30 × 2 (30.00); credited: 16-30 × 2 (30.00), 16-30 × 1 (15.00).
        let net = try charged.map { try $0.line(plan: plan).amounts().net.minor }.reduce(0, +)
            - credited.map { try $0.line(plan: plan).amounts().net.minor }.reduce(0, +)
        #expect(net == 6000)
        let again = try rate(subscription, plan, run: "2026-04", charged: charged, credited: credited)
        #expect(again.charges.isEmpty && again.credits.isEmpty)
    }

    @Test("a plan change mid-period credits the old plan's days and charges the new one's at its price")
    func planChange() throws {
        let basic = try plan()
        let plus = try Plan(
            code: "PLUS", name: "Plus", currency: .eur, period: .monthly, timing: .inAdvance,
            taxRatePercent: DecimalNumber(units: 20), product: nil,
            prices: [PlanPrice(effectiveOn: try date("2026-01-01"), price: eur(4500))])
        let plans = ["BASIC": basic, "PLUS": plus]
        var subscription = try subscription("2026-04-01")
        let april = try DateSpan.month("2026-04")
        let billed = try SubscriptionRating.segments(of: subscription, in: april, plans: plans)
        try subscription.change(on: date("2026-04-21"), planCode: "PLUS", quantity: nil)
        let owed = try SubscriptionRating.segments(of: subscription, in: april, plans: plans)
        let result = SubscriptionRating.adjustments(owed: owed, charged: billed, credited: [])
        // 10 of 30 days: 30.00 × 10 / 30 = 10.00 back; 45.00 × 10 / 30 = 15.00 for Plus.
        #expect(try result.credits.map { try $0.unitPrice() } == [eur(1000)])
        #expect(try result.charges.map { try $0.unitPrice() } == [eur(1500)])
        #expect(result.charges.map(\.planCode) == ["PLUS"])
    }

    @Test("cancelled at once on 10 April after April was billed: 20 of 30 days, 20.00, credited")
    func cancelAtOnce() throws {
        let plan = try plan()
        var subscription = try subscription("2026-01-01")
        let billed = try rate(subscription, plan, run: "2026-04").charges
        try subscription.cancel(lastDay: date("2026-04-10"))
        let result = try rate(subscription, plan, run: "2026-04", charged: billed)
        #expect(result.charges.isEmpty)
        #expect(result.credits.map(\.days.description) == ["2026-04-11 – 2026-04-30"])
        #expect(try result.credits[0].unitPrice() == eur(2000))
        #expect(try rate(subscription, plan, run: "2026-05", charged: billed, credited: result.credits).charges.isEmpty)
    }

    @Test("cancelled at the period's end: nothing credited, and the next run bills nothing")
    func cancelAtPeriodEnd() throws {
        let plan = try plan()
        var subscription = try subscription("2026-01-01")
        let billed = try rate(subscription, plan, run: "2026-04").charges
        try subscription.cancel(lastDay: BillingPeriod.monthly.span(containing: date("2026-04-10")).last)
        let april = try rate(subscription, plan, run: "2026-04", charged: billed)
        #expect(april.charges.isEmpty && april.credits.isEmpty)
        #expect(try rate(subscription, plan, run: "2026-05", charged: billed).charges.isEmpty)
    }

    @Test("quarterly in arrears from 15 February: nothing in the March run; the April run bills 45 of 90 days, 45.00")
    func inArrears() throws {
        let plan = try plan(period: .quarterly, timing: .inArrears, prices: [("2026-01-01", 9000)])
        let subscription = try subscription("2026-02-15")
        #expect(try rate(subscription, plan, run: "2026-03").charges.isEmpty)
        let april = try rate(subscription, plan, run: "2026-04").charges
        #expect(april.map(\.days.description) == ["2026-02-15 – 2026-03-31"])
        #expect(try april[0].unitPrice() == eur(4500))
    }

    @Test("in advance, the April run bills a quarter that starts in April, whole")
    func inAdvanceQuarter() throws {
        let plan = try plan(period: .quarterly, prices: [("2026-01-01", 9000)])
        let subscription = try subscription("2026-04-01")
        #expect(try rate(subscription, plan, run: "2026-03").charges.isEmpty)
        let april = try rate(subscription, plan, run: "2026-04").charges
        #expect(april.map(\.period.description) == ["2026-04-01 – 2026-06-30"])
        #expect(try april[0].unitPrice() == eur(9000))
    }

    @Test("a price of 36.00 from 16 March: March is 15 days at 30.00 (14.52) and 16 days at 36.00 (18.58)")
    func priceVersions() throws {
        let plan = try plan(prices: [("2026-01-01", 3000), ("2026-03-16", 3600)])
        let march = try rate(try subscription("2026-01-01"), plan, run: "2026-03").charges.filter {
            $0.period.first == (try? LocalDate.parse("2026-03-01"))
        }
        #expect(try march.map { try $0.unitPrice() } == [eur(1452), eur(1858)])
        #expect(plan.price(on: try date("2026-03-15")) == eur(3000))
        #expect(plan.price(on: try date("2026-03-16")) == eur(3600))
        #expect(plan.price(on: try date("2025-12-31")) == nil)
    }

    @Test("a prepaid subscription is never billed")
    func prepaid() throws {
        let result = try rate(try subscription("2026-01-01", prepaid: true), try plan(), run: "2026-04")
        #expect(result.charges.isEmpty && result.credits.isEmpty)
    }

    @Test("refused: a plan without price, in another currency or with a bad code; a change on an inactive day")
    func refusals() throws {
        #expect(throws: DomainError.self) {
            try Plan(
                code: "X", name: "X", currency: .eur, period: .monthly, timing: .inAdvance,
                taxRatePercent: DecimalNumber(units: 0), product: nil, prices: [])
        }
        #expect(throws: DomainError.currencyMismatch(.eur, try Currency(code: "USD"))) {
            try Plan(
                code: "X", name: "X", currency: .eur, period: .monthly, timing: .inAdvance,
                taxRatePercent: DecimalNumber(units: 0), product: nil,
                prices: [PlanPrice(effectiveOn: try LocalDate.parse("2026-01-01"), price: Money(minor: 1, currency: try Currency(code: "USD")))])
        }
        #expect(!Plan.isValidCode("has space"))
        var subscription = try subscription("2026-04-01", end: "2026-04-30")
        #expect(throws: DomainError.self) { try subscription.change(on: date("2026-05-02"), planCode: nil, quantity: 2) }
        #expect(throws: DomainError.self) { try subscription.cancel(lastDay: date("2026-05-15")) }
    }

    /// Random changes to one subscription, each followed by a run: after every run, what was
    /// charged less what was credited covers each owed day exactly once at the owed price, and
    /// rating again finds nothing to do.
    @Test("after any sequence of changes and runs, billed equals owed and a second rating changes nothing")
    func reRatingConverges() async {
        let step = PropertyBased.zip(Gen.int(in: 0...2), Gen.int(in: 0...120), Gen.int64(in: 1...4))
        await propertyCheck(count: 200, input: step.array(of: 1...8)) { steps in
            do {
                let plan = try plan(prices: [("2026-01-01", 3000), ("2026-05-10", 3300)])
                var subscription = try subscription("2026-01-20", quantity: 2)
                var charged: [RatedSegment] = []
                var credited: [RatedSegment] = []
                let first = try date("2026-01-20")
                for (kind, offset, quantity) in steps {
                    let day = first.addingDays(offset)
                    switch kind {
                    case 0: try? subscription.change(on: day, planCode: nil, quantity: quantity)
                    case 1: try? subscription.cancel(lastDay: day)
                    default: break
                    }
                    let run = DateSpan.monthlyRun(containing: day)
                    let result = try rate(subscription, plan, run: run, charged: charged, credited: credited)
                    charged += result.charges
                    credited += result.credits
                    let again = try rate(subscription, plan, run: run, charged: charged, credited: credited)
                    #expect(again.charges.isEmpty && again.credits.isEmpty)
                    // Day by day: net quantity billed equals the quantity owed.
                    for period in SubscriptionRating.periods(
                        of: subscription, period: .monthly, timing: .inAdvance, runMonth: try DateSpan.month(run))
                    {
                        let owed = try SubscriptionRating.segments(of: subscription, in: period, plans: ["BASIC": plan])
                        for dayIndex in 0..<period.days {
                            let d = period.first.addingDays(dayIndex)
                            let owedQuantity = owed.filter { $0.days.contains(d) }.reduce(0) { $0 + $1.quantity }
                            let net = charged.filter { $0.days.contains(d) }.reduce(0) { $0 + $1.quantity }
                                - credited.filter { $0.days.contains(d) }.reduce(0) { $0 + $1.quantity }
                            #expect(net == owedQuantity, "day \(d)")
                        }
                    }
                }
            } catch {
                Issue.record("\(error)")
            }
        }
    }
}

extension DateSpan {
    /// `YYYY-MM` of the month holding `date`.
    fileprivate static func monthlyRun(containing date: LocalDate) -> String {
        BillingPeriod.monthly.span(containing: date).monthText
    }
}
