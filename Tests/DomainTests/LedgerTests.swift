import BillingDomain
import PropertyBased
import Testing

@Suite("accounts, documents and the journal")
struct LedgerTests {
    func eur(_ text: String) throws -> Money { try Money.parse(text, currency: .eur) }

    @Test("an account is validated in an operator's words")
    func accounts() throws {
        let rule = try CreditRule.parse("day:15,months:1")
        let account = try Account(
            number: "A-1001", name: "Acme", currency: .eur, creditLimit: eur("500.00"), creditRule: rule,
            presentment: .email, email: "billing@acme.example")
        #expect(account.acceptsPayments && account.acceptsInvoices)
        var terminated = account
        terminated.state = .terminated
        #expect(!terminated.acceptsPayments && !terminated.acceptsInvoices)
        #expect(throws: DomainError.invalidAccount("bills by SMS need a phone number")) {
            try Account(number: "A-1", name: "x", currency: .eur, creditRule: rule, presentment: .sms)
        }
        #expect(throws: DomainError.self) { try Account(number: "A 1", name: "x", currency: .eur, creditRule: rule) }
        #expect(throws: DomainError.self) {
            try Account(
                number: "A-1", name: "x", currency: .eur, creditLimit: Money(minor: 1, currency: .usd), creditRule: rule
            )
        }
        #expect(throws: DomainError.self) {
            try Account(number: "A-1", name: "x", currency: .eur, creditRule: rule, email: "nope")
        }
        #expect(throws: DomainError.self) {
            try Account(number: "A-1", name: "x", currency: .eur, creditRule: rule, phone: "12ab")
        }
    }

    @Test("debit documents raise the balance, credit documents lower it")
    func sides() {
        let debits = DocumentKind.allCases.filter { $0.side == .debit }
        #expect(Set(debits) == [.invoice, .refund, .transferOut, .paymentReversal])
        #expect(Set(DocumentKind.allCases.map(\.numberPrefix)).count == DocumentKind.allCases.count)
    }

    @Test("draft becomes posted or rejected, and nothing else moves")
    func lifecycle() throws {
        #expect(try DocumentState.draft.transition(to: .posted) == .posted)
        #expect(try DocumentState.draft.transition(to: .rejected) == .rejected)
        #expect(throws: DomainError.self) { try DocumentState.posted.transition(to: .rejected) }
        #expect(throws: DomainError.self) { try DocumentState.rejected.transition(to: .posted) }
        #expect(throws: DomainError.self) { try DocumentState.draft.transition(to: .draft) }
    }

    @Test("legal numbers read INV-2026-000123 and parse back")
    func numbers() throws {
        let number = try DocumentNumber(prefix: "INV", year: 2026, sequence: 123)
        #expect(number.description == "INV-2026-000123")
        #expect(try DocumentNumber.parse("INV-2026-000123") == number)
        #expect(try DocumentNumber(prefix: "INV", year: 2026, sequence: 1_234_567).description == "INV-2026-1234567")
        #expect(throws: DomainError.self) { try DocumentNumber(prefix: "INV", year: 2026, sequence: 0) }
        #expect(throws: DomainError.self) { try DocumentNumber.parse("INV-2026") }
    }

    @Test("each document's journal entry balances and moves the client's AR by its signed amount")
    func entries() throws {
        let net = try eur("100.00")
        let tax = try eur("20.00")
        let bank = LedgerAccount.cash(channel: "bank")
        let cases: [(JournalSource, Int64)] = [
            (.invoice(client: "A", net: net, tax: tax), 12000),
            (.creditNote(client: "A", net: net, tax: tax), -12000),
            (.invoiceCancellation(client: "A", net: net, tax: tax), -12000),
            (.payment(client: "A", amount: net, channel: bank), -10000),
            (.paymentReversal(client: "A", amount: net, channel: bank), 10000),
            (.refund(client: "A", amount: net), 10000),
            (.transferOut(client: "A", amount: net), 10000),
            (.transferIn(client: "A", amount: net), -10000),
            (.writeOff(client: "A", amount: net, category: "bad-debt"), -10000),
            (.unidentifiedPayment(amount: net, channel: bank), 0),
            (.refundPayout(amount: net, channel: bank), 0),
            (.bankFee(amount: net, channel: bank), 0),
        ]
        for (source, change) in cases {
            let entry = try JournalEntry(for: source)
            #expect(entry.postings.reduce(0) { $0 + $1.amount.minor } == 0, "\(source)")
            #expect(entry.balanceChange(of: "A") == change, "\(source)")
        }
        let suspense = try JournalEntry(for: .unidentifiedPayment(amount: net, channel: bank))
        #expect(suspense.postings.contains(Posting(.suspense, try net.negated())))
        let payout = try JournalEntry(for: .refundPayout(amount: net, channel: bank))
        #expect(payout.postings == [Posting(.refundsPayable, net), Posting(bank, try net.negated())])
        let fee = try JournalEntry(for: .bankFee(amount: net, channel: bank))
        #expect(fee.postings == [Posting(.bankFees, net), Posting(bank, try net.negated())])
    }

    @Test("a payment's channel names where its money is")
    func paymentChannels() throws {
        #expect(try LedgerAccount.forPaymentChannel("desk:D1") == .cashDesk("D1"))
        #expect(try LedgerAccount.forPaymentChannel("suspense") == .suspense)
        #expect(
            try LedgerAccount.forPaymentChannel("bank:DE89370400440532013000").code
                == "CASH:bank:DE89370400440532013000")
        #expect(throws: DomainError.self) { try LedgerAccount.forPaymentChannel("") }
        #expect(throws: DomainError.self) { try LedgerAccount.forPaymentChannel("bank account") }
        // Control characters are not visible either; 70 characters fit, 71 do not.
        #expect(throws: DomainError.self) { try LedgerAccount.forPaymentChannel("bank:\u{7}DE89") }
        #expect(throws: DomainError.self) { try LedgerAccount.forPaymentChannel("bank:DE89\u{7F}") }
        #expect(throws: DomainError.self) { try LedgerAccount.forPaymentChannel("gateway:caf\u{E9}") }
        #expect(try LedgerAccount.forPaymentChannel(String(repeating: "x", count: 70)).code.hasSuffix("x"))
        #expect(throws: DomainError.self) { try LedgerAccount.forPaymentChannel(String(repeating: "x", count: 71)) }
        #expect(try WriteOffCategory.parse("small-balance").ledgerAccount.code == "WRITE_OFF:small-balance")
        #expect(throws: DomainError.self) { try WriteOffCategory.parse("because") }
    }

    @Test("an unbalanced set of postings is refused")
    func unbalanced() throws {
        #expect(throws: DomainError.self) {
            try JournalEntry(postings: [Posting(.revenue, try eur("1.00")), Posting(.taxPayable, try eur("-0.99"))])
        }
        #expect(throws: DomainError.self) {
            try JournalEntry(postings: [
                Posting(.revenue, try eur("1.00")), Posting(.taxPayable, Money(minor: -100, currency: .usd)),
            ])
        }
    }

    @Test("the AR control total equals the sum of client balances over any sequence of documents")
    func arControl() async {
        let generator = PropertyBased.zip(Gen.int(in: 0...9), Gen.int(in: 0...3), Gen.int64(in: 1...100_000)).array(
            of: 1...40)
        await propertyCheck(count: 200, input: generator) { steps in
            var postings: [Posting] = []
            for (kind, client, cents) in steps {
                let amount = Money(minor: cents, currency: .eur)
                let name = "C\(client)"
                let source: JournalSource
                switch kind {
                case 0: source = .invoice(client: name, net: amount, tax: Money(minor: cents / 5, currency: .eur))
                case 1: source = .creditNote(client: name, net: amount, tax: .zero(.eur))
                case 2: source = .payment(client: name, amount: amount, channel: .cash(channel: "bank"))
                case 3: source = .unidentifiedPayment(amount: amount, channel: .cash(channel: "bank"))
                case 4: source = .paymentReversal(client: name, amount: amount, channel: .cash(channel: "bank"))
                case 5: source = .refund(client: name, amount: amount)
                case 6: source = .transferOut(client: name, amount: amount)
                case 7: source = .transferIn(client: name, amount: amount)
                case 8: source = .writeOff(client: name, amount: amount, category: "bad-debt")
                default: source = .invoiceCancellation(client: name, net: amount, tax: .zero(.eur))
                }
                postings += try JournalEntry(for: source).postings
            }
            let control = postings.filter { $0.account.code == "AR" }.reduce(Int64(0)) { $0 + $1.amount.minor }
            let clients = Set(postings.compactMap(\.account.client))
            let sumOfBalances = clients.reduce(Int64(0)) { total, client in
                total + postings.filter { $0.account.client == client }.reduce(0) { $0 + $1.amount.minor }
            }
            #expect(control == sumOfBalances)
            #expect(postings.reduce(0) { $0 + $1.amount.minor } == 0, "the whole ledger balances")
        }
    }
}
