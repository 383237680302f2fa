import BillingContracts
import BillingIngest
import BillingKafka
import BillingSupport
import BillingTestSupport
import Foundation
import Testing

extension Integration {
    @Suite("payment-ingest: statement files to payments")
    struct PaymentIngestTests {
        struct Report: Decodable {
            struct Statement: Decodable {
                let account: String
                let currency: String?
                let openingBalanceMinor: Int64?
                let closingBalanceMinor: Int64?
                let reconciles: Bool?
                let entries: Int
                let creditsCount: Int
                let creditsMinor: Int64
                let debitsCount: Int
                let debitsMinor: Int64
            }
            struct Lines: Decodable {
                let booked, duplicate, identified, unidentified, notBooked, rejected, bankFees: Int
            }
            let fileId: String
            let format: String
            let statements: [Statement]
            let lines: Lines
        }

        static func importFile(_ ledger: LedgerScenario, _ path: String, registry: Bool = false) throws -> Report {
            let result = try ledger.ctl(["import", path, "--wait", "--json"] + (registry ? ["--registry"] : []))
            guard result.status == 0, let start = result.output.firstIndex(of: "{") else {
                throw HarnessError("import \(path): \(result.output)")
            }
            return try ContractJSON.decoder().decode(Report.self, from: Data(result.output[start...].utf8))
        }

        static func write(_ text: String, _ name: String) throws -> String {
            let path = NSTemporaryDirectory() + "\(UUID().uuidString.prefix(8))-\(name)"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }

        /// A camt document with the given entries (`<Ntry>` bodies).
        static func camt(_ kind: String, balances: Bool, _ entries: [String]) -> String {
            let message = kind == "053" ? "BkToCstmrStmt" : "BkToCstmrDbtCdtNtfctn"
            let statement = kind == "053" ? "Stmt" : "Ntfctn"
            let balance = { (code: String, amount: String) in
                #"<Bal><Tp><CdOrPrtry><Cd>\#(code)</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">\#(amount)</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-06-01</Dt></Dt></Bal>"#
            }
            return
                #"<?xml version="1.0" encoding="UTF-8"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.\#(kind).001.08"><\#(message)><GrpHdr><MsgId>M1</MsgId></GrpHdr><\#(statement)><Id>S-\#(kind)</Id><Acct><Id><IBAN>DE02120300000000202051</IBAN></Id><Ccy>EUR</Ccy></Acct>"#
                + (balances ? balance("OPBD", "100.00") + balance("CLBD", "140.00") : "")
                + entries.joined() + "</\(statement)></\(message)></Document>"
        }

        static func credit(_ amount: String, reference: String, remittance: String) -> String {
            #"<Ntry><Amt Ccy="EUR">\#(amount)</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2026-06-01</Dt></BookgDt><AcctSvcrRef>\#(reference)</AcctSvcrRef><NtryDtls><TxDtls><Refs><EndToEndId>E2E-\#(reference)</EndToEndId></Refs><RmtInf><Ustrd>\#(remittance)</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>"#
        }

