import BillingContracts
import BillingSupport
import Foundation
import Testing

extension Integration {
    /// `billing-ctl … --idempotency-key KEY`: a retry after exit 3 ("not delivered", timeout) must
    /// not post money twice, and a key used for two different commands must not hide the second.
    @Suite("operator commands safe to retry")
    struct IdempotencyKeys {
        @Test("the same key and content posts one payment and prints the same outcome; other content is refused")
        func paymentTwice() throws {
            let ledger = try LedgerScenario()
            try ledger.openAccount("A-8001")
            let record = [
                "payment", "record", "--account", "A-8001", "--amount", "12.50", "--idempotency-key", "pay-8001-1",
                "--json",
            ]
            let first = try ledger.done(record)
            let second = try ledger.done(record)
            #expect(first == second, "the retry prints the first outcome")
            #expect(first.contains("\"command_id\" : \"key:pay-8001-1\""), "\(first)")
            #expect(try ledger.balance("A-8001").balanceMinor == -1_250, "one payment, not two")
            #expect(
                try ledger.database.scalar(
                    "SELECT count(*) FROM ledger.journal_entries WHERE document_kind = 'payment'") == 1)

            let other = try ledger.ctl([
                "payment", "record", "--account", "A-8001", "--amount", "13.00", "--idempotency-key", "pay-8001-1",
                "--wait",
            ])
            #expect(other.status == 1 && other.output.contains("idempotency_key_reused"), "\(other.output)")
            let otherType = try ledger.ctl([
                "refund", "--account", "A-8001", "--amount", "12.50", "--idempotency-key", "pay-8001-1", "--wait",
            ])
            #expect(otherType.status == 1 && otherType.output.contains("idempotency_key_reused"), "\(otherType.output)")
            #expect(try ledger.balance("A-8001").balanceMinor == -1_250)

            // Sent without waiting (as a call that exited 3 may have been), then retried with --wait.
            let sent = try ledger.ctl([
                "payment", "record", "--account", "A-8001", "--amount", "1.00", "--idempotency-key", "pay-8001-2",
            ])
            #expect(sent.status == 0, "\(sent.output)")
            let retried = try ledger.done([
                "payment", "record", "--account", "A-8001", "--amount", "1.00", "--idempotency-key", "pay-8001-2",
            ])
            #expect(retried.contains("done: ") && retried.contains("balance_minor=-1350"), "\(retried)")
            sleepThread(milliseconds: 1_000)
            #expect(try ledger.balance("A-8001").balanceMinor == -1_350)
            #expect(
                try ledger.database.scalar(
                    "SELECT count(*) FROM ledger.journal_entries WHERE document_kind = 'payment'") == 2)

            let bad = try ledger.ctl([
                "payment", "record", "--account", "A-8001", "--amount", "1.00", "--idempotency-key", "has space",
            ])
            #expect(bad.status == 2, "\(bad.output)")
            try ledger.verify()
        }

        @Test("an import under the same key and bytes is read once and reported again; other bytes are refused")
        func importTwice() throws {
            let ledger = try LedgerScenario(ingest: true)
            let paid = PaymentIngestTests.credit("5.00", reference: "IDEM-1", remittance: "nobody")
            let path = try PaymentIngestTests.write(PaymentIngestTests.camt("054", balances: false, [paid]), "k.xml")
            let first = try ledger.ctl(["import", path, "--idempotency-key", "file-1", "--wait", "--json"])
            let second = try ledger.ctl(["import", path, "--idempotency-key", "file-1", "--wait", "--json"])
            #expect(first.status == 0 && second.status == 0, "\(first.output) \(second.output)")
            #expect(first.output == second.output)
            #expect(try ledger.database.scalar("SELECT count(*) FROM ingest.files") == 1)
            let otherPath = try PaymentIngestTests.write(
                PaymentIngestTests.camt("054", balances: false, [paid, paid]), "k2.xml")
            let other = try ledger.ctl(["import", otherPath, "--idempotency-key", "file-1", "--wait"])
            #expect(other.status == 1 && other.output.contains("idempotency_key_reused"), "\(other.output)")
            #expect(try ledger.database.scalar("SELECT count(*) FROM ingest.files") == 1)
        }
    }
}
