import BillingContracts
import BillingDomain

/// What one batch of the invoicer's inputs does to the documents, decided in memory: no I/O.
///
/// The invoicer's storage fills in what the batch needs (earlier outcomes, the account copies, the
/// named documents with the lines of drafts, what credit notes have credited and any cancellation,
/// the references and back-office codes already taken, fresh draft references), then calls
/// `apply` for each input in order; it takes the legal numbers that `numberRequests` asks for
/// and hands them to `assignNumbers`, and writes the documents, lines, account copies and
/// outcomes this holds, and publishes `events()`.
public final class DocumentDecisions {
    public let today: LocalDate
    public let numbering: NumberingConfiguration
    /// Makes the id of a new document (a random UUID in the worker).
    let newID: () -> String

    public var accounts: [String: AccountCopy] = [:]
    public var documents: [String: DocumentRecord] = [:]
    /// id, reference and number → document id.
    public var names: [String: String] = [:]
    public var finishedCommands: Set<String> = []
    public var takenReferences: Set<String> = []
    /// Back-office code → the document id holding it.
    public var takenCodes: [String: String] = [:]
    /// Draft references reserved for the documents the batch makes without one, used in order.
    public var freshReferences: [String] = []
    public internal(set) var outcomes: [(outcome: CommandOutcome, requestedBy: String)] = []
    /// Documents posted in this batch, in posting order.
    public internal(set) var postings: [DocumentRecord] = []
    /// Outcomes (by index) that report a posted document's number once it is taken.
    var numberedOutcomes: [(index: Int, record: DocumentRecord)] = []

    public init(today: LocalDate, numbering: NumberingConfiguration, newID: @escaping () -> String) {
        self.today = today
        self.numbering = numbering
        self.newID = newID
    }

    /// Takes in a stored document and the names it is known by.
    public func add(_ record: DocumentRecord) {
        documents[record.id] = record
        names[record.id] = record.id
        names[record.reference] = record.id
        if let number = record.number { names[number] = record.id }
    }

    /// Applies one input: an account snapshot updates the copy; a command is carried out or
    /// refused (its outcome recorded), once per command id. Throws only for a snapshot that
    /// cannot be copied.
    public func apply(_ input: DocumentInput) throws {
        switch input {
        case .account(let snapshot): try copy(snapshot)
        case .command(let command): run(command)
        }
    }

    // MARK: Commands

    private func run(_ command: DocumentCommand) {
        guard !finishedCommands.contains(command.id) else { return }
        finishedCommands.insert(command.id)
        var result: [String: String] = [:]
        let postedBefore = postings.count
        do {
            switch command.body {
            case .create(let body): result = try create(body, commandID: command.id)
            case .update(let body): result = try update(body)
            case .post(let body): result = try post(body)
            case .reject(let body): result = try reject(body)
            case .cancel(let body): result = try cancel(body, commandID: command.id)
            }
            record(command, status: "done", result: result)
            if postings.count > postedBefore { numberedOutcomes.append((outcomes.count - 1, postings.last!)) }
        } catch let refusal as Refusal {
            record(command, status: "refused", code: refusal.code, reason: refusal.reason)
        } catch let error as DomainError {
            record(command, status: "refused", code: error.code, reason: error.description)
        } catch {
            record(command, status: "refused", code: "invalid_command", reason: "\(error)")
        }
    }

    private func record(
        _ command: DocumentCommand, status: String, code: String? = nil, reason: String? = nil,
        result: [String: String] = [:]
    ) {
        outcomes.append(
            (
                CommandOutcome(
                    commandId: command.id, commandType: command.type, account: command.account, status: status,
                    reasonCode: code, reason: reason, result: result),
                command.origin.requestedBy
            ))
    }

