import BillingPostgres
import BillingSupport
import Foundation
import Testing

extension Integration {
    @Suite("domain schema")
    struct DomainSchema {
        /// An account and an empty journal entry for it, committed.
        static func accountAndEntry(_ connection: PGConnection, document: String) throws -> (
            account: Int64, entry: Int64
        ) {
            let account = try connection.query(
                """
                INSERT INTO ledger.accounts (number, name, currency, credit_rule)
                VALUES ($1, 'Test client', 'EUR', 'days:10') RETURNING account_id
                """, ["A-\(document)"])[0].int64("account_id")
            let entry = try connection.query(
                """
                INSERT INTO ledger.journal_entries (account_id, document_kind, document_id)
                VALUES ($1, 'invoice', $2) RETURNING entry_id
                """, [account, document])[0].int64("entry_id")
            return (account, entry)
        }

        @Test("postings that leave an entry unbalanced are refused by their statement; an entry written whole commits")
        func unbalancedRefusedByStatement() throws {
            let stack = try TestStack.fromEnvironment()
            let database = try TestDatabase.create(stack)
            defer { database.drop() }
            let connection = try database.connect(role: "billing_allocator")
            defer { connection.close() }
            let insert = "INSERT INTO ledger.postings (entry_id, account_id, ledger_account, currency, amount_minor) "
            let refusals = [
                // Off by 20.00 within one statement.
                [insert + "VALUES ($1, $2, 'AR', 'EUR', 12000), ($1, NULL, 'REVENUE', 'EUR', -10000)"],
                // Half an entry: the other half in a later statement does not save it.
                [
                    insert + "VALUES ($1, $2, 'AR', 'EUR', 2000)",
                    insert + "VALUES ($1, NULL, 'REVENUE', 'EUR', -2000)",
                ],
            ]
            for (index, statements) in refusals.enumerated() {
                var reached = 0
                do {
                    try connection.transaction { transaction in
                        let (account, entry) = try Self.accountAndEntry(transaction, document: "INV-\(index)")
                        for sql in statements {
                            try transaction.query(sql, [entry, account])
                            reached += 1
                        }
                    }
                    Issue.record("an unbalanced entry committed: \(statements)")
                } catch let error as PGError {
                    #expect(reached == 0, "refused by the statement that unbalanced the entry")
                    #expect(error.sqlState == "23514")
                    #expect(error.message.contains("does not balance in EUR: off by 2000"))
                }
            }
            #expect(try database.scalar("SELECT count(*) FROM ledger.postings") == 0, "nothing was half-applied")

            try connection.transaction { transaction in
                let (account, entry) = try Self.accountAndEntry(transaction, document: "INV-OK")
                try transaction.query(
                    """
                    INSERT INTO ledger.postings (entry_id, account_id, ledger_account, currency, amount_minor)
                    VALUES ($1, $2, 'AR', 'EUR', 12000), ($1, NULL, 'REVENUE', 'EUR', -10000),
                           ($1, NULL, 'TAX_PAYABLE', 'EUR', -2000)
                    """, [entry, account])
            }
            #expect(try database.scalar("SELECT count(*) FROM ledger.postings") == 3)
        }

