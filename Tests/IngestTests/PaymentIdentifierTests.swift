import BillingIngest
import Testing

@Suite("tying payments to clients")
struct PaymentIdentifierTests {
    let directory = IdentificationDirectory(
        accounts: [
            "A-1001": KnownAccount(number: "A-1001", currency: "EUR", isTerminated: false),
            "A-1002": KnownAccount(number: "A-1002", currency: "EUR", isTerminated: false),
            "A-2001": KnownAccount(number: "A-2001", currency: "USD", isTerminated: false),
            "A-3001": KnownAccount(number: "A-3001", currency: "EUR", isTerminated: true),
            "539007547034": KnownAccount(number: "539007547034", currency: "EUR", isTerminated: false),
        ],
        documents: ["INV-2026-000042": "A-1002", "ORDER-77": "A-1001"],
        payers: ["DE89370400440532013000": "A-1001"])

    func identify(_ clues: PaymentClues, _ currency: String = "EUR") -> Identification {
        PaymentIdentifier.identify(clues, currency: currency, directory: directory)
    }

    @Test("ISO 11649 check digits, checked by the rules (values computed by hand, and the fixtures' own)")
    func creditorReferences() {
        #expect(PaymentIdentifier.creditorReferenceBody("RF18 5390 0754 7034") == "539007547034")
        #expect(PaymentIdentifier.creditorReferenceBody("RF18539007547035") == nil)
        #expect(PaymentIdentifier.creditorReferenceBody("RF0812344") == "12344")
        #expect(PaymentIdentifier.creditorReferenceBody("RF7812345 ") == "12345")
        #expect(
            PaymentIdentifier.creditorReferenceBody("RF98123456789012") == nil, "the FI sample's RF fails its check")
        #expect(PaymentIdentifier.creditorReferenceBody("XX18539007547034") == nil)
    }

    @Test("the rules in order: stated account, account in remittance, document, creditor reference, payer")
    func rules() {
        #expect(
            identify(PaymentClues(texts: ["x"], statedAccount: "A-1002"))
                == .identified(account: "A-1002", rule: "stated-account", evidence: "A-1002"))
        #expect(
            identify(PaymentClues(texts: ["Client a-1001, invoice INV-2026-000042."]))
                == .identified(account: "A-1001", rule: "account-in-remittance", evidence: "A-1001"))
        #expect(
            identify(PaymentClues(texts: ["Payment for INV-2026-000042."]))
                == .identified(account: "A-1002", rule: "document-in-remittance", evidence: "INV-2026-000042"))
        #expect(
            identify(PaymentClues(creditorReference: "RF18 5390 0754 7034"))
                == .identified(account: "539007547034", rule: "creditor-reference", evidence: "RF18539007547034"))
        #expect(
            identify(PaymentClues(texts: ["thanks"], payerAccount: "DE89 3704 0044 0532 0130 00"))
                == .identified(account: "A-1001", rule: "payer-account", evidence: "DE89370400440532013000"))
    }

    @Test("a configured marker reads the payer's own form of the account number, after the other rules")
    func configuredMarker() {
        var configured = directory
        configured.accountMarkers = [("Kd-Nr.", "A-")]
        #expect(
            PaymentIdentifier.identify(
                PaymentClues(texts: ["Zahlung Kd-Nr.: 1002 Juni"]), currency: "EUR", directory: configured)
                == .identified(account: "A-1002", rule: "configured-marker", evidence: "A-1002"))
        #expect(
            PaymentIdentifier.identify(
                PaymentClues(texts: ["Zahlung Kd-Nr.: 1002 Juni"]), currency: "EUR", directory: directory)
                != .identified(account: "A-1002", rule: "configured-marker", evidence: "A-1002"),
            "without the marker configured the number alone names nobody")
    }

    @Test("ambiguous, terminated, other-currency and unmatched payments go to suspense with their reasons")
    func suspense() {
        guard case .unidentified(let ambiguous, _) = identify(PaymentClues(texts: ["A-1001 and A-1002"])) else {
            Issue.record("two accounts named must not pick one")
            return
        }
        #expect(ambiguous.contains { $0.contains("several accounts") })
        #expect(
            identify(PaymentClues(texts: ["A-1001 A-1002"], payerAccount: "DE89370400440532013000"))
                == .identified(account: "A-1001", rule: "payer-account", evidence: "DE89370400440532013000"),
            "an ambiguous rule gives way to the next")
        #expect(
            identify(PaymentClues(texts: ["A-3001"]))
                == .unidentified(reasons: ["account A-3001 is terminated"], account: "A-3001"))
        #expect(
            identify(PaymentClues(texts: ["A-2001"]))
                == .unidentified(reasons: ["the payment is in EUR, account A-2001 in USD"], account: "A-2001"))
        guard case .unidentified(let bad, nil) = identify(PaymentClues(creditorReference: "RF18539007547035")) else {
            Issue.record("a bad RF must not identify")
            return
        }
        #expect(bad.contains { $0.contains("check digits") })
        #expect(
            identify(PaymentClues())
                == .unidentified(
                    reasons: ["the payment carries no remittance, reference or payer account"], account: nil))
    }
}
