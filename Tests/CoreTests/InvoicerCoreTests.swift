import BillingContracts
import BillingDomain
import InvoicerCore
import Testing

/// The invoicer's decisions, without PostgreSQL or Kafka: commands decoded from CloudEvents the
/// way the worker decodes them, applied to account copies and documents set up in memory.
@Suite struct InvoicerCoreTests {
    static let eur = try! Currency(code: "EUR")
    static let today = try! LocalDate(year: 2026, month: 6, day: 10)
    static let origin = CommandOrigin(requestedBy: "clerk@example.com")

    /// Decisions over account A1 (EUR, due 14 days after posting), with ids doc-1, doc-2, … and
    /// fresh references DRAFT-000101, DRAFT-000102.
    static func decisions() throws -> DocumentDecisions {
        var counter = 0
        let decisions = DocumentDecisions(
            today: today, numbering: .defaults,
            newID: {
                counter += 1
                return "doc-\(counter)"
            })
        decisions.accounts["A1"] = AccountCopy(
            id: 1, number: "A1", name: "Client A1", currency: eur, state: .active,
            creditRule: try CreditRule.parse("days:14"))
        decisions.freshReferences = ["DRAFT-000101", "DRAFT-000102"]
        return decisions
    }

    /// A posted invoice of `total` as storage loads it.
    static func postedInvoice(_ id: String, number: String, total: Int64, credited: Int64 = 0) throws -> DocumentRecord {
        let record = DocumentRecord(
            id: id, kind: .invoice, accountID: 1, accountNumber: "A1", currency: eur, rounding: .halfUp,
            state: .posted, reference: "REF-\(id)", issuedOn: try LocalDate(year: 2026, month: 5, day: 1),
            related: nil, isNew: false)
        record.number = number
        record.postedOn = try LocalDate(year: 2026, month: 5, day: 1)
        record.net = total
        record.total = total
        record.credited = credited
        return record
    }

    static func command<T: Encodable>(_ type: String, _ body: T, id: String) throws -> DocumentInput {
        let event = CloudEvent(id: id, type: type, source: "test", time: "2026-06-10T09:00:00Z", data: ContractJSON.encode(body))
        guard let decode = DocumentInputDecoder.routes[type] else { throw MessageRejection(EnvelopeError.unknownType(type)) }
        return try decode(event)
    }

    static let line = DocumentLineSpec(description: "Support, June", quantity: "2", unitPrice: "12.50", taxRate: "20")

    static func create(kind: String = "invoice", account: String = "A1", invoice: String? = nil, post: Bool? = nil)
        -> DocumentCreateCommand
    {
        DocumentCreateCommand(origin: origin, kind: kind, account: account, lines: [line], invoice: invoice, post: post)
    }

    @Test func anInvoiceCreatedAndPostedTakesTheNextNumberOfItsSeriesAndTheAccountsDueDate() throws {
        let decisions = try Self.decisions()
        try decisions.apply(Self.command(DocumentTypes.create, Self.create(post: true), id: "c1"))

        #expect(decisions.outcomes.map(\.outcome.status) == ["done"])
        let requests = decisions.numberRequests()
        #expect(requests.count == 1)
        #expect(requests[0].series == NumberSeries(kind: .invoice, year: 2026))
        #expect(requests[0].prefix == "INV" && requests[0].count == 1)

        try decisions.assignNumbers([NumberSeries(kind: .invoice, year: 2026): ("INV", 42)])
        let record = try #require(decisions.documents["doc-1"])
        #expect(record.number == "INV-2026-000042" && record.state == .posted)
        #expect(record.reference == "DRAFT-000101")
        #expect((record.net, record.tax, record.total) == (2_500, 500, 3_000))
        #expect(record.dueOn == (try LocalDate(year: 2026, month: 6, day: 24)))
        #expect(decisions.outcomes[0].outcome.result["number"] == "INV-2026-000042")
        #expect(decisions.outcomes[0].outcome.result["due_on"] == "2026-06-24")

        let events = decisions.events()
        #expect(events.map(\.type) == [LedgerTypes.documentPosted, LedgerTypes.commandOutcome])
        let posted = try events[0].body(as: DocumentPosted.self)
        #expect(posted.number == "INV-2026-000042" && posted.totalMinor == 3_000 && posted.kind == "invoice")
        #expect(posted.dueOn == "2026-06-24" && posted.postedOn == "2026-06-10")
        #expect(events[0].topic == Topics.documents.name && events[0].key == "A1")
    }

    @Test func postingsOfABatchNumberInOrderWithoutGaps() throws {
        let decisions = try Self.decisions()
        try decisions.apply(Self.command(DocumentTypes.create, Self.create(post: true), id: "c1"))
        try decisions.apply(Self.command(DocumentTypes.create, Self.create(post: true), id: "c2"))
        #expect(decisions.numberRequests().map(\.count) == [2])
        try decisions.assignNumbers([NumberSeries(kind: .invoice, year: 2026): ("INV", 7)])
        #expect(decisions.postings.map(\.number) == ["INV-2026-000007", "INV-2026-000008"])
    }

