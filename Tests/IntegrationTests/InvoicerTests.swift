import BillingContracts
import BillingKafka
import BillingSupport
import Foundation
import Testing

extension Integration {
    @Suite("invoicer: documents by command, legal numbering, credit notes, cancellations")
    struct InvoicerTests {
        /// The document `billing-ctl invoice show --json` prints (the fields tests read).
        struct Shown: Decodable {
            struct Line: Decodable {
                let quantity: String
                let unitPriceMinor: Int64
                let discountMinor: Int64
                let netMinor: Int64
                let taxRate: String
                let taxMinor: Int64
                let totalMinor: Int64
            }
            let id: String
            let number: String?
            let reference: String
            let account: String
            let status: String
            let postedOn: String?
            let dueOn: String?
            let lines: [Line]
            let netMinor: Int64
            let discountMinor: Int64
            let taxMinor: Int64
            let totalMinor: Int64
            let openMinor: Int64
            let ledgerState: String?
        }

        static func shown(_ output: String) throws -> Shown {
            // `--wait` prints the outcome line on standard error; the JSON is the rest.
            guard let start = output.firstIndex(of: "{") else { throw HarnessError("no JSON in: \(output)") }
            return try ContractJSON.decoder().decode(Shown.self, from: Data(output[start...].utf8))
        }

        /// Creates and posts an invoice with billing-ctl; returns what `--json` printed.
        static func invoice(
            _ ledger: LedgerScenario, _ account: String, lines: [String], extra: [String] = []
        ) throws -> Shown {
            let output = try ledger.done(
                ["invoice", "create", "--account", account, "--post", "--json"] + lines.flatMap { ["--line", $0] }
                    + extra)
            return try shown(output)
        }

        /// `invoice show NAME --json` (a query: no `--wait`).
        static func show(_ ledger: LedgerScenario, _ name: String) throws -> Shown {
            let result = try ledger.ctl(["invoice", "show", name, "--json"])
            guard result.status == 0 else { throw HarnessError("invoice show \(name): \(result.output)") }
            return try shown(result.output)
        }

        /// This year (UTC), as numbers of documents posted today carry it.
        static func year(_ ledger: LedgerScenario) throws -> Int64 {
            try ledger.database.scalar("SELECT extract(year FROM now() AT TIME ZONE 'UTC')::bigint")
        }

        /// Waits until the allocator has every posted document on the ledger (so `verify` can pass).
        static func settle(_ ledger: LedgerScenario) throws {
            try eventually(timeoutMs: 30_000, "posted documents on the ledger") {
                try ledger.database.scalar(
                    """
                    SELECT count(*) FROM documents.documents AS d WHERE d.state = 'posted' AND NOT EXISTS (
                        SELECT 1 FROM ledger.journal_entries AS e
                        WHERE e.document_kind = d.kind AND e.document_id = d.document_id)
                    """) == 0
            }
        }

        @Test("an invoice is created, posted with its number and computed totals, shown, paid and cancelled")
        func lifecycle() throws {
            let ledger = try LedgerScenario(invoicers: 1)
            try ledger.openAccount("A-1001", ["--credit-rule", "days:14"])
            let invoice = try Self.invoice(
                ledger, "A-1001", lines: ["Course;1.5;120.00;20;15%"],
                extra: ["--issued-on", "2026-05-20", "--posted-on", "2026-05-20"])
            #expect(invoice.number == "INV-2026-000001")
            #expect(invoice.status == "posted")
            #expect(invoice.postedOn == "2026-05-20")
            #expect(invoice.dueOn == "2026-06-03", "days:14 after posting")
            #expect(invoice.lines.count == 1)
            #expect(invoice.lines[0].quantity == "1.5" && invoice.lines[0].unitPriceMinor == 12000)
            #expect(invoice.lines[0].discountMinor == 2700 && invoice.lines[0].netMinor == 15300)
            #expect(invoice.lines[0].taxRate == "20" && invoice.lines[0].taxMinor == 3060)
            #expect(
                (invoice.netMinor, invoice.discountMinor, invoice.taxMinor, invoice.totalMinor) == (
                    15300, 2700, 3060, 18360
                ))

