import BillingContracts
import BillingIngest
import BillingSupport
import Foundation
import Testing

extension Integration {
    /// The system as an outside client meets it: everything goes in through Kafka with kcat (a
    /// client nobody here wrote), everything comes out through `billing-ctl --json` and SQL.
    @Suite("a real client: kcat in, billing-ctl and psql out")
    struct RealClientTests {
        static let secret = "whsec_kcat"

        /// Produces one message with kcat: the file's bytes as the value, the headers as given.
        static func kcat(
            _ ledger: LedgerScenario, topic: String, key: String, headers: [(String, String)], file: String
        )
            throws
        {
            let arguments =
                ["-P", "-b", ledger.stack.bootstrapServers, "-t", topic + ledger.suffix, "-k", key]
                + headers.flatMap { ["-H", "\($0.0)=\($0.1)"] } + [file]
            let result = try runProcess("/usr/bin/kcat", arguments, environment: [:])
            guard result.status == 0 else { throw HarnessError("kcat \(arguments): \(result.output)") }
        }

        /// A CloudEvent in binary mode, as any client can write it: headers and a JSON body in a file.
        static func event(_ ledger: LedgerScenario, topic: String, key: String, type: String, id: String, json: String)
            throws
        {
            let file = try PaymentIngestTests.write(json, "\(id).json")
            try kcat(
                ledger, topic: topic, key: key,
                headers: [
                    ("ce_specversion", "1.0"), ("ce_id", id), ("ce_type", type), ("ce_source", "kcat"),
                    ("ce_time", "2026-06-01T00:00:00Z"), ("content-type", "application/json"),
                ], file: file)
        }

        static func sendEverything(_ ledger: LedgerScenario, signedAt: Int64) throws {
            try event(
                ledger, topic: Topics.ledgerCommands.name, key: "K-1001", type: LedgerTypes.accountOpen,
                id: "kcat-open",
                json:
                    #"{"origin":{"requested_by":"kcat"},"number":"K-1001","name":"Kcat Client","currency":"EUR","credit_rule":"days:14"}"#
            )
            try eventually(timeoutMs: 30_000, "the account's copies") {
                try ledger.database.scalar("SELECT count(*) FROM documents.accounts WHERE number = 'K-1001'") == 1
                    && ledger.database.scalar("SELECT count(*) FROM ingest.accounts WHERE account_number = 'K-1001'")
                        == 1
            }
            for (index, price) in ["100.00", "50.00"].enumerated() {
                try event(
                    ledger, topic: Topics.documentCommands.name, key: "K-1001", type: DocumentTypes.create,
                    id: "kcat-invoice-\(index)",
                    json:
                        #"{"origin":{"requested_by":"kcat"},"kind":"invoice","account":"K-1001","reference":"KCAT-\#(index)","lines":[{"description":"Service","quantity":"1","unit_price":"\#(price)","tax_rate":"20"}],"issued_on":"2026-06-01","post":true,"posted_on":"2026-06-01"}"#
                )
            }
            try eventually(timeoutMs: 30_000, "invoices known to payment-ingest") {
                try ledger.database.scalar("SELECT count(*) FROM ingest.documents WHERE name LIKE 'KCAT-%'") == 2
            }
            // A bank statement paying KCAT-0 in full, and a signed gateway payment of 20.00 for the account.
            let statement = try PaymentIngestTests.write(
                PaymentIngestTests.camt(
                    "053", balances: true,
                    [PaymentIngestTests.credit("120.00", reference: "KCAT-BANK-1", remittance: "pays KCAT-0")]
                ).replacingOccurrences(of: "140.00", with: "220.00"), "kcat.xml")
            try kcat(
                ledger, topic: Topics.bankStatementsRaw.name, key: "kcat.xml", headers: [("file_name", "kcat.xml")],
                file: statement)
            let body = Array(
                #"{"id":"evt_kcat","type":"payment_intent.succeeded","created":1780000000,"data":{"object":{"id":"pi_kcat","object":"payment_intent","amount":2000,"amount_received":2000,"currency":"eur","metadata":{"account":"K-1001"}}}}"#
                    .utf8)
            let gatewayFile = try PaymentIngestTests.write(String(decoding: body, as: UTF8.self), "kcat-gateway.json")
            try kcat(
                ledger, topic: Topics.gatewayEventsRaw.name, key: "stripe",
                headers: [
                    (
                        "Stripe-Signature",
                        WebhookSignatureVerifier.header(secret: secret, body: body, timestamp: signedAt)
                    )
                ], file: gatewayFile)
        }

        struct Balance: Decodable {
            struct Open: Decodable {
                let number: String
                let openMinor: Int64
            }
            let balanceMinor: Int64
            let unallocatedCreditMinor: Int64
            let openInvoices: [Open]
        }

        static func balance(_ ledger: LedgerScenario) throws -> Balance {
            let result = try ledger.ctl(["balance", "K-1001", "--json"])
            guard result.status == 0 else { throw HarnessError("balance: \(result.output)") }
            return try ContractJSON.decoder().decode(Balance.self, from: Data(result.output.utf8))
        }

        @Test("commands, a bank statement and a signed gateway event through kcat; a second round changes nothing")
        func kcatClient() throws {
            let ledger = try LedgerScenario(
                invoicers: 1, ingest: true, ingestEnvironment: ["GATEWAY_WEBHOOK_SECRETS": Self.secret])
            let now = Int64(Date().timeIntervalSince1970)
            try Self.sendEverything(ledger, signedAt: now)
            // 120.00 + 60.00 invoiced; 120.00 pays KCAT-0, 20.00 pays part of KCAT-1.
            try eventually(timeoutMs: 30_000, "everything allocated") {
                let balance = try Self.balance(ledger)
                return balance.balanceMinor == 4_000 && balance.openInvoices.count == 1
            }
            let first = try Self.balance(ledger)
            #expect(first.openInvoices.first?.openMinor == 4_000 && first.unallocatedCreditMinor == 0)
            let statement = try ledger.ctl(["statement", "K-1001", "--json"])
            #expect(
                statement.status == 0 && statement.output.contains("\"amount_minor\" : -12000"), "\(statement.output)")
            let counts = {
                try ledger.database.query(
                    """
                    SELECT (SELECT count(*) FROM ledger.journal_entries), (SELECT count(*) FROM ledger.allocations),
                           (SELECT count(*) FROM documents.documents), (SELECT count(*) FROM ingest.statement_lines WHERE identity IS NOT NULL)
                    """
                ).rows.map { row in try (0..<4).map { try row.int64($0) } }
            }
            let before = try counts()

            // Everything again: the same command ids, the same file, the same signed gateway request.
            try Self.sendEverything(ledger, signedAt: now)
            try eventually(timeoutMs: 30_000, "the second round handled") {
                try ledger.database.scalar("SELECT count(*) FROM ingest.files") == 2
                    && ledger.database.scalar("SELECT count(*) FROM ingest.dead_letters") == 1
            }
            sleepThread(milliseconds: 1_000)
            #expect(try counts() == before, "nothing booked twice")
            let after = try Self.balance(ledger)
            #expect(after.balanceMinor == first.balanceMinor)
            #expect(
                try ledger.database.scalar(
                    "SELECT count(*) FROM ingest.dead_letters WHERE reason_code = 'signature_replayed'")
                    == 1, "the same signed gateway request again is a replay")
            try ledger.verify()
        }
    }
}
