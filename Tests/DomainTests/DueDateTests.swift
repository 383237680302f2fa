import BillingDomain
import Testing

@Suite("due dates from credit rules")
struct DueDateTests {
    func date(_ text: String) throws -> LocalDate { try LocalDate.parse(text) }

    @Test("rule 'the 15th day, 1 month after': posted 20 May is due 15 June")
    func nthDay() throws {
        let rule = try CreditRule.parse("day:15,months:1")
        #expect(try rule.dueDate(postedOn: date("2026-05-20"), requested: nil) == date("2026-06-15"))
        #expect(try rule.dueDate(postedOn: date("2026-05-20"), requested: date("2026-06-01")) == date("2026-06-01"))
        #expect(
            throws: DomainError.dueDateTooLate(
                due: try date("2026-06-16"), latest: try date("2026-06-15"), rule: rule.description)
        ) {
            try rule.dueDate(postedOn: date("2026-05-20"), requested: date("2026-06-16"))
        }
    }

    @Test("rule '10 days after': posted 20 May is due 30 May")
    func daysAfter() throws {
        let rule = try CreditRule.parse("days:10")
        #expect(try rule.dueDate(postedOn: date("2026-05-20"), requested: nil) == date("2026-05-30"))
        #expect(throws: DomainError.dueDateBeforePosting(due: try date("2026-05-19"), posted: try date("2026-05-20"))) {
            try rule.dueDate(postedOn: date("2026-05-20"), requested: date("2026-05-19"))
        }
    }

    @Test("rule 'at most 10 days after, proximity -5' accepts 25-30 May and fills 25 May when empty")
    func proximity() throws {
        let rule = try CreditRule.parse("days:10,proximity:-5")
        let posted = try date("2026-05-20")
        #expect(try rule.dueDate(postedOn: posted, requested: nil) == date("2026-05-25"))
        for day in 25...30 {
            let wanted = try LocalDate(year: 2026, month: 5, day: day)
            #expect(try rule.dueDate(postedOn: posted, requested: wanted) == wanted)
        }
        #expect(
            throws: DomainError.dueDateTooEarly(
                due: try date("2026-05-24"), earliest: try date("2026-05-25"), rule: rule.description)
        ) {
            try rule.dueDate(postedOn: posted, requested: date("2026-05-24"))
        }
        #expect(
            throws: DomainError.dueDateTooLate(
                due: try date("2026-05-31"), latest: try date("2026-05-30"), rule: rule.description)
        ) {
            try rule.dueDate(postedOn: posted, requested: date("2026-05-31"))
        }
    }

    @Test("the refusal quotes the rule and the limit in words")
    func refusalText() throws {
        let rule = try CreditRule.parse("days:10")
        do {
            _ = try rule.dueDate(postedOn: date("2026-06-20"), requested: date("2026-07-20"))
            Issue.record("expected a refusal")
        } catch {
            #expect(
                "\(error)"
                    == "due date 2026-07-20 is after the latest allowed 2026-06-30 for rule 'at most 10 days after posting'"
            )
        }
    }

    @Test("month ends clamp: the 31st one month after 31 January is the last day of February")
    func monthEnds() throws {
        let rule = try CreditRule.parse("day:31,months:1")
        #expect(try rule.dueDate(postedOn: date("2026-01-31"), requested: nil) == date("2026-02-28"))
        #expect(try rule.dueDate(postedOn: date("2028-01-31"), requested: nil) == date("2028-02-29"))
        #expect(try rule.dueDate(postedOn: date("2026-03-31"), requested: nil) == date("2026-04-30"))
        #expect(try rule.dueDate(postedOn: date("2026-12-15"), requested: nil) == date("2027-01-31"))
        #expect(try date("2026-01-31").addingMonths(1) == date("2026-02-28"))
        #expect(try date("2024-02-29").addingMonths(12) == date("2025-02-28"))
    }

    @Test("leap years: 29 February exists in 2024 and 2000, not in 2026 or 1900")
    func leapYears() throws {
        #expect(try date("2024-02-28").addingDays(1) == date("2024-02-29"))
        #expect(try date("2026-02-28").addingDays(1) == date("2026-03-01"))
        #expect(try date("2000-02-29").description == "2000-02-29")
        #expect(throws: DomainError.self) { try date("1900-02-29") }
        #expect(throws: DomainError.self) { try date("2026-02-29") }
        #expect(
            try CreditRule.parse("days:365").dueDate(postedOn: date("2024-01-01"), requested: nil) == date("2024-12-31")
        )
    }

    @Test("dates survive a round trip through days since the epoch")
    func epochRoundTrip() throws {
        for days in stride(from: -719_162, through: 2_932_896, by: 997) {  // 0001-01-01 ... 9999-12-31
            let date = LocalDate(daysSinceEpoch: days)
            #expect(date.daysSinceEpoch == days)
            #expect(try LocalDate.parse(date.description) == date)
        }
        #expect(try date("1970-01-01").daysSinceEpoch == 0)
        #expect(try date("0001-01-01").daysSinceEpoch == -719_162)
        #expect(try date("9999-12-31").daysSinceEpoch == 2_932_896)
    }

    @Test("malformed rules are refused with what is wrong")
    func badRules() {
        for bad in ["", "day:32,months:1", "days:-1", "days:10,proximity:5", "weeks:2", "day:15,days:10", "days:ten"] {
            #expect(throws: DomainError.self, "'\(bad)'") { try CreditRule.parse(bad) }
        }
        #expect((try? CreditRule.parse("days:10,proximity:-5"))?.specification == "days:10,proximity:-5")
    }
}

@Suite("calendar dates as text")
struct LocalDateTextTests {
    @Test("YYYY-MM-DD round-trips; anything else is refused as an invalid date")
    func parsing() throws {
        for text in ["2026-05-20", "2024-02-29", "0001-01-01", "9999-12-31"] {
            #expect(try LocalDate.parse(text).description == text)
        }
        for text in [
            "", "2026-5-20", "2026-05-2", "20260520", "2026/05/20", "2026-05-20 ", " 2026-05-20", "2025-02-29",
            "2026-13-01", "2026-00-10", "2026-04-31", "+026-05-20", "2026-05-2x", "２０２６-05-20", "2026-05-20T00",
        ] {
            #expect(throws: DomainError.invalidDate(text), "\(text)") { try LocalDate.parse(text) }
        }
    }
}