        @Test("billing-ctl import on a real file prints the report; importing it again books nothing")
        func realFileTwice() throws {
            let ledger = try LedgerScenario(ingest: true)
            let path = Fixtures.bank("billing-camt053-reversed-direct-debits.xml")
            let first = try Self.importFile(ledger, path)
            #expect(first.format == "camt.053.001.02" && first.statements.count == 1)
            let statement = first.statements[0]
            #expect(statement.account == "NL91ABNA0417164300" && statement.currency == "EUR")
            #expect(statement.openingBalanceMinor == 841_250 && statement.closingBalanceMinor == 800_000)
            #expect(statement.reconciles == false && statement.entries == 3)
            #expect((statement.creditsCount, statement.creditsMinor) == (1, 102_075))
            #expect((statement.debitsCount, statement.debitsMinor) == (2, 55_740))
            #expect(
                (first.lines.booked, first.lines.duplicate, first.lines.identified, first.lines.unidentified)
                    == (4, 0, 0, 4))
            let human = try ledger.ctl(["import", path, "--wait"])
            #expect(human.status == 0 && human.output.contains("reconciles: NO"), "\(human.output)")
            #expect(human.output.contains("duplicate 4"), "\(human.output)")
            let third = try Self.importFile(ledger, path)
            #expect((third.lines.booked, third.lines.duplicate) == (0, 4))
            #expect(
                try ledger.database.scalar("SELECT count(*) FROM ingest.statement_lines WHERE identity IS NOT NULL")
                    == 4)
            #expect(try ledger.database.scalar("SELECT count(*) FROM ingest.files") == 3, "every import is kept, raw")
            // The unidentified credit waits in suspense; the reversals of unknown payments are parked.
            try eventually(timeoutMs: 30_000, "suspense and parked reversals") {
                try ledger.database.scalar(
                    "SELECT count(*) FROM ledger.journal_entries WHERE document_kind = 'unidentified-payment'") == 1
                    && ledger.database.scalar("SELECT count(*) FROM ledger.parked_reversals") == 2
            }
            try ledger.verify()
        }

        @Test("a file read at an offset an earlier log used is booked: nothing is identified by its offset")
        func offsetsUsedBefore() throws {
            let ledger = try LedgerScenario(ingest: true)
            let before = Self.credit("7.00", reference: "BANKREF-OLD", remittance: "earlier log")
            let earlier = try Self.importFile(
                ledger, try Self.write(Self.camt("054", balances: false, [before]), "old.xml"))
            #expect(earlier.lines.booked == 1)
            // The records an earlier log (a broker since restarted empty) left: files and dead
            // letters at every offset the next file could be read at.
            try ledger.database.query(
                """
                INSERT INTO ingest.files (file_id, file_name, format, encoding, parser_version, content_sha256,
                    size_bytes, raw, source_topic, source_partition, source_offset, report)
                SELECT 'earlier-' || p || '-' || o, file_name, format, encoding, parser_version, content_sha256,
                    size_bytes, raw, source_topic, p, o, report
                FROM ingest.files, generate_series(0, 2) AS p, generate_series(0, 19) AS o WHERE file_id = $1
                """, [earlier.fileId])
            try ledger.database.query(
                """
                INSERT INTO ingest.dead_letters (source_topic, source_partition, source_offset, headers, payload,
                    reason_code, reason)
                SELECT source_topic, p, o, '', '', 'earlier', 'from an earlier log'
                FROM ingest.files, generate_series(0, 2) AS p, generate_series(0, 19) AS o WHERE file_id = $1
                """, [earlier.fileId])
            let fresh = Self.credit("8.00", reference: "BANKREF-NEW", remittance: "new log")
            let report = try Self.importFile(
                ledger, try Self.write(Self.camt("054", balances: false, [fresh]), "new.xml"))
            #expect((report.lines.booked, report.lines.duplicate) == (1, 0))
            #expect(
                try ledger.database.scalar(
                    "SELECT count(*) FROM ingest.dead_letters WHERE reason_code <> 'earlier'") == 0)
            // The same bytes sent twice without a file_id: two imports, named by their content and
            // produce time (not their offsets), whose lines book once.
            let bytes = Array(Self.camt("054", balances: false, [fresh]).utf8)
            for _ in 0..<2 {
                let copy = try ledger.producer.send(
                    [
                        KafkaOutgoingMessage(
                            topic: Topics.bankStatementsRaw.name + ledger.suffix, key: Array("raw".utf8), value: bytes,
                            headers: [KafkaHeader(name: StatementFileHeaders.format, text: "camt")])
                    ], timeoutMs: 30_000)
                #expect(copy.allSatisfy { $0.isDelivered })
                sleepThread(milliseconds: 20)
            }
            try eventually(timeoutMs: 30_000, "the headerless files read") {
                try ledger.database.scalar("SELECT count(*) FROM ingest.files WHERE file_id LIKE 'sha256:%@%'") == 2
            }
            #expect(try ledger.database.scalar("SELECT count(*) FROM ingest.dead_letters WHERE reason_code <> 'earlier'") == 0)
            #expect(
                try ledger.database.scalar(
                    "SELECT count(*) FROM ingest.statement_lines WHERE bank_reference = 'BANKREF-NEW' AND identity IS NOT NULL"
                ) == 1)
            try ledger.verify()
        }

        @Test("a payment notified alone (camt.054) and then booked in a batch (camt.053) books once")
        func notifiedThenBatched() throws {
            let ledger = try LedgerScenario(ingest: true)
            // The notification's entry has a servicer reference of its own; the statement books the
            // same payment (the payer's end-to-end id E2E-NTF-1) as one part of a batch entry.
            let notified = Self.credit("25.00", reference: "NTF-1", remittance: "first")
            let first = try Self.importFile(
                ledger, try Self.write(Self.camt("054", balances: false, [notified]), "n.xml"))
            #expect((first.lines.booked, first.lines.duplicate) == (1, 0))
            let batch =
                #"<Ntry><Amt Ccy="EUR">40.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2026-06-01</Dt></BookgDt><AcctSvcrRef>BATCH-1</AcctSvcrRef><NtryDtls><TxDtls><Refs><EndToEndId>E2E-NTF-1</EndToEndId></Refs><Amt Ccy="EUR">25.00</Amt><RmtInf><Ustrd>first</Ustrd></RmtInf></TxDtls><TxDtls><Refs><EndToEndId>E2E-OTHER</EndToEndId></Refs><Amt Ccy="EUR">15.00</Amt><RmtInf><Ustrd>second</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>"#
            let second = try Self.importFile(
                ledger,
                try Self.write(
                    Self.camt("053", balances: true, [batch]).replacingOccurrences(of: "140.00", with: "140.00"),
                    "s.xml"))
            // Before: the part was keyed by its end-to-end id and the notification by its entry's
            // reference, so the 25.00 was booked twice.
            #expect((second.lines.booked, second.lines.duplicate) == (1, 1))
            try eventually(timeoutMs: 30_000, "both payments in suspense") {
                try ledger.database.scalar(
                    "SELECT count(*) FROM ledger.journal_entries WHERE document_kind = 'unidentified-payment'") == 2
            }
            try ledger.verify()
        }

        @Test("a line without a bank reference in another statement is booked and flagged, never taken for a duplicate")
        func weakLinesAcrossStatements() throws {
            let ledger = try LedgerScenario(ingest: true)
            let weak =
                #"<Ntry><Amt Ccy="EUR">10.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2026-06-01</Dt></BookgDt><NtryDtls><TxDtls><RmtInf><Ustrd>rent</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>"#
            let morning = Self.camt("054", balances: false, [weak]).replacingOccurrences(
                of: "<Id>S-054</Id>", with: "<Id>MORNING</Id>")
            let afternoon = Self.camt("054", balances: false, [weak]).replacingOccurrences(
                of: "<Id>S-054</Id>", with: "<Id>AFTERNOON</Id>")
            let first = try Self.importFile(ledger, try Self.write(morning, "morning.xml"))
            #expect((first.lines.booked, first.lines.duplicate) == (1, 0))
            // Another statement with a line alike: nothing tells another 10.00 "rent" from the same
            // one. Before: taken for a duplicate, and a real second payment was lost.
            let second = try Self.importFile(ledger, try Self.write(afternoon, "afternoon.xml"))
            #expect((second.lines.booked, second.lines.duplicate) == (1, 0))
            #expect(
                try ledger.database.scalar(
                    "SELECT count(*) FROM ingest.statement_lines WHERE array_to_string(reasons, ' ') LIKE '%a line alike%'")
                    == 1)
            let report = try ledger.ctl(["import", try Self.write(afternoon, "again.xml"), "--wait", "--json"])
            #expect(report.output.contains("\"alike\": 0") && report.output.contains("\"duplicate\": 1"), "\(report.output)")
            // The same statement again books nothing.
            let again = try Self.importFile(ledger, try Self.write(morning, "morning-again.xml"))
            #expect((again.lines.booked, again.lines.duplicate) == (0, 1))
            // Nor does it when its line was booked before weak keys held per statement (version 21):
            // such a line's identity is its key across statements.
            try ledger.database.query(
                """
                UPDATE ingest.statement_lines SET identity = weak_key, weak_key = NULL
                WHERE weak_key IS NOT NULL AND statement_id IN (SELECT statement_id FROM ingest.statements WHERE statement_ref = 'MORNING')
                """)
            let upgraded = try Self.importFile(ledger, try Self.write(morning, "morning-upgraded.xml"))
            #expect((upgraded.lines.booked, upgraded.lines.duplicate) == (0, 1))
            try eventually(timeoutMs: 30_000, "both in suspense") {
                try ledger.database.scalar(
                    "SELECT count(*) FROM ledger.journal_entries WHERE document_kind = 'unidentified-payment'") == 2
            }
            try ledger.verify()
        }

        @Test("a credit naming an account is paid to it; the same line in a later statement books once")
        func identificationAndOverlap() throws {
            let ledger = try LedgerScenario(ingest: true)
            try ledger.openAccount("A-7001")
            try eventually(timeoutMs: 30_000, "the ingest's account copy") {
                try ledger.database.scalar("SELECT count(*) FROM ingest.accounts WHERE account_number = 'A-7001'") == 1
            }
            let paid = Self.credit("25.00", reference: "BANKREF-1", remittance: "Payment for A-7001 thanks")
            let notification = try Self.write(Self.camt("054", balances: false, [paid]), "n.xml")
            let first = try Self.importFile(ledger, notification)
            #expect(first.format == "camt.054.001.08" && first.statements[0].openingBalanceMinor == nil)
            #expect((first.lines.booked, first.lines.identified) == (1, 1))
            try eventually(timeoutMs: 30_000, "payment posted") { try ledger.balance("A-7001").balanceMinor == -2_500 }
            let unknown = Self.credit("15.00", reference: "BANKREF-2", remittance: "who knows")
            let statement = try Self.write(Self.camt("053", balances: true, [paid, unknown]), "s.xml")
            let second = try Self.importFile(ledger, statement)
            #expect(second.statements[0].reconciles == true)
            #expect(
                (second.lines.booked, second.lines.duplicate, second.lines.identified, second.lines.unidentified)
                    == (1, 1, 0, 1))
            // A payment that names only an invoice pays that invoice's account.
            try ledger.invoice("A-7001", "INV-T-000001", totalMinor: 1_000, dueOn: "2026-07-01")
            try eventually(timeoutMs: 30_000, "the ingest's document copy") {
                try ledger.database.scalar("SELECT count(*) FROM ingest.documents WHERE name = 'INV-T-000001'") == 1
            }
            let byInvoice = Self.credit("4.00", reference: "BANKREF-3", remittance: "pays INV-T-000001, thanks")
            let third = try Self.importFile(
                ledger, try Self.write(Self.camt("054", balances: false, [byInvoice]), "i.xml"))
            #expect((third.lines.booked, third.lines.identified) == (1, 1))
            #expect(
                try ledger.database.scalar(
                    "SELECT count(*) FROM ingest.statement_lines WHERE rule = 'document-in-remittance' AND account_number = 'A-7001'"
                )
                    == 1)
            try eventually(timeoutMs: 30_000, "the unknown credit in suspense") {
                try ledger.database.scalar(
                    "SELECT count(*) FROM ledger.journal_entries WHERE document_kind = 'unidentified-payment'") == 1
            }
            try eventually(timeoutMs: 30_000, "the invoice part-paid by the payment naming it") {
                try ledger.balance("A-7001").balanceMinor == -2_500 + 1_000 - 400
            }
            try ledger.verify()
        }

        @Test(
            "the bank's charges post to bank fees against the bank's cash; the Swiss sample's six CHRG entries add to 1251.42"
        )
        func bankCharges() throws {
            let ledger = try LedgerScenario(ingest: true)
            let report = try Self.importFile(ledger, Fixtures.bank("viafintech-camt053-v4-postfinance.xml"))
            #expect(report.lines.bankFees == 6)
            #expect(report.lines.booked == report.lines.identified + report.lines.unidentified + report.lines.bankFees)
            try eventually(timeoutMs: 30_000, "fees posted") {
                try ledger.database.scalar(
                    "SELECT count(*) FROM ledger.journal_entries WHERE document_kind = 'bank-fee'")
                    == 6
            }
            #expect(
                try ledger.database.scalar(
                    "SELECT sum(amount_minor)::bigint FROM ledger.postings WHERE ledger_account = 'BANK_FEES' AND currency = 'CHF'"
                )
                    == 125_142)
            try ledger.verify()
        }

        @Test(
            "a payment registry pays the accounts its rows name; a row seen before books nothing; unknown accounts wait in suspense"
        )
        func registries() throws {
            let mapping =
                "date=Date|amount=Amount|client_account=Account|transaction_id=TxnId|payer_name=Payer|account_value=ERIP|currency_value=EUR"
            let ledger = try LedgerScenario(ingest: true, ingestEnvironment: ["INGEST_REGISTRY_MAPPING": mapping])
            try ledger.openAccount("A-9001")
            try eventually(timeoutMs: 30_000, "the ingest's account copy") {
                try ledger.database.scalar("SELECT count(*) FROM ingest.accounts WHERE account_number = 'A-9001'") == 1
            }
            let first = try Self.write(
                "TxnId,Date,Account,Amount,Payer\nT-1,2026-06-01,A-9001,12.30,Ivan\nT-2,2026-06-01,NOPE-1,5.00,Olga\n",
                "registry-1.csv")
            let report = try Self.importFile(ledger, first, registry: true)
            #expect(report.format == "registry")
            #expect((report.lines.booked, report.lines.identified, report.lines.unidentified) == (2, 1, 1))
            let second = try Self.write(
                "TxnId,Date,Account,Amount,Payer\nT-1,2026-06-01,A-9001,12.30,Ivan\nT-3,2026-06-02,A-9001,1.00,Ivan\n",
                "registry-2.csv")
            let again = try Self.importFile(ledger, second, registry: true)
            #expect((again.lines.booked, again.lines.duplicate, again.lines.identified) == (1, 1, 1))
            try eventually(timeoutMs: 30_000, "registry payments posted") {
                try ledger.balance("A-9001").balanceMinor == -1_330
            }
            try eventually(timeoutMs: 30_000, "the unknown account's payment in suspense") {
                try ledger.database.scalar(
                    "SELECT count(*) FROM ledger.journal_entries WHERE document_kind = 'unidentified-payment'") == 1
            }
            #expect(
                try ledger.database.scalar(
                    "SELECT count(*) FROM ingest.statement_lines WHERE payment_id IS NOT NULL AND rule = 'stated-account'"
                ) == 2)
            try ledger.verify()
        }

        @Test("files that cannot be read are refused with the reason and dead-lettered; the worker carries on")
        func badFiles() throws {
            let ledger = try LedgerScenario(ingest: true)
            let bomb = try Self.write(
                #"<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><Document>&b;</Document>"#,
                "bomb.xml")
            let refused = try ledger.ctl(["import", bomb, "--wait"])
            #expect(refused.status == 1 && refused.output.contains("DTD"), "\(refused.output)")
            let truncated = try Self.write(
                String(Self.camt("053", balances: true, []).prefix(200)), "truncated.xml")
            let cut = try ledger.ctl(["import", truncated, "--wait"])
            #expect(cut.status == 1 && cut.output.contains("truncated"), "\(cut.output)")
            let amounts = try Self.write(
                Self.camt("054", balances: false, [Self.credit("1.005", reference: "R", remittance: "x")]), "amount.xml"
            )
            let tooPrecise = try ledger.ctl(["import", amounts, "--wait"])
            #expect(tooPrecise.status == 1 && tooPrecise.output.contains("too_many_decimals"), "\(tooPrecise.output)")
            // A batch whose transactions add up past Int64 (each one in range): refused, not a trap
            // that stops the partition.
            let huge = "92233720368547758.07"
            let batch =
                #"<Ntry><Amt Ccy="EUR">1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2026-06-01</Dt></BookgDt><AcctSvcrRef>BATCH-1</AcctSvcrRef><NtryDtls><TxDtls><Amt Ccy="EUR">\#(huge)</Amt><Refs><EndToEndId>E1</EndToEndId></Refs></TxDtls><TxDtls><Amt Ccy="EUR">\#(huge)</Amt><Refs><EndToEndId>E2</EndToEndId></Refs></TxDtls></NtryDtls></Ntry>"#
            let overflowing = try ledger.ctl([
                "import", try Self.write(Self.camt("053", balances: false, [batch]), "overflow.xml"), "--wait",
            ])
            #expect(
                overflowing.status == 1 && overflowing.output.contains("amount_out_of_range"), "\(overflowing.output)")
            #expect(try ledger.database.scalar("SELECT count(*) FROM ingest.dead_letters") == 4)
            #expect(try ledger.database.scalar("SELECT count(*) FROM ingest.files") == 0, "nothing half-booked")
            let good = try Self.importFile(ledger, Fixtures.bank("bunq-mt940.txt"))
            #expect(good.format == "mt940" && good.lines.booked == 111)
            try eventually(timeoutMs: 30_000, "bunq's credits in suspense") {
                try ledger.database.scalar(
                    "SELECT count(*) FROM ledger.journal_entries WHERE document_kind = 'unidentified-payment'") == 26
            }
            try ledger.verify()
        }
    }
}


