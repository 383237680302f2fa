import AllocatorCore
import BillingContracts
import BillingDomain
import Testing

/// The allocator's decisions, without PostgreSQL or Kafka: inputs decoded from CloudEvents the
/// way the worker decodes them, applied to accounts set up in memory the way storage loads them.
@Suite struct AllocatorCoreTests {
    static let eur = try! Currency(code: "EUR")
    static let today = try! LocalDate(year: 2026, month: 6, day: 1)

    /// An empty account as the batch's lock would load it.
    static func account(
        _ number: String, id: Int64, balance: Int64 = 0, principle: AllocationPrinciple = .fifo
    ) -> LockedAccount {
        LockedAccount(
            id: id, number: number, name: "Client \(number)", currency: eur, state: .active, creditLimitMinor: nil,
            creditRule: "days:14", principle: principle, presentment: .email, email: "a@example.com", phone: nil,
            owningGroup: nil, balance: balance, itemSequence: 0)
    }

    static func input<T: Encodable>(_ type: String, _ body: T, id: String = "e1") throws -> LedgerInput {
        let event = CloudEvent(id: id, type: type, source: "test", time: "2026-06-01T10:00:00Z", data: ContractJSON.encode(body))
        guard let decode = LedgerInputDecoder.routes[type] else { throw MessageRejection(EnvelopeError.unknownType(type)) }
        return try decode(event)
    }

    static func invoice(_ id: String, total: Int64, posted: String = "2026-05-01", account: String = "A1") throws
        -> LedgerInput
    {
        try input(
            LedgerTypes.documentPosted,
            DocumentPosted(
                documentId: id, kind: "invoice", account: account, number: "INV-\(id)", currency: "EUR",
                netMinor: total, taxMinor: 0, totalMinor: total, postedOn: posted, dueOn: "2026-05-15"))
    }

    static func payment(_ id: String, amount: Int64, account: String = "A1", named: [String]? = nil) throws
        -> LedgerInput
    {
        try input(
            LedgerTypes.paymentIdentified,
            PaymentIdentified(
                paymentId: id, account: account, amountMinor: amount, currency: "EUR", channel: "bank",
                receivedOn: "2026-05-20", namedItems: named))
    }

    static func command<T: Encodable>(_ type: String, _ body: T, id: String) throws -> LedgerInput {
        try input(type, body, id: id)
    }

    static let origin = CommandOrigin(requestedBy: "ops@example.com", note: "test")