            try Self.settle(ledger)
            #expect(try ledger.balance("A-1001").balanceMinor == 18360)
            try ledger.done(["payment", "record", "--account", "A-1001", "--amount", "100.00"])
            let partlyPaid = try Self.show(ledger, "INV-2026-000001")
            #expect(partlyPaid.openMinor == 8360 && partlyPaid.ledgerState == "partially-paid")
            let human = try ledger.ctl(["invoice", "show", "INV-2026-000001"]).output
            #expect(human.contains("INV-2026-000001") && human.contains("Course") && human.contains("183.60"))

            // Cancelling the part-paid invoice releases the payment: the client is in credit.
            try ledger.done([
                "invoice", "cancel", "INV-2026-000001", "--reason", "sent to the wrong client", "--cancelled-on",
                "2026-05-25",
            ])
            try Self.settle(ledger)
            let cancelled = try Self.show(ledger, "INV-2026-000001")
            #expect(cancelled.status == "cancelled" && cancelled.openMinor == 0)
            let balance = try ledger.balance("A-1001")
            #expect(balance.balanceMinor == -10000 && balance.unallocatedCreditMinor == 10000)
            try ledger.refused(
                ["invoice", "cancel", "INV-2026-000001", "--reason", "again"], code: "invoice_cancelled")
            try ledger.refused(
                ["credit-note", "create", "--invoice", "INV-2026-000001", "--line", "x;1;1.00;0"],
                code: "invoice_cancelled")
            #expect(
                try ledger.database.scalar(
                    "SELECT count(*) FROM documents.documents WHERE kind = 'invoice-cancellation' AND number = 'IC-2026-000001'"
                )
                    == 1)
            try ledger.verify()
        }

        @Test(
            "drafts change, post or are rejected; references and back-office codes stay unique; bad commands are refused"
        )
        func drafts() throws {
            let ledger = try LedgerScenario(invoicers: 1)
            try ledger.openAccount("A-2001")
            let invoiceNumber = "INV-\(try Self.year(ledger))-000001"
            let draft = try Self.shown(
                try ledger.done([
                    "invoice", "create", "--account", "A-2001", "--line", "Hosting;1;50.00;20", "--reference",
                    "ORDER-77", "--back-office-code", "BO-1", "--json",
                ]))
            #expect(draft.status == "draft" && draft.number == nil && draft.reference == "ORDER-77")
            let changed = try Self.shown(
                try ledger.done([
                    "invoice", "update", "ORDER-77", "--line", "Hosting;2;50.00;20;10.00", "--json",
                ]))
            #expect(changed.totalMinor == 10800, "2 × 50.00 − 10.00 = 90.00 net, + 20 % tax")
            try ledger.refused(
                ["invoice", "create", "--account", "A-2001", "--line", "x;1;1.00;0", "--reference", "ORDER-77"],
                code: "duplicate_reference")
            try ledger.refused(
                ["invoice", "create", "--account", "A-2001", "--line", "x;1;1.00;0", "--back-office-code", "BO-1"],
                code: "duplicate_back_office_code")
            try ledger.refused(
                ["invoice", "create", "--account", "A-2001", "--line", "x;-1;1.00;0"], code: "invalid_line")
            try ledger.refused(
                ["invoice", "create", "--account", "A-2001", "--line", "x;1;10.00;0;11.00"], code: "invalid_line")
            try ledger.refused(
                ["invoice", "create", "--account", "NOPE-1", "--line", "x;1;1.00;0"], code: "unknown_account")
            let posted = try Self.shown(try ledger.done(["invoice", "post", "ORDER-77", "--json"]))
            #expect(posted.number == invoiceNumber && posted.status == "posted")
            try ledger.refused(["invoice", "post", invoiceNumber], code: "not_a_draft")
            try ledger.refused(
                ["invoice", "update", invoiceNumber, "--line", "x;1;1.00;0"], code: "not_a_draft")

            let second = try Self.shown(
                try ledger.done(["invoice", "create", "--account", "A-2001", "--line", "Setup;1;30.00;0", "--json"]))
            #expect(second.reference.hasPrefix("DRAFT-"))
            let rejected = try Self.shown(
                try ledger.done([
                    "invoice", "reject", second.reference, "--category", "duplicate", "--reason", "entered twice",
                    "--json",
                ]))
            #expect(rejected.status == "rejected" && rejected.number == nil)
            try ledger.refused(["invoice", "post", second.reference], code: "not_a_draft")

            // A terminated account takes no new invoices.
            try Self.settle(ledger)
            try ledger.done(["write-off", "--invoice", invoiceNumber, "--reason", "goodwill"])
            try ledger.done(["account", "terminate", "A-2001"])
            try eventually(timeoutMs: 30_000, "the invoicer sees the termination") {
                try ledger.database.scalar(
                    "SELECT count(*) FROM documents.accounts WHERE number = 'A-2001' AND state = 'terminated'") == 1
            }
            try ledger.refused(
                ["invoice", "create", "--account", "A-2001", "--line", "x;1;1.00;0"], code: "account_terminated")
            try ledger.verify()
        }

        @Test("due dates follow the account's credit rule; a date outside it is refused with the limit")
        func dueDates() throws {
            let ledger = try LedgerScenario(invoicers: 1)
            try ledger.openAccount("A-3001", ["--credit-rule", "days:10"])
            try ledger.openAccount("A-3002", ["--credit-rule", "days:10,proximity:-5"])
            try ledger.openAccount("A-3003", ["--credit-rule", "day:15,months:1"])
            let dated = ["--issued-on", "2026-06-20", "--posted-on", "2026-06-20"]
            let tooLate = try ledger.ctl(
                [
                    "invoice", "create", "--account", "A-3001", "--line", "x;1;10.00;0", "--post", "--due-on",
                    "2026-07-20",
                    "--wait",
                ] + dated)
            #expect(tooLate.status == 1)
            #expect(
                tooLate.output.contains(
                    "due date 2026-07-20 is after the latest allowed 2026-06-30 for rule 'at most 10 days after posting'"
                ),
                "\(tooLate.output)")
            try ledger.refused(
                [
                    "invoice", "create", "--account", "A-3001", "--line", "x;1;10.00;0", "--post", "--due-on",
                    "2026-06-19",
                ]
                    + dated, code: "due_date_before_posting")
            try ledger.refused(
                [
                    "invoice", "create", "--account", "A-3002", "--line", "x;1;10.00;0", "--post", "--due-on",
                    "2026-06-22",
                ]
                    + dated, code: "due_date_too_early")
            #expect(
                try Self.invoice(ledger, "A-3001", lines: ["x;1;10.00;0"], extra: dated + ["--due-on", "2026-06-25"])
                    .dueOn == "2026-06-25")
            #expect(try Self.invoice(ledger, "A-3001", lines: ["x;1;10.00;0"], extra: dated).dueOn == "2026-06-30")
            #expect(
                try Self.invoice(ledger, "A-3002", lines: ["x;1;10.00;0"], extra: dated).dueOn == "2026-06-25",
                "with a proximity range the earliest allowed date is given")
            #expect(try Self.invoice(ledger, "A-3003", lines: ["x;1;10.00;0"], extra: dated).dueOn == "2026-07-15")
            // The refused posts took no numbers: three invoices, numbers 1 to 3.
            #expect(
                try ledger.database.scalar(
                    "SELECT count(*) FROM documents.documents WHERE number IN ('INV-2026-000001', 'INV-2026-000002', 'INV-2026-000003', 'INV-2026-000004')"
                )
                    == 4)
            try Self.settle(ledger)
            try ledger.verify()
        }

        @Test("credit notes never exceed what is left of their invoice; a credited invoice is not cancelled")
        func creditNotes() throws {
            let ledger = try LedgerScenario(invoicers: 1)
            try ledger.openAccount("A-4001")
            let year = try Self.year(ledger)
            let invoiceNumber = "INV-\(year)-000001"
            let invoice = try Self.invoice(ledger, "A-4001", lines: ["Service;1;100.00;20"])
            #expect(invoice.totalMinor == 12000)
            let first = try Self.shown(
                try ledger.done([
                    "credit-note", "create", "--invoice", invoiceNumber, "--line", "Discount;1;50.00;20", "--json",
                ]))
            #expect(first.number == "CN-\(year)-000001" && first.totalMinor == 6000)
            try ledger.refused(
                ["credit-note", "create", "--invoice", invoiceNumber, "--line", "More;1;50.01;20"],
                code: "credit_exceeds_invoice")
            let draftNote = try Self.shown(
                try ledger.done([
                    "credit-note", "create", "--invoice", invoiceNumber, "--line", "Rest;1;50.00;20", "--draft",
                    "--json",
                ]))
            #expect(draftNote.status == "draft")
            try ledger.done(["credit-note", "create", "--invoice", invoiceNumber, "--line", "Other;1;10.00;20"])
            // 60.00 + 12.00 credited: the 60.00 draft no longer fits.
            try ledger.refused(["invoice", "post", draftNote.reference], code: "credit_exceeds_invoice")
            try ledger.refused(
                ["invoice", "cancel", invoiceNumber, "--reason", "wrong"], code: "invoice_credited")
            let standalone = try Self.shown(
                try ledger.done([
                    "credit-note", "create", "--account", "A-4001", "--line", "Goodwill;1;5.00;0", "--json",
                ]))
            #expect(standalone.number == "CN-\(year)-000003")
            try Self.settle(ledger)
            // 120.00 − 60.00 − 12.00 − 5.00 (the standalone note is client credit used on the invoice).
            let balance = try ledger.balance("A-4001")
            #expect(balance.balanceMinor == 12000 - 6000 - 1200 - 500)
            try ledger.verify()
        }

        @Test("the same command delivered twice makes one document; unknown fields are refused, not ignored")
        func duplicatesAndUnknownFields() throws {
            let ledger = try LedgerScenario(invoicers: 1)
            try ledger.openAccount("A-5001")
            try eventually(timeoutMs: 30_000, "account copy") {
                try ledger.database.scalar("SELECT count(*) FROM documents.accounts WHERE number = 'A-5001'") == 1
            }
            let command = DocumentCreateCommand(
                origin: CommandOrigin(requestedBy: "tests"), kind: "invoice", account: "A-5001",
                lines: [DocumentLineSpec(description: "Once", quantity: "1", unitPrice: "10.00", taxRate: "0")],
                post: true)
            let message = LedgerScenario.message(
                ledger.documentCommandsTopic, key: "A-5001", type: DocumentTypes.create, command, id: "cmd-once")
            try LedgerScenario.send([message, message], with: ledger.producer)
            try LedgerScenario.send([message], with: ledger.producer)
            // A misspelt field must not be ignored.
            let misspelt = KafkaOutgoingMessage(
                topic: ledger.documentCommandsTopic, key: Array("A-5001".utf8),
                value: Array(
                    #"{"origin":{"requested_by":"tests"},"kind":"invoice","account":"A-5001","lines":[{"description":"x","quantity":"1","unit_price":"1.00","tax_rate":"0"}],"due_date":"2026-12-01","post":true}"#
                        .utf8),
                headers: CloudEvent(
                    id: "cmd-misspelt", type: DocumentTypes.create, source: "tests", time: UTCClock.timestamp(), data: []
                ).headerPairs.map { KafkaHeader(name: $0.name, text: $0.value) })
            try LedgerScenario.send([misspelt], with: ledger.producer)
            try eventually(timeoutMs: 30_000, "the misspelt command dead-lettered") {
                try ledger.database.scalar(
                    "SELECT count(*) FROM documents.dead_letters WHERE reason LIKE '%unknown field due_date%'") == 1
            }
            #expect(try ledger.database.scalar("SELECT count(*) FROM documents.documents") == 1)
            #expect(
                try ledger.database.scalar(
                    "SELECT count(*) FROM documents.command_outcomes WHERE command_id = 'cmd-once'")
                    == 1)
            try Self.settle(ledger)
            #expect(try ledger.balance("A-5001").balanceMinor == 1000)
            try ledger.verify()
        }

        @Test(
            "one draft posted by two commands on partitions of two replicas (two partitioners) gets one number and one event"
        )
        func postRaceAcrossPartitions() throws {
            let ledger = try LedgerScenario(invoicers: 2)
            try ledger.openAccount("A-6101")
            try eventually(timeoutMs: 30_000, "account copy") {
                try ledger.database.scalar("SELECT count(*) FROM documents.accounts WHERE number = 'A-6101'") == 1
            }
            // Two partitions owned by different replicas: commands keyed by the same account land on
            // both when two producers partition differently (murmur2 here, kcat's CRC32 there).
            let partitions = try ledger.partitionsOfDifferentOwners(
                schema: "documents", topic: ledger.documentCommandsTopic)
            let drafts = 40
            let creates = (0..<drafts).map { index in
                LedgerScenario.message(
                    ledger.documentCommandsTopic, key: "A-6101", type: DocumentTypes.create,
                    DocumentCreateCommand(
                        origin: CommandOrigin(requestedBy: "tests"), kind: "invoice", account: "A-6101",
                        reference: "RACE-\(index)",
                        lines: [DocumentLineSpec(description: "Item", quantity: "1", unitPrice: "1.00", taxRate: "0")]),
                    id: "race-create-\(index)")
            }
            try LedgerScenario.send(creates, with: ledger.producer)
            try eventually(timeoutMs: 60_000, "the drafts") {
                try ledger.database.scalar("SELECT count(*) FROM documents.documents WHERE reference LIKE 'RACE-%'")
                    == Int64(drafts)
            }
            var posts: [KafkaOutgoingMessage] = []
            for index in 0..<drafts {
                for (side, partition) in partitions.enumerated() {
                    let message = LedgerScenario.message(
                        ledger.documentCommandsTopic, key: "A-6101", type: DocumentTypes.post,
                        DocumentPostCommand(
                            origin: CommandOrigin(requestedBy: "tests"), account: "A-6101", document: "RACE-\(index)"),
                        id: "race-post-\(index)-\(side)")
                    posts.append(
                        KafkaOutgoingMessage(
                            topic: message.topic, key: message.key, value: message.value, headers: message.headers,
                            partition: partition))
                }
            }
            try LedgerScenario.send(posts, with: ledger.producer)
            try eventually(timeoutMs: 90_000, "every post has its outcome") {
                try ledger.database.scalar(
                    "SELECT count(*) FROM documents.command_outcomes WHERE command_id LIKE 'race-post-%'")
                    == Int64(2 * drafts)
            }
            #expect(
                try ledger.database.scalar(
                    "SELECT count(*) FROM documents.documents WHERE reference LIKE 'RACE-%' AND state = 'posted'")
                    == Int64(drafts))
            #expect(
                try ledger.database.scalar(
                    "SELECT count(*) FROM documents.command_outcomes WHERE command_id LIKE 'race-post-%' AND status = 'done'")
                    == Int64(drafts), "each draft posted by exactly one of its two commands")
            #expect(
                try ledger.database.scalar(
                    "SELECT last_sequence FROM documents.number_series WHERE document_kind = 'invoice' AND year = $1",
                    [Int(try Self.year(ledger))]) == Int64(drafts), "one number per draft, none taken twice")
            try Self.settle(ledger)
            #expect(
                try ledger.database.scalar(
                    "SELECT count(*) FROM ledger.journal_entries WHERE document_kind = 'invoice'") == Int64(drafts),
                "one posted event per draft reached the ledger")
            try ledger.verify()
        }

        @Test(
            "numbers stay gapless and unique when two invoicer replicas post at once, posts are refused, and a replica is killed mid-stream"
        )
        func gaplessUnderRaceAndCrash() throws {
            let ledger = try LedgerScenario(invoicers: 2)
            let accounts = (1...9).map { "A-60\(String(format: "%02d", $0))" }
            for account in accounts { try ledger.openAccount(account) }
            try eventually(timeoutMs: 30_000, "account copies") {
                try ledger.database.scalar("SELECT count(*) FROM documents.accounts") == Int64(accounts.count)
            }
            // Both replicas own partitions before the stream starts.
            try eventually(timeoutMs: 30_000, "both invoicers own partitions") {
                try ledger.database.scalar(
                    """
                    SELECT count(DISTINCT owner) FROM documents.consumer_offsets
                    WHERE topic = $1 AND owner IS NOT NULL
                    """, [ledger.documentCommandsTopic]) == 2
            }
            var messages: [KafkaOutgoingMessage] = []
            var expectedPosted = 0
            for index in 0..<600 {
                let account = accounts[index % accounts.count]
                // Every seventh command breaks a rule (a due date before posting): refused, no number.
                let refused = index % 7 == 3
                if !refused { expectedPosted += 1 }
                let command = DocumentCreateCommand(
                    origin: CommandOrigin(requestedBy: "tests"), kind: "invoice", account: account,
                    lines: [
                        DocumentLineSpec(description: "Item \(index)", quantity: "1", unitPrice: "1.00", taxRate: "20"),
                        DocumentLineSpec(description: "Extra", quantity: "2", unitPrice: "0.50", taxRate: "20"),
                    ],
                    dueOn: refused ? "2000-01-01" : nil, post: true)
                messages.append(
                    LedgerScenario.message(
                        ledger.documentCommandsTopic, key: account, type: DocumentTypes.create, command,
                        id: "race-\(index)"))
            }
            try LedgerScenario.send(Array(messages[0..<200]), with: ledger.producer)
            // Kill one replica mid-stream (its open transaction and the numbers it took roll back).
            let victim = ledger.invoicers[0]
            try eventually(timeoutMs: 30_000, "some posts committed") {
                try ledger.database.scalar("SELECT count(*) FROM documents.command_outcomes") > 20
            }
            victim.kill()
            try LedgerScenario.send(Array(messages[200..<400]), with: ledger.producer)
            try victim.start()
            _ = try victim.waitForOpsPort()
            try LedgerScenario.send(Array(messages[400...]), with: ledger.producer)
            // Redelivery of a slice changes nothing.
            try LedgerScenario.send(Array(messages[100..<150]), with: ledger.producer)
            try eventually(timeoutMs: 90_000, "every command has its outcome") {
                try ledger.database.scalar(
                    "SELECT count(*) FROM documents.command_outcomes WHERE command_id LIKE 'race-%'")
                    == 600
            }
            #expect(
                try ledger.database.scalar("SELECT count(*) FROM documents.documents WHERE state = 'posted'")
                    == Int64(expectedPosted))
            #expect(
                try ledger.database.scalar(
                    """
                    SELECT count(DISTINCT number) FROM documents.documents
                    WHERE kind = 'invoice' AND number = 'INV-' || $2 || '-' || lpad(split_part(number, '-', 3), 6, '0')
                      AND split_part(number, '-', 3)::int BETWEEN 1 AND $1
                    """, [expectedPosted, String(try Self.year(ledger))]) == Int64(expectedPosted),
                "numbers 1…N, each once")
            #expect(
                try ledger.database.scalar(
                    "SELECT last_sequence FROM documents.number_series WHERE document_kind = 'invoice' AND year = $1",
                    [Int(try Self.year(ledger))])
                    == Int64(expectedPosted))
            #expect(
                try ledger.database.scalar(
                    "SELECT count(*) FROM documents.command_outcomes WHERE status = 'refused' AND reason_code = 'due_date_before_posting'"
                )
                    == Int64(600 - expectedPosted))
            #expect(
                try ledger.database.scalar(
                    """
                    SELECT count(*) FROM documents.consumer_offsets
                    WHERE topic = $1 AND owner LIKE 'invoicer-2%' AND next_offset > 0
                    """, [ledger.documentCommandsTopic]) > 0,
                "the replica that was never killed took commands too: two replicas numbered at once")
            try Self.settle(ledger)
            try ledger.verify()
        }
    }
}