extension Integration {
    @Suite("payment-ingest: gateway webhooks")
    struct GatewayIngestTests {
        static let secret = "whsec_integration"

        static func message(_ ledger: LedgerScenario, _ body: [UInt8], signedAt: Int64? = nil, header: String? = nil)
            -> KafkaOutgoingMessage
        {
            let timestamp = signedAt ?? Int64(Date().timeIntervalSince1970)
            return KafkaOutgoingMessage(
                topic: Topics.gatewayEventsRaw.name + ledger.suffix, key: Array("stripe".utf8), value: body,
                headers: [
                    KafkaHeader(
                        name: "Stripe-Signature",
                        text: header
                            ?? WebhookSignatureVerifier.header(secret: secret, body: body, timestamp: timestamp)),
                    KafkaHeader(name: "Content-Type", text: "application/json"),
                ])
        }

        static func intent(_ id: String, account: String, minor: Int64) -> [UInt8] {
            Array(
                #"{"id":"evt_\#(id)","type":"payment_intent.succeeded","created":1780000000,"data":{"object":{"id":"pi_\#(id)","object":"payment_intent","amount":\#(minor),"amount_received":\#(minor),"currency":"eur","metadata":{"account":"\#(account)"}}}}"#
                    .utf8)
        }

        @Test(
            "signed events book once: a payment to the account its metadata names, a refund reversing part of it; bad, replayed and unknown events are handled"
        )
        func webhooks() throws {
            let ledger = try LedgerScenario(
                ingest: true, ingestEnvironment: ["GATEWAY_WEBHOOK_SECRETS": "whsec_old,\(Self.secret)"])
            try ledger.openAccount("A-8001")
            try eventually(timeoutMs: 30_000, "the ingest's account copy") {
                try ledger.database.scalar("SELECT count(*) FROM ingest.accounts WHERE account_number = 'A-8001'") == 1
            }
            let paid = Self.message(ledger, Self.intent("1", account: "A-8001", minor: 1_500))
            try LedgerScenario.send([paid], with: ledger.producer)
            try eventually(timeoutMs: 30_000, "gateway payment posted") {
                try ledger.balance("A-8001").balanceMinor == -1_500
            }

            // The real fixture: its metadata names no account here, so the money waits in suspense.
            let fixture = try Fixtures.bytes(Fixtures.gateway("billing-stripe-payment_intent.succeeded.json"))
            try LedgerScenario.send([Self.message(ledger, fixture)], with: ledger.producer)
            // The same signed request again is a replay; the same event newly signed is a duplicate;
            // a changed byte fails the signature; an expired signature is refused.
            try LedgerScenario.send([paid], with: ledger.producer)
            try LedgerScenario.send(
                [
                    Self.message(
                        ledger, Self.intent("1", account: "A-8001", minor: 1_500),
                        signedAt: Int64(Date().timeIntervalSince1970) - 5)
                ],
                with: ledger.producer)
            var tampered = Self.intent("2", account: "A-8001", minor: 9_900)
            let header = WebhookSignatureVerifier.header(
                secret: Self.secret, body: tampered, timestamp: Int64(Date().timeIntervalSince1970))
            tampered[tampered.count - 5] ^= 0x01
            try LedgerScenario.send([Self.message(ledger, tampered, header: header)], with: ledger.producer)
            try LedgerScenario.send(
                [
                    Self.message(
                        ledger, Self.intent("3", account: "A-8001", minor: 100),
                        signedAt: Int64(Date().timeIntervalSince1970) - 3_600)
                ],
                with: ledger.producer)
            let unknown = Array(
                #"{"id":"evt_u","type":"customer.created","created":1780000000,"data":{"object":{"id":"cus_1","object":"customer"}}}"#
                    .utf8)
            let refund = Array(
                #"{"id":"evt_r","type":"charge.refunded","created":1780000100,"data":{"object":{"id":"ch_1","object":"charge","amount":1500,"currency":"eur","payment_intent":"pi_1","amount_refunded":500,"refunds":{"data":[{"id":"re_1","amount":500,"currency":"eur","created":1780000100}]}}}}"#
                    .utf8)
            try LedgerScenario.send(
                [Self.message(ledger, unknown), Self.message(ledger, refund)], with: ledger.producer)

            try eventually(timeoutMs: 30_000, "refund reversed part of the payment") {
                try ledger.balance("A-8001").balanceMinor == -1_000
            }
            try eventually(timeoutMs: 30_000, "the bad requests dead-lettered") {
                try ledger.database.scalar("SELECT count(*) FROM ingest.dead_letters") == 3
            }
            let reasons = try ledger.database.query("SELECT reason_code FROM ingest.dead_letters ORDER BY id").rows.map
            {
                try $0.string(0)
            }
            // Rejected in decode (signature) or in the batch (replay): the order between them is not fixed.
            #expect(reasons.sorted() == ["signature_expired", "signature_mismatch", "signature_replayed"])
            #expect(
                try ledger.database.scalar("SELECT count(*) FROM ingest.gateway_events WHERE event_id = 'evt_1'") == 1)
            #expect(
                try ledger.database.scalar("SELECT count(*) FROM ingest.gateway_events WHERE outcome = 'ignored'") == 1)
            try eventually(timeoutMs: 30_000, "the fixture's payment in suspense") {
                try ledger.database.scalar(
                    "SELECT count(*) FROM ledger.journal_entries WHERE document_kind = 'unidentified-payment'") == 1
            }
            #expect(
                try ledger.database.scalar(
                    "SELECT count(*) FROM ledger.journal_entries WHERE document_kind = 'payment'") == 1)
            try ledger.verify()
        }
    }
}

