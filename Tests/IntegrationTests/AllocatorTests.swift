import BillingContracts
import BillingKafka
import BillingSupport
import Foundation
import Testing

extension Integration {
    @Suite("allocator")
    struct Allocator {
        @Test("FIFO across several invoices: a partial payment, then an overpayment whose credit the next invoice uses")
        func fifoPartialAndOverpayment() throws {
            let ledger = try LedgerScenario()
            try ledger.openAccount("A-1001", ["--credit-rule", "day:15,months:1"])
            try ledger.invoice("A-1001", "INV-2026-000002", totalMinor: 2500, dueOn: "2026-06-20")
            try ledger.invoice("A-1001", "INV-2026-000001", totalMinor: 3000, dueOn: "2026-06-10")
            try ledger.pay("P-1", "A-1001", minor: 4000)
            var balance = try ledger.balance("A-1001")
            #expect(balance.balanceMinor == 1500)
            #expect(balance.openInvoices.map(\.number) == ["INV-2026-000002"], "the older due date was paid first")
            #expect(balance.openInvoices.first?.openMinor == 1500)
            #expect(try ledger.itemState("doc-INV-2026-000001") == "paid")
            #expect(try ledger.itemState("doc-INV-2026-000002") == "partially-paid")

            try ledger.pay("P-2", "A-1001", minor: 2000)
            balance = try ledger.balance("A-1001")
            #expect(balance.balanceMinor == -500)
            #expect(balance.unallocatedCreditMinor == 500)
            #expect(balance.openInvoices.isEmpty)

            try ledger.invoice("A-1001", "INV-2026-000003", totalMinor: 1200, dueOn: "2026-07-15")
            balance = try ledger.balance("A-1001")
            #expect(balance.balanceMinor == 700)
            #expect(balance.unallocatedCreditMinor == 0)
            #expect(balance.openInvoices.first?.openMinor == 700)

            let statement = try ledger.ctl(["statement", "A-1001", "--json"])
            #expect(statement.status == 0)
            let entries = try JSONSerialization.jsonObject(with: Data(statement.output.utf8)) as? [String: Any]
            let rows = entries?["entries"] as? [[String: Any]] ?? []
            #expect(rows.map { $0["type"] as? String } == ["invoice", "invoice", "payment", "payment", "invoice"])
            #expect(rows.map { ($0["amount_minor"] as? NSNumber)?.int64Value } == [2500, 3000, -4000, -2000, 1200])
            #expect(rows.map { ($0["balance_minor"] as? NSNumber)?.int64Value } == [2500, 5500, 1500, -500, 700])
            #expect(try ledger.outboxCount(LedgerTypes.invoiceSettled) >= 2)
            try ledger.verify()
        }