    @Test func aDraftIsNotNumbered() throws {
        let decisions = try Self.decisions()
        try decisions.apply(Self.command(DocumentTypes.create, Self.create(), id: "c1"))
        #expect(decisions.numberRequests().isEmpty)
        #expect(decisions.documents["doc-1"]?.state == .draft)
        #expect(decisions.events().map(\.type) == [LedgerTypes.commandOutcome])
    }

    @Test func aCommandForAnAccountTheInvoicerDoesNotKnowIsRefused() throws {
        let decisions = try Self.decisions()
        try decisions.apply(Self.command(DocumentTypes.create, Self.create(account: "B9"), id: "c1"))
        let outcome = decisions.outcomes[0].outcome
        #expect(outcome.status == "refused" && outcome.reasonCode == "unknown_account")
        #expect(decisions.documents.isEmpty)
    }

    @Test func aCreditNoteCannotCreditMoreThanIsLeftOnItsInvoice() throws {
        let decisions = try Self.decisions()
        decisions.add(try Self.postedInvoice("inv-1", number: "INV-2026-000001", total: 4_000, credited: 2_000))
        try decisions.apply(
            Self.command(DocumentTypes.create, Self.create(kind: "credit-note", invoice: "INV-2026-000001"), id: "c1"))
        let outcome = decisions.outcomes[0].outcome
        #expect(outcome.status == "refused" && outcome.reasonCode == "credit_exceeds_invoice")
        #expect(
            outcome.reason
                == "credit note of 30.00 is above the 20.00 left to credit on invoice INV-2026-000001 (total 40.00, credited 20.00)"
        )
    }

    @Test func aCancellationIsPostedForTheWholeInvoiceUnlessItWasCredited() throws {
        let decisions = try Self.decisions()
        decisions.add(try Self.postedInvoice("inv-1", number: "INV-2026-000001", total: 4_000))
        decisions.add(try Self.postedInvoice("inv-2", number: "INV-2026-000002", total: 4_000, credited: 1_000))
        let cancel = { (invoice: String, id: String) throws -> DocumentInput in
            try Self.command(
                DocumentTypes.cancel,
                InvoiceCancelCommand(origin: Self.origin, account: "A1", invoice: invoice, reason: "billed twice"),
                id: id)
        }
        try decisions.apply(cancel("INV-2026-000001", "c1"))
        try decisions.apply(cancel("INV-2026-000002", "c2"))
        try decisions.apply(cancel("INV-2026-000001", "c3"))

        #expect(decisions.outcomes.map(\.outcome.status) == ["done", "refused", "refused"])
        #expect(decisions.outcomes[1].outcome.reasonCode == "invoice_credited")
        #expect(decisions.outcomes[2].outcome.reasonCode == "invoice_cancelled")
        let cancellation = try #require(decisions.postings.first)
        #expect(cancellation.kind == .invoiceCancellation && cancellation.total == 4_000)
        #expect(cancellation.related == "inv-1" && cancellation.postedOn == Self.today)
        #expect(decisions.documents["inv-1"]?.cancelledBy == cancellation.reference)
        #expect(decisions.numberRequests().map(\.series) == [NumberSeries(kind: .invoiceCancellation, year: 2026)])
        #expect(decisions.numberRequests().map(\.prefix) == ["IC"])
    }

    @Test func aCommandIsCarriedOutOncePerID() throws {
        let decisions = try Self.decisions()
        let create = try Self.command(DocumentTypes.create, Self.create(), id: "c1")
        try decisions.apply(create)
        try decisions.apply(create)
        decisions.finishedCommands.insert("c2")
        try decisions.apply(Self.command(DocumentTypes.create, Self.create(), id: "c2"))
        #expect(decisions.outcomes.count == 1)
        #expect(decisions.documents.count == 1)
    }

    @Test func commandsAreDecodedStrictlyAndOnce() throws {
        let event = CloudEvent(
            id: "c1", type: DocumentTypes.post, source: "test", time: "2026-06-10T09:00:00Z",
            data: Array(#"{"origin":{"requested_by":"x"},"account":"A1","document":"D","posted":"2026-06-01"}"#.utf8))
        let rejection = #expect(throws: MessageRejection.self) { try DocumentInputDecoder.routes[event.type]!(event) }
        #expect(rejection?.code == "invalid_payload")
        guard case .command(let command) = try Self.command(DocumentTypes.reject, DocumentRejectCommand(
            origin: Self.origin, account: "A1", document: "D", category: "pricing", reason: "wrong price"), id: "c9")
        else {
            Issue.record("not a command")
            return
        }
        #expect(command.kind == .reject && command.type == DocumentTypes.reject)
        #expect(DocumentCommand.Kind.allCases.map(\.type) == DocumentTypes.commands)
    }
}