    private func create(_ command: DocumentCreateCommand, commandID: String) throws -> [String: String] {
        guard let kind = DocumentKind(rawValue: command.kind), kind == .invoice || kind == .creditNote else {
            throw Refusal("invalid_document", "kind '\(command.kind)' is not invoice or credit-note")
        }
        let account = try billableAccount(command.account)
        var invoice: DocumentRecord?
        if let named = command.invoice {
            guard kind == .creditNote else {
                throw Refusal("invalid_document", "only a credit note names the invoice it credits")
            }
            invoice = try creditableInvoice(named, account: account)
        }
        let rounding = try command.rounding.map { text throws(Refusal) -> RoundingRule in
            guard let rule = RoundingRule(rawValue: text) else {
                throw Refusal("invalid_document", "rounding '\(text)' is not half-up or half-even")
            }
            return rule
        }
        let reference: String
        if let given = command.reference {
            guard !takenReferences.contains(given) else {
                throw Refusal("duplicate_reference", "reference \(given) is already used by another document")
            }
            guard !isDraftReference(given) else {
                throw Refusal(
                    "invalid_document", "references \(numbering.draftReferencePrefix)-… are given by the invoicer")
            }
            reference = given
        } else {
            reference = freshReferences.removeFirst()
        }
        if let code = command.backOfficeCode { try requireFreeCode(code, for: nil) }
        let id = newID()
        let draft = try DocumentDraft(
            id: id, kind: kind, account: try account.domainAccount, reference: reference,
            lines: try lines(command.lines, currency: account.currency),
            issuedOn: try command.issuedOn.map(LocalDate.parse) ?? today,
            requestedDueOn: try dueDate(command.dueOn), rounding: rounding ?? .halfUp,
            backOfficeCode: command.backOfficeCode, notes: command.notes)
        let record = DocumentRecord(
            id: id, kind: kind, accountID: account.id, accountNumber: account.number, currency: account.currency,
            rounding: draft.rounding, state: .draft, reference: reference, issuedOn: draft.issuedOn,
            related: invoice?.id, isNew: true)
        try record.refresh(from: draft)
        record.createdBy = command.origin.requestedBy
        record.commandID = commandID
        record.linesChanged = true
        if let invoice, record.total > invoice.creditable {
            throw creditTooLarge(record, invoice)
        }
        if command.post == true {
            try stagePosting(record, on: try command.postedOn.map(LocalDate.parse) ?? today, account: account)
            record.postedBy = command.origin.requestedBy
        } else if command.postedOn != nil {
            throw Refusal("invalid_document", "posted_on goes with post: true")
        }
        remember(record)
        takenReferences.insert(reference)
        if let code = record.backOfficeCode { takenCodes[code] = id }
        return summary(record)
    }

    private func update(_ command: DocumentUpdateCommand) throws -> [String: String] {
        let record = try draft(command.document, account: command.account)
        var draft = record.draft!
        if let lines = command.lines { try draft.replaceLines(try self.lines(lines, currency: record.currency)) }
        if let due = command.dueOn { try draft.setRequestedDueDate(due.isEmpty ? nil : try LocalDate.parse(due)) }
        if let code = command.backOfficeCode {
            let newCode = code.isEmpty ? nil : code
            if let newCode { try requireFreeCode(newCode, for: record.id) }
            try draft.setBackOfficeCode(newCode)
        }
        if let notes = command.notes { try draft.setNotes(notes.isEmpty ? nil : notes) }
        if let invoiceID = record.related, let invoice = documents[invoiceID],
            try draft.totals.total.minor
                > invoice.creditable
        {
            throw Refusal(
                "credit_exceeds_invoice",
                "the credit note's new total \(try draft.totals.total.decimalText) is above the \(Money(minor: invoice.creditable, currency: invoice.currency).decimalText) left to credit on invoice \(invoice.name)"
            )
        }
        if let old = record.backOfficeCode, old != draft.backOfficeCode { takenCodes[old] = nil }
        try record.refresh(from: draft)
        if let code = record.backOfficeCode { takenCodes[code] = record.id }
        record.changed = true
        record.linesChanged = record.linesChanged || command.lines != nil
        return summary(record)
    }

    private func post(_ command: DocumentPostCommand) throws -> [String: String] {
        let record = try draft(command.document, account: command.account)
        let account = try billableAccount(command.account)
        try stagePosting(record, on: try command.postedOn.map(LocalDate.parse) ?? today, account: account)
        record.postedBy = command.origin.requestedBy
        record.changed = true
        return summary(record)
    }

