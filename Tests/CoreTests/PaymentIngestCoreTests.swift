import BillingContracts
import BillingDomain
import BillingIngest
import BillingTestSupport
import PaymentIngestCore
import Testing

/// payment-ingest's decisions, without PostgreSQL or Kafka: files and events read by the same
/// parsers the worker uses, booked against a directory set up in memory the way storage loads it.
@Suite struct PaymentIngestCoreTests {
    static let today = try! LocalDate(year: 2026, month: 6, day: 3)
    static let bankAccount = "DE02120300000000202051"
    static let mapping = """
        date=Buchungstag|amount=Betrag|direction=S/H|remittance=Verwendungszweck|payer_name=Name|\
        payer_account=IBAN|reference=Referenz|account_value=DE02120300000000202051|currency_value=EUR|\
        delimiter=;|decimal=,|date_format=dd.MM.yyyy|credit_values=H|debit_values=S
        """
    static let statement = """
        Buchungstag;Betrag;S/H;Verwendungszweck;Name;IBAN;Referenz
        01.06.2026;46,20;H;Rechnung INV-2026-000001;Max Muster;DE89370400440532013000;R1
        01.06.2026;10,00;H;Danke;Erika Beispiel;DE12500105170648489890;R2
        02.06.2026;12,50;S;Miete Juni;Vermieter;;R3

        """

    /// Decisions that know account A-1001 (EUR), its invoice INV-2026-000001 and our bank account.
    static func decisions(knownBankAccountsOnly: Bool = false) -> IngestDecisions {
        let decisions = IngestDecisions(today: today, knownBankAccountsOnly: knownBankAccountsOnly, accountMarkers: [])
        decisions.directory.accounts["A-1001"] = KnownAccount(number: "A-1001", currency: "EUR", isTerminated: false)
        decisions.directory.documents["INV-2026-000001"] = "A-1001"
        decisions.knownBankAccounts = [bankAccount]
        return decisions
    }

    /// A statement file as the worker decodes it.
    static func file(_ text: String = statement, id: String, sha: String = "sha-1") throws -> IngestInput {
        let bytes = Array(text.utf8)
        let parsed = try StatementFiles.parse(bytes, format: "csv", csvMapping: try CSVMapping.parse(mapping))
        return .statementFile(
            StatementFileInput(
                fileID: id, contentSHA256: sha, fileName: "june.csv", bytes: bytes, parsed: parsed,
                lines: try StatementLines.lines(of: parsed, fileKey: sha), topic: "billing.bank-statements.raw",
                partition: 0, offset: 7))
    }

    @Test func eachLineIsIdentifiedOrHeldAndPublishedOnce() throws {
        let decisions = Self.decisions()
        try decisions.apply(Self.file(id: "F1"))

        #expect(decisions.lineRows.map(\.outcome) == [.identified, .unidentified, .outgoing])
        let identified = decisions.lineRows[0]
        #expect(identified.account == "A-1001" && identified.rule == "document-in-remittance")
        #expect(identified.evidence == "INV-2026-000001")
        #expect(decisions.payerUpdates == ["DE89370400440532013000": "A-1001"])
        let report = try #require(decisions.fileRows.first?.report)
        #expect(report.lines.booked == 3 && report.lines.identified == 1 && report.lines.duplicate == 0)

        let events = decisions.outgoing()
        #expect(events.map(\.type) == [LedgerTypes.paymentIdentified, LedgerTypes.paymentUnidentified])
        let payment = try events[0].body(as: PaymentIdentified.self)
        #expect(payment.account == "A-1001" && payment.amountMinor == 4_620 && payment.currency == "EUR")
        #expect(payment.channel == "bank:\(Self.bankAccount)" && payment.receivedOn == "2026-06-01")
        #expect(payment.namedItems == ["INV-2026-000001"])
        #expect(events[0].key == "A-1001" && events[0].topic == Topics.payments.name)
        let held = try events[1].body(as: PaymentUnidentified.self)
        #expect(held.amountMinor == 1_000 && held.payerIban == "DE12500105170648489890")
        #expect(events[1].topic == Topics.unidentifiedPayments.name)
    }

    @Test func theSameLinesInAnotherFileAreDuplicatesAndTheSameFileIsNothingNew() throws {
        let decisions = Self.decisions()
        try decisions.apply(Self.file(id: "F1"))
        let published = decisions.outgoing().count
        try decisions.apply(Self.file(id: "F2", sha: "sha-2"))
        #expect(decisions.lineRows.suffix(3).map(\.outcome) == [.duplicate, .duplicate, .duplicate])
        #expect(decisions.fileRows.last?.report.lines.duplicate == 3)
        try decisions.apply(Self.file(id: "F1"))
        #expect(decisions.notices == [.fileImportedBefore(fileID: "F1", offset: 7)])
        #expect(decisions.outgoing().count == published)
        #expect(decisions.fileRows.count == 2)
        #expect(throws: MessageRejection.self) { try decisions.apply(Self.file(id: "F1", sha: "sha-other")) }
    }