        @Test("postings and journal entries cannot be updated, deleted or truncated, even by the owner")
        func postingsAreFinal() throws {
            let stack = try TestStack.fromEnvironment()
            let database = try TestDatabase.create(stack)
            defer { database.drop() }
            let owner = try database.connect()
            defer { owner.close() }
            try owner.transaction { transaction in
                let (account, entry) = try Self.accountAndEntry(transaction, document: "INV-1")
                try transaction.query(
                    """
                    INSERT INTO ledger.postings (entry_id, account_id, ledger_account, currency, amount_minor)
                    VALUES ($1, $2, 'AR', 'EUR', 500), ($1, NULL, 'REVENUE', 'EUR', -500)
                    """, [entry, account])
            }
            for statement in [
                "UPDATE ledger.postings SET amount_minor = 1", "DELETE FROM ledger.postings",
                "TRUNCATE ledger.postings CASCADE",
                "UPDATE ledger.journal_entries SET document_id = 'x'", "DELETE FROM ledger.journal_entries",
            ] {
                do {
                    try owner.query(statement)
                    Issue.record("\(statement) succeeded")
                } catch let error as PGError {
                    #expect(error.sqlState == "23000", "\(statement): \(error)")
                    #expect(error.message.contains("not allowed"))
                }
            }
            let allocator = try database.connect(role: "billing_allocator")
            defer { allocator.close() }
            #expect(throws: PGError.self) { try allocator.query("UPDATE ledger.postings SET amount_minor = 1") }
            #expect(try database.scalar("SELECT sum(abs(amount_minor)) FROM ledger.postings") == 1000)
        }