    @Test func aPaymentPaysTheOldestInvoiceFirstAndLeavesTheRestOpen() throws {
        let ledger = LedgerDecisions(today: Self.today)
        let account = Self.account("A1", id: 1)
        ledger.add(account)
        try ledger.apply(Self.invoice("I1", total: 10_000, posted: "2026-05-01"))
        try ledger.apply(Self.invoice("I2", total: 5_000, posted: "2026-05-02"))
        try ledger.apply(Self.payment("P1", amount: 12_000))

        #expect(ledger.journal.map(\.kind) == [.document(.invoice), .document(.invoice), .document(.payment)])
        #expect(account.balance == 3_000)
        #expect(account.book.remaining["I1"] == 0)
        #expect(account.book.remaining["I2"] == 3_000)
        #expect(account.applied.map(\.debitID) == ["I1", "I2"])
        #expect(account.applied.map(\.amount.minor) == [10_000, 2_000])

        let events = ledger.events()
        #expect(
            events.map(\.type) == [
                LedgerTypes.allocationsApplied, LedgerTypes.invoiceSettled, LedgerTypes.balanceChanged,
            ])
        let settled = try events[1].body(as: DebitStateChanged.self)
        #expect(settled.document == "I1" && settled.state == "paid" && settled.openMinor == 0)
        let balance = try events[2].body(as: BalanceChanged.self)
        #expect(balance.previousMinor == 0 && balance.balanceMinor == 3_000)
        #expect(balance.movements.map(\.amountMinor) == [10_000, 5_000, -12_000])
    }

    @Test func onAgainstItemAccountsAPaymentNamingAnInvoicePaysThatOneFirst() throws {
        let ledger = LedgerDecisions(today: Self.today)
        let account = Self.account("A1", id: 1, principle: .againstItem)
        ledger.add(account)
        try ledger.apply(Self.invoice("I1", total: 10_000, posted: "2026-05-01"))
        try ledger.apply(Self.invoice("I2", total: 5_000, posted: "2026-05-02"))
        try ledger.apply(Self.payment("P1", amount: 5_000, named: ["INV-I2"]))

        #expect(account.book.remaining["I1"] == 10_000)
        #expect(account.book.remaining["I2"] == 0)
        #expect(account.applied.last?.reason == .namedItem("INV-I2"))
    }

    @Test func aPaymentPostedBeforeOrTwiceInTheBatchChangesNothing() throws {
        let ledger = LedgerDecisions(today: Self.today)
        let account = Self.account("A1", id: 1)
        ledger.add(account)
        ledger.markPosted(.document(.payment), "P0")
        try ledger.apply(Self.payment("P0", amount: 1_000))
        try ledger.apply(Self.payment("P1", amount: 2_000))
        try ledger.apply(Self.payment("P1", amount: 2_000))

        #expect(ledger.journal.map(\.documentID) == ["P1"])
        #expect(account.balance == -2_000)
    }

    @Test func moneyForAnAccountThatCannotTakeItIsHeldInSuspense() throws {
        let ledger = LedgerDecisions(today: Self.today)
        let terminated = Self.account("A2", id: 2)
        ledger.add(terminated)
        try ledger.apply(Self.payment("P1", amount: 2_500, account: "NOPE"))

        #expect(ledger.journal.map(\.kind) == [.unidentifiedPayment])
        #expect(ledger.journal[0].accountID == nil)
        #expect(ledger.isPosted(.unidentifiedPayment, "P1"))
        let events = ledger.events()
        #expect(events.map(\.type) == [LedgerTypes.paymentHeldInSuspense])
        #expect(events[0].topic == Topics.ledgerEvents.name)
        let held = try events[0].body(as: PaymentUnidentified.self)
        #expect(held.reason == "account NOPE does not exist" && held.amountMinor == 2_500)

        // Moving it out of suspense onto an account that exists posts it there, once.
        try ledger.apply(
            Self.input(
                LedgerTypes.paymentIdentified,
                PaymentIdentified(
                    paymentId: "P1", account: "A2", amountMinor: 2_500, currency: "EUR", channel: "suspense",
                    receivedOn: "2026-05-20")))
        #expect(ledger.journal.map(\.kind) == [.unidentifiedPayment, .document(.payment)])
        #expect(terminated.balance == -2_500)
    }

    @Test func aReversalBeforeItsPaymentIsParkedThenPostedWithIt() throws {
        let ledger = LedgerDecisions(today: Self.today)
        let account = Self.account("A1", id: 1)
        ledger.add(account)
        let reversal = try Self.input(
            LedgerTypes.paymentReversed,
            PaymentReversed(
                reversalId: "R1", paymentId: "P1", account: "A1", amountMinor: 4_000, currency: "EUR",
                channel: "bank", reversedOn: "2026-05-21", reason: "returned"))
        try ledger.apply(reversal)
        #expect(ledger.journal.isEmpty)
        #expect(ledger.newParked.map(\.reversal.reversalId) == ["R1"])
        #expect(ledger.newParked[0].reason == "payment P1 is not posted on account A1")

        try ledger.apply(Self.payment("P1", amount: 4_000))
        #expect(ledger.journal.map(\.kind) == [.document(.payment), .document(.paymentReversal)])
        #expect(ledger.resolvedParked == ["R1"])
        #expect(account.balance == 0)
        #expect(account.closedBy["P1"] == "R1")
    }

    @Test func aRefundAboveTheCreditIsRefusedAndChangesNothing() throws {
        let ledger = LedgerDecisions(today: Self.today)
        let account = Self.account("A1", id: 1)
        ledger.add(account)
        try ledger.apply(Self.payment("P1", amount: 5_000))
        try ledger.apply(
            Self.command(
                LedgerTypes.refund, MoneyCommand(origin: Self.origin, account: "A1", amount: "60.00"), id: "c1"))

        #expect(ledger.journal.map(\.kind) == [.document(.payment)])
        #expect(ledger.outcomes.count == 1)
        let outcome = ledger.outcomes[0].outcome
        #expect(outcome.status == "refused" && outcome.reasonCode == "insufficient_credit")
        #expect(outcome.reason == "refund of 60.00 is above the credit of 50.00 on A1")
        #expect(ledger.refunds.isEmpty)
        #expect(account.balance == -5_000)
    }

    @Test func aRefundWithinTheCreditIsPostedDueAndCarriedOutOnce() throws {
        let ledger = LedgerDecisions(today: Self.today)
        let account = Self.account("A1", id: 1)
        ledger.add(account)
        try ledger.apply(Self.payment("P1", amount: 5_000))
        let refund = try Self.command(
            LedgerTypes.refund, MoneyCommand(origin: Self.origin, account: "A1", amount: "20.00"), id: "c2")
        try ledger.apply(refund)
        try ledger.apply(refund)

        #expect(ledger.journal.map(\.kind) == [.document(.payment), .document(.refund)])
        #expect(ledger.journal[1].commandID == "c2" && ledger.journal[1].origin?.requestedBy == "ops@example.com")
        #expect(ledger.outcomes.map(\.outcome.status) == ["done"])
        #expect(ledger.outcomes[0].outcome.result["state"] == "due")
        #expect(ledger.refunds["RF-c2"]?.state == .due)
        #expect(ledger.refunds["RF-c2"]?.amountMinor == 2_000)
        #expect(account.balance == -3_000)
        #expect(account.book.remaining["RF-c2"] == 0)
    }

    @Test func aCommandAlreadyCarriedOutIsNotCarriedOutAgain() throws {
        let ledger = LedgerDecisions(today: Self.today)
        ledger.add(Self.account("A1", id: 1))
        ledger.finishedCommands = ["c3"]
        try ledger.apply(
            Self.command(
                LedgerTypes.paymentRecord, MoneyCommand(origin: Self.origin, account: "A1", amount: "10.00"), id: "c3"))
        #expect(ledger.journal.isEmpty && ledger.outcomes.isEmpty)
    }

    @Test func aCancellationMustMatchThePostedInvoice() throws {
        let ledger = LedgerDecisions(today: Self.today)
        ledger.add(Self.account("A1", id: 1))
        try ledger.apply(Self.invoice("I1", total: 10_000))
        let cancellation = try Self.input(
            LedgerTypes.documentPosted,
            DocumentPosted(
                documentId: "C1", kind: "invoice-cancellation", account: "A1", number: "IC-1", currency: "EUR",
                netMinor: 9_000, taxMinor: 0, totalMinor: 9_000, postedOn: "2026-05-03", relatedDocumentId: "I1"))
        #expect(throws: DomainError.self) { try ledger.apply(cancellation) }
    }

    @Test func inputsAreCheckedWhenDecoded() throws {
        #expect(throws: MessageRejection(code: "invalid_amount", reason: "amount 0 must be positive")) {
            try Self.payment("P1", amount: 0)
        }
        let mismatch = #expect(throws: MessageRejection.self) {
            try Self.input(
                LedgerTypes.documentPosted,
                DocumentPosted(
                    documentId: "I1", kind: "invoice", account: "A1", number: "INV-1", currency: "EUR",
                    netMinor: 100, taxMinor: 20, totalMinor: 110, postedOn: "2026-05-01"))
        }
        #expect(mismatch?.reason.contains("total_minor 110 is not net_minor + tax_minor") == true)
        let badDate = #expect(throws: MessageRejection.self) {
            try Self.input(
                LedgerTypes.paymentIdentified,
                PaymentIdentified(
                    paymentId: "P1", account: "A1", amountMinor: 100, currency: "EUR", channel: "bank",
                    receivedOn: "2026-02-30"))
        }
        #expect(badDate?.code == "invalid_payload")
        #expect(badDate?.reason.contains("received_on: ") == true)
        // Decoded once: the fields arrive as domain values.
        guard case .payment(let payment) = try Self.payment("P9", amount: 1_234) else {
            Issue.record("not a payment")
            return
        }
        #expect(payment.fields.amount == Money(minor: 1_234, currency: Self.eur))
        #expect(payment.fields.on == (try LocalDate(year: 2026, month: 5, day: 20)))
        #expect(payment.fields.channel == (try LedgerAccount.forPaymentChannel("bank")))
    }

    @Test func entryKindsReadBackAsTheyAreStored() {
        let kinds = DocumentKind.allCases.map(EntryKind.document) + [.bankFee, .unidentifiedPayment, .refundPayout]
        for kind in kinds { #expect(EntryKind(rawValue: kind.rawValue) == kind) }
        #expect(Set(kinds.map(\.rawValue)).count == kinds.count)
        #expect(EntryKind(rawValue: "bill") == nil)
    }

    @Test func commandKindsAreTheLedgerCommandTypes() {
        #expect(LedgerCommand.Kind.allCases.map(\.type) == LedgerTypes.commands)
        for type in LedgerTypes.commands { #expect(LedgerCommand.Kind(type: type)?.type == type) }
        #expect(LedgerCommand.Kind(type: LedgerTypes.paymentIdentified) == nil)
    }
}