extension Integration {
    @Suite("payment-ingest: cash desks")
    struct CashDeskTests {
        @Test(
            "a shift opens with a float, takes payments that reach the ledger, and closes with the difference counted")
        func shift() throws {
            let ledger = try LedgerScenario(ingest: true)
            try ledger.openAccount("A-9501")
            try eventually(timeoutMs: 30_000, "the ingest's account copy") {
                try ledger.database.scalar("SELECT count(*) FROM ingest.accounts WHERE account_number = 'A-9501'") == 1
            }
            try ledger.refused(["cash-desk", "open-shift", "--desk", "D1"], code: "unknown_desk")
            try ledger.done(["cash-desk", "open-shift", "--desk", "D1", "--currency", "EUR", "--float", "100.00"])
            try ledger.refused(["cash-desk", "open-shift", "--desk", "D1"], code: "shift_open")
            try ledger.done(["cash-desk", "pay", "--desk", "D1", "--account", "A-9501", "--amount", "46.20"])
            try ledger.refused(
                ["cash-desk", "pay", "--desk", "D1", "--account", "NOPE-1", "--amount", "5.00"], code: "unknown_account"
            )
            try ledger.refused(
                ["cash-desk", "pay", "--desk", "D1", "--account", "A-9501", "--amount", "1.005"],
                code: "too_many_decimals")
            // The same command delivered twice takes the money once.
            let command = CashDeskCommand(
                origin: CommandOrigin(requestedBy: "tests"), desk: "D1", account: "A-9501", amount: "3.80")
            let twice = LedgerScenario.message(
                Topics.cashDeskCommands.name + ledger.suffix, key: "D1", type: CashDeskTypes.payment, command,
                id: "desk-once")
            try LedgerScenario.send([twice, twice], with: ledger.producer)
            try eventually(timeoutMs: 30_000, "both desk payments posted") {
                try ledger.balance("A-9501").balanceMinor == -5_000
            }
            let closed = try ledger.done(["cash-desk", "close-shift", "--desk", "D1", "--counted", "148.80", "--json"])
            #expect(closed.contains("\"difference_minor\" : \"-120\""), "\(closed)")
            try ledger.refused(
                ["cash-desk", "pay", "--desk", "D1", "--account", "A-9501", "--amount", "1.00"], code: "no_open_shift")
            let shown = try ledger.ctl(["cash-desk", "show", "D1", "--json"])
            #expect(shown.status == 0 && shown.output.contains("\"difference_minor\" : -120"), "\(shown.output)")
            #expect(
                try ledger.database.scalar(
                    "SELECT count(*) FROM ledger.postings WHERE ledger_account = 'DESK:D1'") == 2,
                "the payments sit in the desk's cash account")
            #expect(try ledger.database.scalar("SELECT count(*) FROM ingest.desk_payments") == 2)
            try ledger.verify()
        }

