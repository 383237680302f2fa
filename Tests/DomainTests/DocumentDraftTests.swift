import BillingDomain
import Testing

@Suite("documents from draft to posted")
struct DocumentDraftTests {
    func eur(_ text: String) throws -> Money { try Money.parse(text, currency: .eur) }

    func account(_ state: AccountState = .active, rule: String = "days:10,proximity:-5") throws -> Account {
        try Account(number: "A-1001", name: "Acme", currency: .eur, state: state, creditRule: CreditRule.parse(rule))
    }

    func line(_ price: String = "100.00") throws -> InvoiceLine {
        try InvoiceLine(
            description: "Course", quantity: DecimalNumber.parse("1"), unitPrice: eur(price),
            taxRatePercent: DecimalNumber.parse("20"), discounts: [.percentage(DecimalNumber.parse("15"))])
    }

    @Test("posting fixes the number, posting date and the due date from the account's rule")
    func post() throws {
        let account = try account()
        var draft = try DocumentDraft(
            id: "d1", kind: .invoice, account: account, reference: "REF-1", lines: [line()],
            issuedOn: LocalDate.parse("2026-05-20"))
        #expect(try draft.totals.total.decimalText == "102.00")
        try draft.post(
            number: DocumentNumber(prefix: "INV", year: 2026, sequence: 7), postedOn: LocalDate.parse("2026-05-20"),
            rule: account.creditRule)
        #expect(draft.state == .posted)
        #expect(draft.number?.description == "INV-2026-000007")
        #expect(draft.dueOn == (try LocalDate.parse("2026-05-25")))
        #expect(throws: DomainError.self) { try draft.replaceLines([try line("1.00")]) }
        #expect(throws: DomainError.self) { try draft.reject(category: .other, reason: "late") }
    }

    @Test("a due date given by hand is validated when posting, and a refusal leaves the draft a draft")
    func dueDateRefused() throws {
        let account = try account(rule: "days:10")
        var draft = try DocumentDraft(
            id: "d1", kind: .invoice, account: account, reference: "REF-1", lines: [line()],
            issuedOn: LocalDate.parse("2026-06-20"), requestedDueOn: LocalDate.parse("2026-07-20"))
        do {
            try draft.post(
                number: DocumentNumber(prefix: "INV", year: 2026, sequence: 1), postedOn: LocalDate.parse("2026-06-20"),
                rule: account.creditRule)
            Issue.record("expected a refusal")
        } catch {
            #expect(
                "\(error)"
                    == "due date 2026-07-20 is after the latest allowed 2026-06-30 for rule 'at most 10 days after posting'"
            )
        }
        #expect(draft.state == .draft)
        #expect(draft.number == nil)
    }

    @Test("rules: no document for a terminated account, at least one line, lines in the account's currency")
    func rules() throws {
        #expect(throws: DomainError.self) {
            try DocumentDraft(
                id: "d", kind: .invoice, account: account(.terminated), reference: "R", lines: [line()],
                issuedOn: LocalDate.parse("2026-05-20"))
        }
        #expect(throws: DomainError.invalidDocument("a document needs at least one line")) {
            try DocumentDraft(
                id: "d", kind: .invoice, account: account(), reference: "R", lines: [],
                issuedOn: LocalDate.parse("2026-05-20"))
        }
        let dollars = try InvoiceLine(
            description: "x", quantity: DecimalNumber.parse("1"), unitPrice: Money(minor: 100, currency: .usd),
            taxRatePercent: DecimalNumber.parse("0"))
        #expect(throws: DomainError.self) {
            try DocumentDraft(
                id: "d", kind: .invoice, account: account(), reference: "R", lines: [dollars],
                issuedOn: LocalDate.parse("2026-05-20"))
        }
        #expect(throws: DomainError.self) {
            try DocumentDraft(
                id: "d", kind: .payment, account: account(), reference: "R", lines: [line()],
                issuedOn: LocalDate.parse("2026-05-20"))
        }
    }

    @Test("a rejected draft records its category and reason and changes no more")
    func reject() throws {
        var draft = try DocumentDraft(
            id: "d", kind: .creditNote, account: account(), reference: "R", lines: [line()],
            issuedOn: LocalDate.parse("2026-05-20"))
        try draft.reject(category: .wrongAmount, reason: "price list changed")
        #expect(draft.state == .rejected)
        #expect(draft.rejection?.category == .wrongAmount)
        #expect(throws: DomainError.self) {
            try draft.post(
                number: DocumentNumber(prefix: "CN", year: 2026, sequence: 1), postedOn: LocalDate.parse("2026-05-20"),
                rule: CreditRule.parse("days:1"))
        }
    }

    @Test("the posting check gives the due date without a number, and drafts change only as drafts")
    func postingCheckAndChanges() throws {
        let account = try account()
        var draft = try DocumentDraft(
            id: "d2", kind: .invoice, account: account, reference: "REF-2", lines: [line()],
            issuedOn: LocalDate.parse("2026-05-20"))
        #expect(
            try draft.dueDateForPosting(on: LocalDate.parse("2026-05-20"), rule: account.creditRule)
                == LocalDate.parse("2026-05-25"))
        #expect(throws: DomainError.self) {
            try draft.dueDateForPosting(on: LocalDate.parse("2026-05-19"), rule: account.creditRule)
        }
        try draft.setBackOfficeCode("BO-7")
        try draft.setNotes("thanks")
        #expect(throws: DomainError.self) { try draft.setBackOfficeCode("") }
        #expect(draft.state == .draft && draft.number == nil, "the check takes no number and posts nothing")
        try draft.post(
            number: DocumentNumber(prefix: "INV", year: 2026, sequence: 1), postedOn: LocalDate.parse("2026-05-20"),
            rule: account.creditRule)
        #expect(draft.backOfficeCode == "BO-7" && draft.notes == "thanks")
        #expect(throws: DomainError.self) { try draft.setNotes("later") }
    }
}