    @Test func statementsOfUnknownBankAccountsAreRefusedWhenOnlyKnownOnesAreTaken() throws {
        let decisions = Self.decisions(knownBankAccountsOnly: true)
        decisions.knownBankAccounts = []
        try decisions.apply(Self.file(id: "F1"))
        #expect(decisions.lineRows.isEmpty && decisions.outgoing().isEmpty)
        let report = try #require(decisions.fileRows.first?.report)
        #expect(report.lines.rejected == 3)
        #expect(report.rejections.first?.reason == "bank account \(Self.bankAccount) is not registered")

        let open = Self.decisions()
        open.knownBankAccounts = []
        try open.apply(Self.file(id: "F1"))
        #expect(open.newBankAccounts.map(\.account) == [Self.bankAccount])
        #expect(open.lineRows.count == 3)
    }

    @Test func bankChargesAreKnownByTheirTransactionCodes() {
        #expect(IngestDecisions.isBankCharge("PMNT/RCDT/CHRG") && IngestDecisions.isBankCharge("ACMT/ADOP/CHRG"))
        #expect(IngestDecisions.isBankCharge("NCHG") && IngestDecisions.isBankCharge("FCHG"))
        #expect(!IngestDecisions.isBankCharge("PMNT/RCDT/ESCT") && !IngestDecisions.isBankCharge(nil))
    }

    static func gatewayEvent(signature: String) throws -> IngestInput {
        let raw = try Fixtures.bytes(Fixtures.gateway("billing-stripe-payment_intent.succeeded.json"))
        let event = try GatewayEvent.parse(raw)
        return .gatewayEvent(
            GatewayInput(
                event: event, raw: raw, signatureHash: signature, signedAt: event.created,
                movements: try GatewayEventMapper.movements(event, accountKeys: ["account"]),
                topic: "billing.gateway-events.raw", partition: 0, offset: 1))
    }

    @Test func aGatewayPaymentIsBookedOnceAndAReplayedSignatureRefused() throws {
        let decisions = Self.decisions()
        decisions.directory.documents["INV-2026-000117"] = "A-1001"
        try decisions.apply(Self.gatewayEvent(signature: "sig-1"))

        let row = try #require(decisions.gatewayRows.first)
        #expect(row.outcome == .booked && row.account == "A-1001" && row.paymentID != nil)
        let events = decisions.outgoing()
        #expect(events.map(\.type) == [LedgerTypes.paymentIdentified])
        let payment = try events[0].body(as: PaymentIdentified.self)
        #expect(payment.amountMinor == 12_990 && payment.currency == "EUR" && payment.channel == "gateway:stripe")
        #expect(payment.reference == "evt_1BillingTestPI0001")

        let replay = #expect(throws: MessageRejection.self) { try decisions.apply(Self.gatewayEvent(signature: "sig-1")) }
        #expect(replay?.code == "signature_replayed")
        try decisions.apply(Self.gatewayEvent(signature: "sig-2"))
        #expect(decisions.notices == [.gatewayEventRepeated(eventID: "evt_1BillingTestPI0001", type: "payment_intent.succeeded")])
        #expect(decisions.gatewayRows.count == 1 && decisions.outgoing().count == 1)
    }

    static let origin = CommandOrigin(requestedBy: "cashier@example.com")

    @Test func deskCommandKindsAreTheCashDeskTypes() {
        #expect(CashDeskCommandKind(type: CashDeskTypes.openShift) == .openShift)
        #expect(CashDeskCommandKind(type: CashDeskTypes.payment) == .payment)
        #expect(CashDeskCommandKind(type: CashDeskTypes.closeShift) == .closeShift)
        #expect(CashDeskCommandKind(type: LedgerTypes.refund) == nil)
    }

    @Test func aCashDeskShiftTakesPaymentsAndClosesWithWhatWasCounted() throws {
        let decisions = Self.decisions()
        let commands: [(String, CashDeskCommandKind, CashDeskCommand)] = [
            ("k1", .openShift, CashDeskCommand(origin: Self.origin, desk: "D1", currency: "EUR", float: "50.00")),
            ("k2", .payment, CashDeskCommand(origin: Self.origin, desk: "D1", account: "A-1001", amount: "20.00")),
            ("k3", .payment, CashDeskCommand(origin: Self.origin, desk: "D1", account: "A-9999", amount: "5.00")),
            ("k4", .closeShift, CashDeskCommand(origin: Self.origin, desk: "D1", counted: "69.50")),
        ]
        for (id, kind, command) in commands { try decisions.apply(.deskCommand(id: id, kind: kind, command)) }

        #expect(decisions.deskOutcomes.map(\.outcome.status) == ["done", "done", "refused", "done"])
        #expect(decisions.deskOutcomes[2].outcome.reasonCode == "unknown_account")
        let closed = decisions.deskOutcomes[3].outcome.result
        #expect(closed["expected_minor"] == "7000" && closed["counted_minor"] == "6950")
        #expect(closed["difference_minor"] == "-50" && closed["payments"] == "1")
        #expect(decisions.closedShifts.map(\.id) == ["SH-k1"])

        let events = decisions.outgoing()
        #expect(events.map(\.type) == [LedgerTypes.paymentIdentified] + Array(repeating: LedgerTypes.commandOutcome, count: 4))
        let payment = try events[0].body(as: PaymentIdentified.self)
        #expect(payment.paymentId == "DESK-k2" && payment.channel == "desk:D1" && payment.receivedOn == "2026-06-03")
    }
}