        @Test("against-item: a payment naming an invoice pays it first, the rest FIFO; the operator can do the same")
        func againstItem() throws {
            let ledger = try LedgerScenario()
            try ledger.openAccount("B-1", ["--allocation", "against-item"])
            try ledger.invoice("B-1", "INV-B-1", totalMinor: 3000, dueOn: "2026-06-01")
            try ledger.invoice("B-1", "INV-B-2", totalMinor: 2500, dueOn: "2026-06-30")
            try ledger.pay("P-B", "B-1", minor: 3000, naming: ["INV-B-2"])
            #expect(try ledger.itemState("doc-INV-B-2") == "paid", "the named invoice first")
            #expect(try ledger.itemState("doc-INV-B-1") == "partially-paid", "the remaining 5.00 FIFO")
            #expect(try ledger.balance("B-1").openInvoices.first?.openMinor == 2500)

            try ledger.invoice("B-1", "INV-B-3", totalMinor: 1000, dueOn: "2026-07-30")
            try ledger.done([
                "payment", "record", "--account", "B-1", "--amount", "10.00", "--against", "INV-B-3", "--desk", "D1",
            ])
            #expect(try ledger.itemState("doc-INV-B-3") == "paid")
            #expect(try ledger.balance("B-1").balanceMinor == 2500)
            #expect(
                try ledger.database.scalar("SELECT count(*) FROM ledger.postings WHERE ledger_account = 'CASH:desk:D1'")
                    == 0)
            #expect(
                try ledger.database.scalar("SELECT count(*) FROM ledger.postings WHERE ledger_account = 'DESK:D1'") == 1
            )
            try ledger.verify()
        }

        @Test("cancelling a paid invoice releases its payment, which then pays the next open invoice")
        func cancellationReallocates() throws {
            let ledger = try LedgerScenario()
            try ledger.openAccount("C-1")
            try ledger.invoice("C-1", "INV-C-1", totalMinor: 3000, dueOn: "2026-06-01")
            try ledger.pay("P-C", "C-1", minor: 3000)
            try ledger.invoice("C-1", "INV-C-2", totalMinor: 2500, dueOn: "2026-06-30")
            #expect(try ledger.balance("C-1").balanceMinor == 2500)
            try ledger.cancel("C-1", invoice: "INV-C-1", totalMinor: 3000)
            let balance = try ledger.balance("C-1")
            #expect(try ledger.itemState("doc-INV-C-1") == "cancelled")
            #expect(try ledger.itemState("doc-INV-C-2") == "paid")
            #expect(balance.balanceMinor == -500)
            #expect(balance.unallocatedCreditMinor == 500)
            #expect(
                try ledger.database.scalar(
                    "SELECT count(*) FROM ledger.allocations WHERE debit_document_id = 'doc-INV-C-1' AND released_at IS NOT NULL"
                ) == 1)
            try ledger.verify()
        }

        @Test("a reversed payment re-opens the invoices it paid; a reversal before its payment waits for it")
        func reversalReopens() throws {
            let ledger = try LedgerScenario()
            try ledger.openAccount("D-1")
            try ledger.invoice("D-1", "INV-D-1", totalMinor: 3000, dueOn: "2026-06-01")
            try ledger.invoice("D-1", "INV-D-2", totalMinor: 2500, dueOn: "2026-06-30")
            try ledger.pay("P-D", "D-1", minor: 5500)
            #expect(try ledger.balance("D-1").balanceMinor == 0)
            try ledger.send(
                ledger.paymentsTopic, key: "D-1", type: LedgerTypes.paymentReversed,
                PaymentReversed(
                    reversalId: "R-D", paymentId: "P-D", account: "D-1", amountMinor: 5500, currency: "EUR",
                    channel: "bank:DE89370400440532013000", reversedOn: "2026-05-12", reason: "AC04"))
            try ledger.waitPosted("payment-reversal", "R-D")
            var balance = try ledger.balance("D-1")
            #expect(balance.balanceMinor == 5500)
            #expect(balance.openInvoices.map(\.openMinor) == [3000, 2500])
            #expect(try ledger.itemState("P-D") == "reversed")

            // A chargeback that arrives before its payment is parked, reported, then applied.
            try ledger.send(
                ledger.paymentsTopic, key: "D-1", type: LedgerTypes.paymentReversed,
                PaymentReversed(
                    reversalId: "R-E", paymentId: "P-E", account: "D-1", amountMinor: 1000, currency: "EUR",
                    channel: "gateway:stripe", reversedOn: "2026-05-13", reason: "chargeback"))
            try eventually(timeoutMs: 30_000, "reversal parked") {
                try ledger.database.scalar("SELECT count(*) FROM ledger.parked_reversals WHERE reversal_id = 'R-E'")
                    == 1
            }
            #expect(try ledger.outboxCount(LedgerTypes.reversalParked) == 1)
            #expect(try ledger.balance("D-1").balanceMinor == 5500, "nothing posted for the parked reversal")
            try ledger.pay("P-E", "D-1", minor: 1000)
            try ledger.waitPosted("payment-reversal", "R-E")
            balance = try ledger.balance("D-1")
            #expect(balance.balanceMinor == 5500)
            #expect(
                try ledger.database.scalar("SELECT count(*) FROM ledger.parked_reversals WHERE resolved_at IS NOT NULL")
                    == 1)

            // A return that names no account waits the same way and finds its payment's account.
            try ledger.send(
                ledger.paymentsTopic, key: "P-F", type: LedgerTypes.paymentReversed,
                PaymentReversed(
                    reversalId: "R-F", paymentId: "P-F", account: nil, amountMinor: 400, currency: "EUR",
                    channel: "bank:DE89370400440532013000", reversedOn: "2026-05-14", reason: "MD06"))
            try eventually(timeoutMs: 30_000, "account-less reversal parked") {
                try ledger.database.scalar("SELECT count(*) FROM ledger.parked_reversals WHERE reversal_id = 'R-F'")
                    == 1
            }
            try ledger.pay("P-F", "D-1", minor: 400)
            try ledger.waitPosted("payment-reversal", "R-F")
            #expect(try ledger.balance("D-1").balanceMinor == 5500)

            // A return that names no account, for a payment already posted: its account is looked
            // up from the payment's journal entry, and the reversal posts at once.
            try ledger.pay("P-G", "D-1", minor: 700)
            #expect(try ledger.balance("D-1").balanceMinor == 4800)
            try ledger.send(
                ledger.paymentsTopic, key: "P-G", type: LedgerTypes.paymentReversed,
                PaymentReversed(
                    reversalId: "R-G", paymentId: "P-G", account: nil, amountMinor: 700, currency: "EUR",
                    channel: "bank:DE89370400440532013000", reversedOn: "2026-05-15", reason: "AC04"))
            try ledger.waitPosted("payment-reversal", "R-G")
            #expect(try ledger.balance("D-1").balanceMinor == 5500)
            #expect(
                try ledger.database.scalar("SELECT count(*) FROM ledger.parked_reversals WHERE resolved_at IS NULL")
                    == 0)
            try ledger.verify()
        }

        @Test("refund of a credit balance: due, exported, paid; refused above the credit")
        func refundOfCredit() throws {
            let ledger = try LedgerScenario()
            try ledger.openAccount("E-1")
            try ledger.pay("P-E1", "E-1", minor: 5000)
            #expect(try ledger.balance("E-1").balanceMinor == -5000)
            try ledger.refused(["refund", "--account", "E-1", "--amount", "60.00"], code: "insufficient_credit")
            let output = try ledger.done([
                "refund", "--account", "E-1", "--amount", "20.00", "--payee", "DE02120300000000202051", "--json",
            ])
            let refund = try #require(
                (try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]).flatMap {
                    ($0["result"] as? [String: String])?["refund"]
                })
            var balance = try ledger.balance("E-1")
            #expect(balance.balanceMinor == -3000)
            #expect(balance.unallocatedCreditMinor == 3000)
            try ledger.done(["refunds", "export"])
            #expect(try ledger.database.query("SELECT state FROM ledger.refunds")[0].string(0) == "exported")
            try ledger.done(["refunds", "confirm", refund, "--bank-reference", "BANK-77"])
            #expect(try ledger.database.query("SELECT state FROM ledger.refunds")[0].string(0) == "paid")
            try ledger.refused(["refunds", "confirm", refund], code: "invalid_state")
            balance = try ledger.balance("E-1")
            #expect(balance.balanceMinor == -3000, "paying out the refund does not move the balance again")
            #expect(
                try ledger.database.scalar(
                    "SELECT coalesce(sum(amount_minor), 0) FROM ledger.postings WHERE ledger_account = 'REFUNDS_PAYABLE'"
                ) == 0)
            try ledger.verify()
        }

        @Test("transfer moves credit to another account in one transaction; bad transfers are refused")
        func transfer() throws {
            let ledger = try LedgerScenario()
            try ledger.openAccount("F-1")
            try ledger.openAccount("F-2")
            try ledger.openAccount("F-USD", currency: "USD")
            try ledger.invoice("F-2", "INV-F-1", totalMinor: 1500, dueOn: "2026-06-01")
            try ledger.pay("P-F", "F-1", minor: 5000)
            try ledger.done(["transfer", "--from", "F-1", "--to", "F-2", "--amount", "20.00"])
            #expect(try ledger.balance("F-1").balanceMinor == -3000)
            let receiver = try ledger.balance("F-2")
            #expect(receiver.balanceMinor == -500)
            #expect(receiver.openInvoices.isEmpty, "the transferred credit paid the open invoice")
            try ledger.refused(["transfer", "--from", "F-1", "--to", "F-1", "--amount", "1.00"], code: "same_account")
            try ledger.refused(
                ["transfer", "--from", "F-1", "--to", "F-USD", "--amount", "1.00"], code: "currency_mismatch")
            try ledger.refused(
                ["transfer", "--from", "F-1", "--to", "F-404", "--amount", "1.00"], code: "unknown_account")
            try ledger.refused(
                ["transfer", "--from", "F-1", "--to", "F-2", "--amount", "30.01"], code: "insufficient_credit")
            try ledger.refused(["transfer", "--from", "F-1", "--to", "F-2", "--amount=-1"], code: "invalid_amount")
            #expect(try ledger.balance("F-1").balanceMinor == -3000, "refusals posted nothing")
            try ledger.verify()
        }

        @Test("write-off of part or all of an invoice, to the reason's expense account; never above what is open")
        func writeOff() throws {
            let ledger = try LedgerScenario()
            try ledger.openAccount("G-1")
            try ledger.invoice("G-1", "INV-G-1", totalMinor: 3000, dueOn: "2026-06-01")
            try ledger.pay("P-G", "G-1", minor: 1000)
            try ledger.refused(
                ["write-off", "--invoice", "INV-G-1", "--amount", "20.01", "--reason", "small-balance"],
                code: "above_open_amount")
            try ledger.done(["write-off", "--invoice", "INV-G-1", "--amount", "5.00", "--reason", "goodwill"])
            #expect(try ledger.balance("G-1").openInvoices.first?.openMinor == 1500)
            try ledger.done(["write-off", "--invoice", "INV-G-1", "--reason", "small-balance"])
            #expect(try ledger.itemState("doc-INV-G-1") == "paid")
            #expect(try ledger.balance("G-1").balanceMinor == 0)
            #expect(
                try ledger.database.scalar(
                    "SELECT sum(amount_minor) FROM ledger.postings WHERE ledger_account = 'WRITE_OFF:small-balance'")
                    == 1500)
            #expect(
                try ledger.database.scalar(
                    "SELECT sum(amount_minor) FROM ledger.postings WHERE ledger_account = 'WRITE_OFF:goodwill'") == 500)
            try ledger.refused(["write-off", "--invoice", "INV-G-1", "--reason", "goodwill"], code: "nothing_open")

            // Terminating an account that owes writes its open invoices off first.
            try ledger.openAccount("G-2")
            try ledger.invoice("G-2", "INV-G-2", totalMinor: 1800, dueOn: "2026-06-01")
            try ledger.invoice("G-2", "INV-G-3", totalMinor: 700, dueOn: "2026-07-01")
            try ledger.refused(["account", "terminate", "G-2"], code: "balance_not_zero")
            try ledger.done(["account", "terminate", "G-2", "--write-off", "uncollectible"])
            #expect(try ledger.balance("G-2").balanceMinor == 0)
            #expect(
                try ledger.database.scalar(
                    "SELECT sum(amount_minor) FROM ledger.postings WHERE ledger_account = 'WRITE_OFF:uncollectible'")
                    == 2500)
            #expect(
                try ledger.database.query("SELECT state FROM ledger.accounts WHERE number = 'G-2'")[0].string(0)
                    == "terminated")
            try ledger.verify()
        }

        @Test(
            "SIGKILL while payments flow (two loops per process): every payment posted once, balances exact",
            .timeLimit(.minutes(6)))
        func killedWhilePosting() throws {
            let ledger = try LedgerScenario(["WORKER_POLL_BATCH_COUNT_MAX": "100", "WORKER_CONCURRENCY": "2"])
            let seed = UInt64.random(in: 1...UInt64.max)
            print("allocator kill test seed \(seed)")
            var random = SplitMix64(seed: seed)
            let accounts = (1...8).map { "K-\($0)" }
            var expected: [String: Int64] = [:]
            for account in accounts {
                try ledger.openAccount(account)
                for index in 1...3 {
                    try ledger.send(
                        ledger.documentsTopic, key: account, type: LedgerTypes.documentPosted,
                        DocumentPosted(
                            documentId: "doc-\(account)-\(index)", kind: "invoice", account: account,
                            number: "INV-\(account)-\(index)", currency: "EUR", netMinor: 50_000, taxMinor: 10_000,
                            totalMinor: 60_000, postedOn: "2026-05-01", dueOn: "2026-06-0\(index)"))
                    expected[account, default: 0] += 60_000
                }
            }
            // Payments fed on a thread of their own until the kills are over; every tenth is
            // delivered twice (a second event for the same payment, as a redelivering bank feed would).
            let plan = (0..<100_000).map { index in
                (id: "KP-\(index)", account: accounts[index % accounts.count], minor: Int64(50 + index * 37 % 500))
            }
            let produced = Locked(0)
            let stopFeeding = Locked(false)
            let failure = Locked<String?>(nil)
            let producer = try KafkaProducer(configuration: ledger.stack.kafka)
            defer { producer.close(timeoutMs: 5_000) }
            let topic = ledger.paymentsTopic
            let feeder = DedicatedThread.start(name: "feeder") {
                do {
                    var next = 0
                    while !stopFeeding.current, next < plan.count {
                        var messages: [KafkaOutgoingMessage] = []
                        for entry in plan[next..<next + 25] {
                            let payment = LedgerScenario.payment(entry.id, entry.account, minor: entry.minor)
                            for _ in 0..<(entry.id.hasSuffix("0") ? 2 : 1) {
                                messages.append(
                                    LedgerScenario.message(
                                        topic, key: entry.account, type: LedgerTypes.paymentIdentified, payment))
                            }
                        }
                        try LedgerScenario.send(messages, with: producer)
                        next += 25
                        produced.withLock { $0 = next }
                        sleepThread(milliseconds: 50)
                    }
                } catch {
                    failure.withLock { $0 = "\(error)" }
                }
            }
            // Should the test end early (a thrown error), the feeder stops before its producer closes.
            defer {
                stopFeeding.withLock { $0 = true }
                _ = feeder.join(timeoutMs: 120_000)
            }
            func posted() throws -> Int64 {
                try ledger.database.scalar(
                    "SELECT count(*) FROM ledger.journal_entries WHERE document_kind = 'payment'")
            }
            var kills = 0
            var postedAtStart = try posted()
            while kills < 4 {
                try eventually(timeoutMs: 60_000, "instance \(kills + 1) posting payments") {
                    try posted() > postedAtStart
                }
                sleepThread(milliseconds: Int(random.next() % 1_000))
                ledger.worker.kill()
                kills += 1
                postedAtStart = try posted()
                print("kill \(kills) at \(postedAtStart) payments posted, \(produced.current) produced")
                try ledger.worker.start()
                _ = try ledger.worker.waitForOpsPort()
            }
            stopFeeding.withLock { $0 = true }
            #expect(feeder.join(timeoutMs: 120_000), "the feeder finished")
            #expect(failure.current == nil, "producing failed: \(failure.current ?? "")")
            let total = produced.current
            try eventually(timeoutMs: 120_000, "all \(total) payments posted") { try posted() == Int64(total) }
            sleepThread(milliseconds: 1_000)  // let copies still in flight arrive: they must change nothing
            #expect(try posted() == Int64(total), "no payment posted twice")
            for entry in plan[0..<total] { expected[entry.account, default: 0] -= entry.minor }
            for account in accounts {
                #expect(try ledger.balance(account).balanceMinor == expected[account], "\(account)")
            }
            #expect(
                try ledger.database.scalar("SELECT count(*) FROM ledger.dead_letters") == 0,
                "nothing was dead-lettered")
            // The last instance's two loops share the partitions, each under its own name.
            let instance = "%-\(ledger.worker.pid ?? 0)#%"
            #expect(
                try ledger.database.scalar(
                    "SELECT count(DISTINCT owner) FROM ledger.consumer_offsets WHERE owner LIKE $1", [instance]) == 2)
            try ledger.verify()
            #expect(ledger.worker.terminate() == 0, "a SIGTERM stop exits 0")
        }

        @Test(
            "verify finds a tampered ledger: a dangling allocation, a balance that differs from its postings, a stray statement line"
        )
        func verifyFindsTampering() throws {
            let ledger = try LedgerScenario()
            try ledger.openAccount("V-1")
            try ledger.invoice("V-1", "INV-V-1", totalMinor: 3000, dueOn: "2026-06-01")
            try ledger.pay("P-V", "V-1", minor: 1000)
            try ledger.verify()
            let owner = try ledger.database.connect()
            defer { owner.close() }
            try owner.query(
                """
                INSERT INTO ledger.allocations (account_id, credit_document_id, debit_document_id, currency, amount_minor,
                    reason)
                SELECT account_id, 'P-V', 'NO-SUCH-ITEM', 'EUR', 1, 'fifo' FROM ledger.accounts WHERE number = 'V-1'
                """)
            try owner.query("UPDATE ledger.accounts SET balance_minor = balance_minor + 1 WHERE number = 'V-1'")
            try owner.query(
                """
                INSERT INTO ingest.statement_lines (file_id, statement_id, identity, identity_key, identity_weak, kind,
                    outcome, amount_minor, currency, location)
                VALUES ('NO-SUCH-FILE', 'NO-SUCH-STATEMENT', 'tampered', 'tampered', false, 'credit', 'unidentified', 1,
                    'EUR', 'entry 1')
                """)
            let result = try ledger.ctl(["verify", "--json"])
            #expect(result.status == 1, "\(result.output)")
            struct Report: Decodable {
                struct Check: Decodable {
                    let name: String
                    let ok: Bool
                    let detail: String
                }
                let ok: Bool
                let checks: [Check]
            }
            // The output holds the report and, on standard error, the failure line.
            guard let start = result.output.firstIndex(of: "{"), let end = result.output.lastIndex(of: "}") else {
                throw HarnessError("no report: \(result.output)")
            }
            let report = try ContractJSON.decoder().decode(Report.self, from: Data(result.output[start...end].utf8))
            #expect(!report.ok)
            let failed = Dictionary(uniqueKeysWithValues: report.checks.filter { !$0.ok }.map { ($0.name, $0.detail) })
            #expect(
                failed["every ledger row and statement line refers to rows that exist"]?.contains(
                    "1 allocations whose credit or debit") == true, "\(failed)")
            #expect(failed["AR control equals the sum of client balances"] != nil, "\(failed)")
            #expect(
                failed["every ledger row and statement line refers to rows that exist"]?.contains(
                    "1 statement lines of an unknown file, 1 statement lines of an unknown statement") == true,
                "\(failed)")
        }

        @Test("the same payment delivered three times posts once; so does a replayed command")
        func duplicatesPostOnce() throws {
            let ledger = try LedgerScenario()
            try ledger.openAccount("H-1")
            try ledger.invoice("H-1", "INV-H-1", totalMinor: 3000, dueOn: "2026-06-01")
            let payment = ledger.payment("P-H", "H-1", minor: 1000)
            try ledger.send(
                ledger.paymentsTopic, key: "H-1", type: LedgerTypes.paymentIdentified, payment, id: "same-event")
            try ledger.send(
                ledger.paymentsTopic, key: "H-1", type: LedgerTypes.paymentIdentified, payment, id: "same-event")
            try ledger.send(ledger.paymentsTopic, key: "H-1", type: LedgerTypes.paymentIdentified, payment)
            try ledger.pay("P-H2", "H-1", minor: 1)  // a marker after the three copies on the same partition
            #expect(
                try ledger.database.scalar("SELECT count(*) FROM ledger.journal_entries WHERE document_id = 'P-H'") == 1
            )
            #expect(try ledger.balance("H-1").balanceMinor == 1999)
            let command = MoneyCommand(
                origin: CommandOrigin(requestedBy: "tests"), account: "H-1", amount: "1.00")
            for _ in 0..<2 {
                try ledger.send(ledger.commandsTopic, key: "H-1", type: LedgerTypes.paymentRecord, command, id: "cmd-1")
            }
            try eventually(timeoutMs: 30_000, "command carried out") {
                try ledger.database.scalar("SELECT count(*) FROM ledger.command_outcomes WHERE command_id = 'cmd-1'")
                    == 1
            }
            // A later command on the same key and partition: once it is done, both copies were read.
            try ledger.done(["account", "update", "H-1", "--name", "Client H-1 renamed"])
            try ledger.pay("P-H3", "H-1", minor: 1)
            #expect(try ledger.balance("H-1").balanceMinor == 1898)
            #expect(
                try ledger.database.scalar(
                    "SELECT count(*) FROM ledger.journal_entries WHERE document_id = 'PAY-cmd-1'") == 1)
            try ledger.verify()
        }

        @Test("bad input is refused with a reason or dead-lettered; nothing is half-applied and the worker carries on")
        func badInput() throws {
            let ledger = try LedgerScenario()
            try ledger.openAccount("K-1")
            try ledger.openAccount("K-2")
            try ledger.done(["account", "suspend", "K-2"])
            try ledger.refused(["account", "suspend", "K-2"], code: "invalid_state")
            try ledger.done(["account", "reactivate", "K-2"])
            try ledger.refused(["account", "reactivate", "K-2"], code: "invalid_state")
            try ledger.refused(
                ["account", "open", "--number", "K-1", "--name", "Again", "--currency", "EUR"], code: "account_exists")
            try ledger.refused(
                ["account", "open", "--number", "K-3", "--name", "X", "--currency", "XYZ"], code: "unknown_currency")
            try ledger.refused(
                ["payment", "record", "--account", "K-1", "--amount", "5.00", "--currency", "USD"],
                code: "currency_mismatch")
            try ledger.refused(["payment", "record", "--account", "K-1", "--amount", "0"], code: "invalid_amount")
            try ledger.refused(
                ["payment", "record", "--account", "K-1", "--amount", "1.001"], code: "too_many_decimals")
            try ledger.refused(["refund", "--account", "K-404", "--amount", "1.00"], code: "unknown_account")

            try ledger.pay("P-K", "K-1", minor: 700)
            try ledger.refused(["account", "terminate", "K-1"], code: "balance_not_zero")
            try ledger.done(["account", "terminate", "K-1", "--transfer-to", "K-2"])
            #expect(try ledger.balance("K-1").balanceMinor == 0)
            #expect(try ledger.balance("K-2").balanceMinor == -700)
            try ledger.refused(
                ["payment", "record", "--account", "K-1", "--amount", "1.00"], code: "account_terminated")

            // A payment for a terminated account is money received: it waits in suspense.
            try ledger.send(
                ledger.paymentsTopic, key: "K-1", type: LedgerTypes.paymentIdentified,
                ledger.payment("P-K2", "K-1", minor: 300))
            try ledger.waitPosted("unidentified-payment", "P-K2")
            #expect(
                try ledger.database.scalar(
                    "SELECT sum(amount_minor) FROM ledger.postings WHERE ledger_account = 'SUSPENSE'") == -300)

            // Malformed events are dead-lettered with a reason; the partition moves on.
            try ledger.send(
                ledger.documentsTopic, key: "K-2", type: LedgerTypes.documentPosted,
                ["document_id": "bad", "kind": "invoice", "account": "K-2"])
            try ledger.send(
                ledger.paymentsTopic, key: "K-2", type: LedgerTypes.paymentIdentified,
                ledger.payment("P-K3", "K-2", minor: -5))
            try ledger.send(
                ledger.documentsTopic, key: "K-2", type: LedgerTypes.documentPosted,
                DocumentPosted(
                    documentId: "doc-nobody", kind: "invoice", account: "K-404", number: "INV-X", currency: "EUR",
                    netMinor: 100, taxMinor: 0, totalMinor: 100, postedOn: "2026-05-01"))
            try ledger.invoice("K-2", "INV-K-1", totalMinor: 500, dueOn: "2026-06-01")
            try eventually(timeoutMs: 30_000, "three dead letters") {
                try ledger.database.scalar("SELECT count(*) FROM ledger.dead_letters") == 3
            }
            let reasons = try ledger.database.query("SELECT reason_code, reason FROM ledger.dead_letters ORDER BY id")
                .values
            #expect(reasons.contains { $0[0] == "invalid_payload" && ($0[1] ?? "").contains("is missing") })
            #expect(reasons.contains { $0[0] == "invalid_amount" })
            #expect(reasons.contains { $0[0] == "invalid_account" && ($0[1] ?? "").contains("K-404") })
            #expect(try ledger.balance("K-2").balanceMinor == -200)
            #expect(ledger.worker.isRunning)
            try ledger.verify()
        }
    }
}