        @Test(
            "concurrent postings never share a number, and a rolled-back posting leaves no gap", .timeLimit(.minutes(2))
        )
        func gaplessNumbering() throws {
            let stack = try TestStack.fromEnvironment()
            let database = try TestDatabase.create(stack)
            defer { database.drop() }
            let committed = Locked<[String]>([])
            let rolledBack = Locked(0)
            let failures = Locked<[String]>([])
            let threads = (0..<4).map { worker in
                DedicatedThread.start(name: "poster-\(worker)") {
                    do {
                        let connection = try database.connect(role: "billing_invoicer")
                        defer { connection.close() }
                        var random = SplitMix64(seed: UInt64(worker + 1) * 7_919)
                        for _ in 0..<40 {
                            try connection.query("BEGIN")
                            let number = try connection.query(
                                "SELECT documents.next_document_number('invoice', 2026, 'INV') AS number")[0].string(
                                    "number")
                            sleepThread(milliseconds: Int(random.next() % 3))
                            if random.next() % 4 == 0 {
                                try connection.query("ROLLBACK")
                                rolledBack.withLock { $0 += 1 }
                            } else {
                                try connection.query("COMMIT")
                                committed.withLock { $0.append(number) }
                            }
                        }
                    } catch {
                        failures.withLock { $0.append("\(error)") }
                    }
                }
            }
            for thread in threads { #expect(thread.join(timeoutMs: 60_000)) }
            #expect(failures.current.isEmpty, "\(failures.current)")
            let numbers = committed.current
            #expect(rolledBack.current > 0, "some postings were rolled back")
            #expect(Set(numbers).count == numbers.count, "no number was given twice")
            let sequences = numbers.compactMap { Int($0.split(separator: "-").last ?? "") }.sorted()
            #expect(sequences == Array(1...numbers.count), "the committed numbers have no gaps")
            #expect(numbers.allSatisfy { $0.hasPrefix("INV-2026-") && $0.count == "INV-2026-000001".count })
            #expect(try database.scalar("SELECT last_sequence FROM documents.number_series") == Int64(numbers.count))
        }

        @Test("ANALYZE leaves out the columns that only carry bytes, in every service's outbox and dead letters")
        func payloadColumnsOutOfAnalyze() throws {
            let stack = try TestStack.fromEnvironment()
            let database = try TestDatabase.create(stack)
            defer { database.drop() }
            let connection = try database.connect()
            defer { connection.close() }
            let targets = try connection.query(
                """
                SELECT n.nspname AS schema_name, c.relname AS table_name, a.attname AS column_name,
                       a.attstattarget AS target
                FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid
                JOIN pg_namespace AS n ON n.oid = c.relnamespace
                WHERE c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
                  AND c.relname IN ('outbox', 'dead_letters', 'files', 'gateway_events')
                  AND n.nspname IN ('ingest', 'documents', 'ledger', 'sending', 'suspense')
                """)
            var off: Set<String> = []
            var kept: Set<String> = []
            for row in targets.rows {
                let table = "\(try row.string("schema_name")).\(try row.string("table_name"))"
                let name = "\(table).\(try row.string("column_name"))"
                if try row.int("target") == 0 { off.insert(name) } else { kept.insert(name) }
            }
            for schema in ["ingest", "documents", "ledger", "sending", "suspense"] {
                for column in ["topics", "message_keys", "headers", "payloads", "event_ids"] {
                    #expect(off.contains("\(schema).outbox.\(column)"))
                }
                for column in ["message_key", "headers", "payload"] {
                    #expect(off.contains("\(schema).dead_letters.\(column)"))
                }
                #expect(kept.contains("\(schema).outbox.id"))
                #expect(kept.contains("\(schema).outbox.sent_at"))
            }
            #expect(off.contains("ingest.files.raw"))
            #expect(off.contains("ingest.gateway_events.raw"))
            #expect(off.count == 5 * 8 + 2)
            // What ANALYZE then gathers: the outbox's ids and times, not its payloads.
            try connection.query(
                """
                INSERT INTO ledger.outbox (topics, message_keys, headers, payloads, event_ids)
                SELECT ARRAY['t'], ARRAY[NULL::bytea], ARRAY['\\x00'::bytea],
                       ARRAY[convert_to(repeat('x', 5000), 'UTF8')], ARRAY['e' || g]
                FROM generate_series(1, 20) AS g
                """)
            try connection.query("ANALYZE ledger.outbox")
            let analysed = try connection.query(
                "SELECT attname FROM pg_stats WHERE schemaname = 'ledger' AND tablename = 'outbox' ORDER BY attname")
            #expect(analysed.values.compactMap { $0[0] } == ["created_at", "id", "message_count", "sent_at"])
        }

        @Test("amount and consistency checks hold in the database itself")
        func checks() throws {
            let stack = try TestStack.fromEnvironment()
            let database = try TestDatabase.create(stack)
            defer { database.drop() }
            let connection = try database.connect()
            defer { connection.close() }
            let refused = [
                "INSERT INTO ledger.accounts (number, name, currency, credit_rule, credit_limit_minor) VALUES ('A-1', 'x', 'EUR', 'days:1', -1)",
                "INSERT INTO ledger.accounts (number, name, currency, credit_rule) VALUES ('A 1', 'x', 'EUR', 'days:1')",
                "INSERT INTO ledger.accounts (number, name, currency, credit_rule, presentment) VALUES ('A-2', 'x', 'EUR', 'days:1', 'email')",
                """
                INSERT INTO documents.documents (document_id, account_id, kind, reference, currency, issued_on, net_minor, tax_minor, total_minor)
                VALUES ('d1', 1, 'invoice', 'R-1', 'EUR', '2026-05-20', 100, 20, 121)
                """,
                """
                INSERT INTO documents.documents (document_id, account_id, kind, state, reference, currency, issued_on)
                VALUES ('d2', 1, 'invoice', 'posted', 'R-2', 'EUR', '2026-05-20')
                """,
            ]
            for statement in refused {
                do {
                    try connection.query(statement)
                    Issue.record("accepted: \(statement)")
                } catch let error as PGError {
                    #expect(error.sqlState?.hasPrefix("23") == true, "\(error)")
                }
            }
            try connection.query(
                """
                INSERT INTO documents.documents (document_id, account_id, kind, reference, currency, issued_on, back_office_code)
                VALUES ('d3', 1, 'invoice', 'R-3', 'EUR', '2026-05-20', 'BO-1')
                """)
            #expect(throws: PGError.self) {
                try connection.query(
                    """
                    INSERT INTO documents.documents (document_id, account_id, kind, reference, currency, issued_on, back_office_code)
                    VALUES ('d4', 1, 'invoice', 'R-4', 'EUR', '2026-05-20', 'BO-1')
                    """)
            }
        }
    }
}
