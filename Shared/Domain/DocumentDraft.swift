/// An invoice or credit note from creation to posting or rejection.
///
/// Created as a draft with a reference number; its totals are always derived from its lines.
/// Posting fixes the posting date, takes the legal number (from the gapless series, supplied by
/// the caller's transaction) and the due date (computed from, or validated against, the account's
/// credit rule). A rejected or posted document changes no more.
public struct DocumentDraft: Sendable {
    public let id: String
    public let kind: DocumentKind
    public let accountNumber: String
    public let currency: Currency
    public let reference: String
    public private(set) var state: DocumentState = .draft
    public private(set) var lines: [InvoiceLine]
    public let rounding: RoundingRule
    public let issuedOn: LocalDate
    public private(set) var requestedDueOn: LocalDate?
    public private(set) var number: DocumentNumber?
    public private(set) var postedOn: LocalDate?
    public private(set) var dueOn: LocalDate?
    public private(set) var backOfficeCode: String?
    public private(set) var notes: String?
    public private(set) var rejection: (category: RejectionCategory, reason: String)?

    public init(
        id: String, kind: DocumentKind, account: Account, reference: String, lines: [InvoiceLine], issuedOn: LocalDate,
        requestedDueOn: LocalDate? = nil, rounding: RoundingRule = .halfUp, backOfficeCode: String? = nil,
        notes: String? = nil
    ) throws(DomainError) {
        guard kind == .invoice || kind == .creditNote else {
            throw .invalidDocument("only invoices and credit notes are made from lines, not \(kind.rawValue)")
        }
        guard account.acceptsInvoices else {
            throw .invalidDocument("account \(account.number) is \(account.state.rawValue) and takes no new documents")
        }
        guard !reference.trimmingSpaces().isEmpty, reference.count <= 64 else {
            throw .invalidDocument("the reference must be 1 to 64 characters")
        }
        if let backOfficeCode, backOfficeCode.trimmingSpaces().isEmpty || backOfficeCode.count > 64 {
            throw .invalidDocument("a back-office code must be 1 to 64 characters")
        }
        self.id = id
        self.kind = kind
        self.accountNumber = account.number
        self.currency = account.currency
        self.reference = reference
        self.lines = []
        self.rounding = rounding
        self.issuedOn = issuedOn
        self.requestedDueOn = requestedDueOn
        self.backOfficeCode = backOfficeCode
        self.notes = notes
        try replaceLines(lines)
    }

    public var totals: DocumentTotals {
        get throws(DomainError) {
            try DocumentTotals(
                lines: try lines.map { line throws(DomainError) in try line.amounts(rounding: rounding) },
                currency: currency)
        }
    }

    /// Changes the lines of a draft; at least one, all in the document's currency.
    public mutating func replaceLines(_ newLines: [InvoiceLine]) throws(DomainError) {
        try requireDraft()
        guard !newLines.isEmpty else { throw .invalidDocument("a document needs at least one line") }
        for line in newLines where line.currency != currency {
            throw .invalidDocument(
                "line \"\(line.description)\" is in \(line.currency.code), the account in \(currency.code)")
        }
        _ = try DocumentTotals(
            lines: try newLines.map { line throws(DomainError) in try line.amounts(rounding: rounding) },
            currency: currency)
        lines = newLines
    }

    public mutating func setRequestedDueDate(_ date: LocalDate?) throws(DomainError) {
        try requireDraft()
        requestedDueOn = date
    }

    public mutating func setBackOfficeCode(_ code: String?) throws(DomainError) {
        try requireDraft()
        if let code, code.trimmingSpaces().isEmpty || code.count > 64 {
            throw .invalidDocument("a back-office code must be 1 to 64 characters")
        }
        backOfficeCode = code
    }

    public mutating func setNotes(_ text: String?) throws(DomainError) {
        try requireDraft()
        if let text, text.count > 2_000 { throw .invalidDocument("notes are longer than 2000 characters") }
        notes = text
    }

    /// The due date the draft would get if posted on `postedOn` under `rule`, or the refusal: the
    /// checks of `post` without the number (taken only once every check has passed).
    public func dueDateForPosting(on postedOn: LocalDate, rule: CreditRule) throws(DomainError) -> LocalDate {
        try requireDraft()
        guard postedOn >= issuedOn else {
            throw .invalidDocument("posting date \(postedOn) is before the issue date \(issuedOn)")
        }
        return try rule.dueDate(postedOn: postedOn, requested: requestedDueOn)
    }

    /// Posts the draft on `postedOn` with its legal `number`; the due date follows `rule`.
    public mutating func post(number: DocumentNumber, postedOn: LocalDate, rule: CreditRule) throws(DomainError) {
        try requireDraft()
        guard number.year == postedOn.year else {
            throw .invalidDocument(
                "number \(number) is from the \(number.year) series, the posting date is in \(postedOn.year)")
        }
        let due = try dueDateForPosting(on: postedOn, rule: rule)
        state = try state.transition(to: .posted)
        self.number = number
        self.postedOn = postedOn
        self.dueOn = due
    }

    public mutating func reject(category: RejectionCategory, reason: String) throws(DomainError) {
        try requireDraft()
        guard !reason.trimmingSpaces().isEmpty else { throw .invalidDocument("a rejection needs a reason") }
        state = try state.transition(to: .rejected)
        rejection = (category, reason)
    }

    private func requireDraft() throws(DomainError) {
        guard state == .draft else {
            throw .invalidDocument("document \(number?.description ?? reference) is \(state.rawValue)")
        }
    }
}