    private func reject(_ command: DocumentRejectCommand) throws -> [String: String] {
        let record = try draft(command.document, account: command.account)
        guard let category = RejectionCategory(rawValue: command.category) else {
            throw Refusal(
                "invalid_document",
                "category '\(command.category)' is not one of \(RejectionCategory.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        var draft = record.draft!
        try draft.reject(category: category, reason: command.reason)
        try record.refresh(from: draft)
        record.rejection = (category, command.reason)
        record.changed = true
        return summary(record)
    }

    private func cancel(_ command: InvoiceCancelCommand, commandID: String) throws -> [String: String] {
        guard command.reason.contains(where: { $0 != " " }) else {
            throw Refusal("invalid_document", "a cancellation needs a reason")
        }
        let account = try knownAccount(command.account)
        let invoice = try postedInvoice(command.invoice, account: account)
        guard invoice.credited == 0 else {
            throw Refusal(
                "invoice_credited",
                "invoice \(invoice.name) has credit notes for \(Money(minor: invoice.credited, currency: invoice.currency).decimalText): credit what is left with a credit note instead of cancelling it"
            )
        }
        let cancelledOn = try command.cancelledOn.map(LocalDate.parse) ?? today
        guard let invoicePosted = invoice.postedOn, cancelledOn >= invoicePosted else {
            throw Refusal(
                "invalid_document", "cancellation date \(cancelledOn) is before the invoice's posting date")
        }
        let record = DocumentRecord(
            id: newID(), kind: .invoiceCancellation, accountID: account.id, accountNumber: account.number,
            currency: invoice.currency, rounding: invoice.rounding, state: .posted,
            reference: freshReferences.removeFirst(), issuedOn: cancelledOn, related: invoice.id, isNew: true)
        record.net = invoice.net
        record.discount = invoice.discount
        record.tax = invoice.tax
        record.total = invoice.total
        record.postedOn = cancelledOn
        record.notes = command.reason
        record.createdBy = command.origin.requestedBy
        record.postedBy = command.origin.requestedBy
        record.awaitingNumber = (.invoiceCancellation, cancelledOn.year)
        invoice.cancelledBy = record.reference
        record.commandID = commandID
        remember(record)
        takenReferences.insert(record.reference)
        postings.append(record)
        return ["document_id": record.id, "reference": record.reference, "state": "posted", "invoice": invoice.name]
    }

    /// Checks a posting and queues the document for a number: the due date follows the account's
    /// rule; a credit note must still fit what is left of its invoice.
    private func stagePosting(_ record: DocumentRecord, on postedOn: LocalDate, account: AccountCopy) throws {
        guard let draft = record.draft else {
            throw Refusal("invalid_document", "document \(record.name) is \(record.state.rawValue)")
        }
        guard postedOn <= today else {
            throw Refusal("invalid_document", "posting date \(postedOn) is in the future (today is \(today))")
        }
        let due = try draft.dueDateForPosting(on: postedOn, rule: account.creditRule)
        if let invoiceID = record.related, let invoice = documents[invoiceID] {
            guard invoice.cancelledBy == nil else {
                throw Refusal("invoice_cancelled", "invoice \(invoice.name) is cancelled and cannot be credited")
            }
            guard record.total <= invoice.creditable else { throw creditTooLarge(record, invoice) }
            invoice.credited += record.total
        }
        record.postedOn = postedOn
        record.dueOn = record.kind == .invoice ? due : nil
        record.awaitingNumber = (record.kind, postedOn.year)
        postings.append(record)
    }

    private func creditTooLarge(_ note: DocumentRecord, _ invoice: DocumentRecord) -> Refusal {
        let money = { (minor: Int64) in Money(minor: minor, currency: invoice.currency).decimalText }
        return Refusal(
            "credit_exceeds_invoice",
            "credit note of \(money(note.total)) is above the \(money(invoice.creditable)) left to credit on invoice \(invoice.name) (total \(money(invoice.total)), credited \(money(invoice.credited)))"
        )
    }

    // MARK: Lookups inside the batch

    private func knownAccount(_ number: String) throws -> AccountCopy {
        guard let account = accounts[number] else {
            throw Refusal(
                "unknown_account",
                "account \(number) is unknown to the invoicer (not opened, or its opening has not reached the invoicer yet)"
            )
        }
        return account
    }

    private func billableAccount(_ number: String) throws -> AccountCopy {
        let account = try knownAccount(number)
        guard account.state != .terminated else {
            throw Refusal("account_terminated", "account \(number) is terminated and takes no new documents")
        }
        return account
    }

    private func document(_ name: String, account: String) throws -> DocumentRecord {
        guard let id = names[name], let record = documents[id] else {
            throw Refusal("unknown_document", "no document \(name)")
        }
        guard record.accountNumber == account else {
            throw Refusal(
                "wrong_account", "document \(name) belongs to account \(record.accountNumber), not \(account)")
        }
        return record
    }

    private func draft(_ name: String, account: String) throws -> DocumentRecord {
        let record = try document(name, account: account)
        if record.draft == nil, record.state == .draft, let lines = record.storedLines, let copy = accounts[account] {
            // A stored draft: made again from its row and lines. Its account may have been
            // terminated since; the draft still exists (it can be rejected), posting checks the account.
            var holder = copy
            holder.state = .active
            try record.refresh(
                from: try DocumentDraft(
                    id: record.id, kind: record.kind, account: try holder.domainAccount, reference: record.reference,
                    lines: lines, issuedOn: record.issuedOn, requestedDueOn: record.dueOn, rounding: record.rounding,
                    backOfficeCode: record.backOfficeCode, notes: record.notes))
        }
        guard record.state == .draft, record.draft != nil, record.awaitingNumber == nil else {
            throw Refusal(
                "not_a_draft",
                "document \(record.name) is \(record.awaitingNumber != nil ? "posted" : record.state.rawValue); only drafts change"
            )
        }
        return record
    }

    private func postedInvoice(_ name: String, account: AccountCopy) throws -> DocumentRecord {
        let invoice = try document(name, account: account.number)
        guard invoice.kind == .invoice else {
            throw Refusal("invalid_document", "document \(invoice.name) is a \(invoice.kind.rawValue), not an invoice")
        }
        guard invoice.state == .posted || invoice.awaitingNumber != nil else {
            throw Refusal("not_posted", "invoice \(invoice.name) is \(invoice.state.rawValue), not posted")
        }
        if let cancellation = invoice.cancelledBy {
            throw Refusal("invoice_cancelled", "invoice \(invoice.name) is already cancelled by \(cancellation)")
        }
        return invoice
    }

    private func creditableInvoice(_ name: String, account: AccountCopy) throws -> DocumentRecord {
        do {
            return try postedInvoice(name, account: account)
        } catch let refusal as Refusal where refusal.code == "invoice_cancelled" {
            throw Refusal("invoice_cancelled", "invoice \(name) is cancelled and cannot be credited")
        }
    }

    private func requireFreeCode(_ code: String, for documentID: String?) throws {
        if let holder = takenCodes[code], holder != documentID {
            throw Refusal(
                "duplicate_back_office_code",
                "back-office code \(code) is already used by document \(documents[holder]?.name ?? holder)")
        }
    }

    private func lines(_ specs: [DocumentLineSpec], currency: Currency) throws(DomainError) -> [InvoiceLine] {
        guard specs.count <= 1_000 else { throw .invalidDocument("a document has at most 1000 lines") }
        var lines: [InvoiceLine] = []
        for (index, spec) in specs.enumerated() {
            do {
                lines.append(
                    try InvoiceLine(
                        description: spec.description, quantity: spec.quantity, unitPrice: spec.unitPrice,
                        taxRatePercent: spec.taxRate, discounts: spec.discounts ?? [], currency: currency))
            } catch {
                throw .invalidLine("line \(index + 1): \(error.description)")
            }
        }
        return lines
    }

    /// `DRAFT-000042`: the form of references the invoicer gives.
    func isDraftReference(_ reference: String) -> Bool {
        let prefix = numbering.draftReferencePrefix + "-"
        return reference.hasPrefix(prefix) && reference.dropFirst(prefix.count).allSatisfy(\.isNumber)
    }

    private func dueDate(_ text: String?) throws(DomainError) -> LocalDate? {
        guard let text, !text.isEmpty else { return nil }
        return try LocalDate.parse(text)
    }

    private func remember(_ record: DocumentRecord) {
        documents[record.id] = record
        names[record.id] = record.id
        names[record.reference] = record.id
    }

    private func summary(_ record: DocumentRecord) -> [String: String] {
        var result = [
            "document_id": record.id, "reference": record.reference, "kind": record.kind.rawValue,
            "state": record.awaitingNumber != nil ? "posted" : record.state.rawValue,
            "total_minor": String(record.total), "currency": record.currency.code,
        ]
        if let due = record.dueOn { result["due_on"] = due.description }
        return result
    }

    // MARK: Account copies

    private func copy(_ snapshot: AccountSnapshot) throws {
        let copy = AccountCopy(
            id: snapshot.accountId!, number: snapshot.number, name: snapshot.name,
            currency: try Currency(code: snapshot.currency), state: AccountState(rawValue: snapshot.state)!,
            creditRule: try CreditRule.parse(snapshot.creditRule), changed: true)
        accounts[snapshot.number] = copy
    }

    // MARK: Numbers

    /// How many numbers each series needs for the batch's postings, in (kind, year) order: the
    /// order replicas lock the series rows in. Empty when nothing was posted.
    public func numberRequests() -> [(series: NumberSeries, prefix: String, count: Int)] {
        var counts: [NumberSeries: Int] = [:]
        for record in postings { counts[NumberSeries(record.awaitingNumber!), default: 0] += 1 }
        return counts.keys.sorted().map { series in
            (series, numbering.prefixes[series.kind] ?? series.kind.numberPrefix, counts[series]!)
        }
    }

    /// Gives each posting its number, in posting order, from the first sequence taken for its
    /// series (and the prefix the series keeps), and fills the numbers into the outcomes.
    public func assignNumbers(_ first: [NumberSeries: (prefix: String, sequence: Int64)]) throws {
        var next = first
        for record in postings {
            let series = NumberSeries(record.awaitingNumber!)
            guard let (prefix, sequence) = next[series] else {
                throw DomainError.invalidDocument("no number was taken for \(series.kind.rawValue) \(series.year)")
            }
            next[series]!.sequence += 1
            let number = try DocumentNumber(prefix: prefix, year: series.year, sequence: sequence)
            if var draft = record.draft {
                try draft.post(
                    number: number, postedOn: record.postedOn!, rule: accounts[record.accountNumber]!.creditRule)
                try record.refresh(from: draft)
            } else {
                record.number = number.description
                record.state = .posted
            }
            names[number.description] = record.id
        }
        for (index, record) in numberedOutcomes {
            outcomes[index].outcome.result["number"] = record.number
            if let due = record.dueOn { outcomes[index].outcome.result["due_on"] = due.description }
        }
    }

    // MARK: Events

    /// Each posted document on `billing.documents` (in posting order), then each command outcome.
    public func events() -> [OutgoingEvent] {
        var events: [OutgoingEvent] = []
        for record in postings {
            let document = DocumentPosted(
                documentId: record.id, kind: record.kind.rawValue, account: record.accountNumber,
                number: record.number!, reference: record.reference, currency: record.currency.code,
                netMinor: record.net, taxMinor: record.tax, totalMinor: record.total,
                postedOn: record.postedOn!.description, dueOn: record.dueOn?.description,
                relatedDocumentId: record.related)
            events.append(
                OutgoingEvent(
                    topic: Topics.documents.name, key: record.accountNumber, type: LedgerTypes.documentPosted, document))
        }
        for (outcome, _) in outcomes {
            events.append(
                OutgoingEvent(
                    topic: Topics.commandOutcomes.name, key: outcome.commandId, type: LedgerTypes.commandOutcome,
                    outcome))
        }
        return events
    }
}

/// A legal number series: one per document kind and year, gapless.
public struct NumberSeries: Hashable, Sendable, Comparable {
    public let kind: DocumentKind
    public let year: Int

    public init(kind: DocumentKind, year: Int) {
        self.kind = kind
        self.year = year
    }

    init(_ awaiting: (kind: DocumentKind, year: Int)) { self.init(kind: awaiting.kind, year: awaiting.year) }

    public static func < (left: NumberSeries, right: NumberSeries) -> Bool {
        (left.kind.rawValue, left.year) < (right.kind.rawValue, right.year)
    }
}