        @Test("one shift's payments through partitions of two replicas (two partitioners): no payment lost from its totals")
        func shiftAcrossPartitions() throws {
            let ledger = try LedgerScenario(ingest: true)
            let second = WorkerProcess(
                stack: ledger.stack, executable: "payment-ingest",
                environment: LedgerScenario.workerEnvironment(
                    ledger.stack, ledger.database, ledger.suffix, role: "billing_ingest", group: "ingest"
                ).merging(["WORKER_INSTANCE_ID": "ingest-2"]) { _, new in new })
            try second.start()
            defer { _ = second.terminate() }
            try ledger.openAccount("A-9601")
            try eventually(timeoutMs: 30_000, "the ingest's account copy") {
                try ledger.database.scalar("SELECT count(*) FROM ingest.accounts WHERE account_number = 'A-9601'") == 1
            }
            try ledger.done(["cash-desk", "open-shift", "--desk", "D2", "--currency", "EUR", "--float", "0.00"])
            let topic = Topics.cashDeskCommands.name + ledger.suffix
            let partitions = try ledger.partitionsOfDifferentOwners(schema: "ingest", topic: topic)
            let payments = (0..<40).map { index in
                let message = LedgerScenario.message(
                    topic, key: "D2", type: CashDeskTypes.payment,
                    CashDeskCommand(
                        origin: CommandOrigin(requestedBy: "tests"), desk: "D2", account: "A-9601", amount: "1.00"),
                    id: "desk-race-\(index)")
                return KafkaOutgoingMessage(
                    topic: topic, key: message.key, value: message.value, headers: message.headers,
                    partition: partitions[index % 2])
            }
            try LedgerScenario.send(payments, with: ledger.producer)
            try eventually(timeoutMs: 60_000, "every payment has its outcome") {
                try ledger.database.scalar(
                    "SELECT count(*) FROM ingest.command_outcomes WHERE command_id LIKE 'desk-race-%' AND status = 'done'")
                    == 40
            }
            let closed = try ledger.done(["cash-desk", "close-shift", "--desk", "D2", "--counted", "40.00", "--json"])
            #expect(closed.contains("\"difference_minor\" : \"0\""), "\(closed)")
            #expect(
                try ledger.database.scalar("SELECT taken_minor FROM ingest.cash_shifts WHERE desk_id = 'D2'") == 4_000)
            try eventually(timeoutMs: 30_000, "the payments posted") {
                try ledger.balance("A-9601").balanceMinor == -4_000
            }
            try ledger.verify()
        }
    }
}
