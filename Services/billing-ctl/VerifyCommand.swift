import ArgumentParser
import BillingPostgres

/// Checks the ledger's invariants over the whole database, in one snapshot.
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check the ledger's invariants over the whole database; exit 1 on any violation.",
        discussion: """
            Checks: every journal entry balances; AR control equals the sum of client balances (and each
            balance its postings); no allocation exceeds its debit or credit; each item's open amount equals
            its amount minus its allocations; each balance equals open debits minus unallocated credit;
            every posted document has exactly one journal entry (run it once the allocator has caught up:
            a document still on its way counts as missing); every refund has its entries; legal numbers have
            no gaps and no duplicates; document totals are the sums of their lines and the ledger holds
            each document at its total; every ledger row and statement line refers to rows that exist.
            """)

    @OptionGroup var output: OutputOptions

    struct Check: Encodable {
        let name: String
        let ok: Bool
        let detail: String
    }

    struct Report: Encodable {
        let ok: Bool
        let checks: [Check]
    }

    /// A check is a query returning (violations, detail); zero violations passes.
    static let checks: [(name: String, sql: String)] = [
        (
            "journal entries balance",
            """
            SELECT count(*) FILTER (WHERE off <> 0 OR postings = 0),
                   format('%s entries checked; %s do not balance or have no postings', count(*),
                          count(*) FILTER (WHERE off <> 0 OR postings = 0))
            FROM (SELECT e.entry_id, coalesce(max(abs(s.off)), 0) AS off, coalesce(sum(s.n), 0) AS postings
                  FROM ledger.journal_entries AS e
                  LEFT JOIN (SELECT entry_id, currency, sum(amount_minor) AS off, count(*) AS n
                             FROM ledger.postings GROUP BY entry_id, currency) AS s USING (entry_id)
                  GROUP BY e.entry_id) AS t
            """
        ),
        (
            "AR control equals the sum of client balances",
            """
            WITH control AS (SELECT currency, sum(amount_minor) AS total FROM ledger.postings
                             WHERE ledger_account = 'AR' GROUP BY currency),
                 balances AS (SELECT currency, sum(balance_minor) AS total FROM ledger.accounts GROUP BY currency),
                 per_account AS (SELECT a.account_id FROM ledger.accounts AS a
                                 LEFT JOIN (SELECT account_id, sum(amount_minor) AS total FROM ledger.postings
                                            WHERE ledger_account = 'AR' GROUP BY account_id) AS p USING (account_id)
                                 WHERE a.balance_minor <> coalesce(p.total, 0)),
                 currencies AS (SELECT coalesce(c.currency, b.currency) AS currency,
                                       coalesce(c.total, 0) AS control, coalesce(b.total, 0) AS balances
                                FROM control AS c FULL JOIN balances AS b USING (currency))
            SELECT (SELECT count(*) FROM currencies WHERE control <> balances) + (SELECT count(*) FROM per_account),
                   coalesce((SELECT string_agg(format('%s: control %s, balances %s', currency, control, balances), '; '
                                               ORDER BY currency) FROM currencies), 'no postings')
                   || format('; %s accounts whose balance differs from their postings',
                             (SELECT count(*) FROM per_account))
            """
        ),
        (
            "no allocation exceeds its debit or credit",
            """
            WITH used AS (
                SELECT account_id, credit_document_id AS document_id, sum(amount_minor) AS total
                FROM ledger.allocations WHERE released_at IS NULL GROUP BY 1, 2
                UNION ALL
                SELECT account_id, debit_document_id, sum(amount_minor)
                FROM ledger.allocations WHERE released_at IS NULL GROUP BY 1, 2)
            SELECT count(*), format('%s items over-allocated', count(*))
            FROM used AS u JOIN ledger.items AS i USING (account_id, document_id)
            WHERE u.total > i.amount_minor
            """
        ),
        (
            "each item's open amount equals its amount minus allocations",
            """
            WITH used AS (
                SELECT account_id, document_id, sum(total) AS total FROM (
                    SELECT account_id, credit_document_id AS document_id, amount_minor AS total
                    FROM ledger.allocations WHERE released_at IS NULL
                    UNION ALL
                    SELECT account_id, debit_document_id, amount_minor
                    FROM ledger.allocations WHERE released_at IS NULL) AS a GROUP BY 1, 2)
            SELECT count(*) FILTER (WHERE i.open_minor <> i.amount_minor - coalesce(u.total, 0)),
                   format('%s items checked (%s invoices); %s differ', count(*),
                          count(*) FILTER (WHERE i.document_kind = 'invoice'),
                          count(*) FILTER (WHERE i.open_minor <> i.amount_minor - coalesce(u.total, 0)))
            FROM ledger.items AS i LEFT JOIN used AS u USING (account_id, document_id)
            """
        ),
        (
            "each balance equals open debits minus unallocated credit",
            """
            SELECT count(*), format('%s accounts differ', count(*))
            FROM ledger.accounts AS a
            LEFT JOIN (SELECT account_id,
                              sum(CASE WHEN side = 'debit' THEN open_minor ELSE -open_minor END) AS net
                       FROM ledger.items WHERE open_minor > 0 GROUP BY account_id) AS i USING (account_id)
            WHERE a.balance_minor <> coalesce(i.net, 0)
            """
        ),
        (
            "every posted document has exactly one journal entry",
            """
            WITH missing_items AS (
                SELECT count(*) AS n FROM ledger.journal_entries AS e
                WHERE e.account_id IS NOT NULL AND e.document_kind NOT IN ('refund-payout')
                  AND NOT EXISTS (SELECT 1 FROM ledger.items AS i
                                  WHERE i.account_id = e.account_id AND i.document_id = e.document_id)),
            missing_entries AS (
                SELECT count(*) AS n FROM ledger.items AS i
                WHERE NOT EXISTS (SELECT 1 FROM ledger.journal_entries AS e
                                  WHERE e.document_kind = i.document_kind AND e.document_id = i.document_id)),
            unposted AS (
                SELECT count(*) AS n FROM documents.documents AS d
                WHERE d.state = 'posted' AND NOT EXISTS (
                    SELECT 1 FROM ledger.journal_entries AS e WHERE e.document_kind = d.kind AND e.document_id = d.document_id)),
            repeated AS (
                SELECT count(*) AS n FROM (SELECT 1 FROM ledger.journal_entries
                                           GROUP BY document_kind, document_id HAVING count(*) > 1) AS r)
            SELECT m.n + x.n + u.n + r.n,
                   format('%s entries without their item, %s items without an entry, %s posted documents not in the ledger, %s repeated',
                          m.n, x.n, u.n, r.n)
            FROM missing_items AS m, missing_entries AS x, unposted AS u, repeated AS r
            """
        ),
        (
            "legal numbers have no gaps and no duplicates",
            """
            WITH numbered AS (
                SELECT kind, extract(year FROM posted_on)::integer AS year, split_part(number, '-', 3)::bigint AS seq
                FROM documents.documents WHERE state = 'posted'),
            series AS (
                SELECT s.document_kind, s.year, s.last_sequence, count(n.seq) AS n, count(DISTINCT n.seq) AS distinct_n,
                       coalesce(min(n.seq), 1) AS lo, coalesce(max(n.seq), 0) AS hi
                FROM documents.number_series AS s
                LEFT JOIN numbered AS n ON n.kind = s.document_kind AND n.year = s.year
                GROUP BY 1, 2, 3),
            bad AS (
                SELECT format('%s %s: %s numbers for %s taken', document_kind, year, n, last_sequence) AS what
                FROM series WHERE n <> last_sequence OR distinct_n <> n OR lo <> 1 OR hi <> last_sequence
                UNION ALL
                SELECT format('%s %s: numbered outside any series', kind, year) FROM numbered AS n
                WHERE NOT EXISTS (SELECT 1 FROM documents.number_series AS s
                                  WHERE s.document_kind = n.kind AND s.year = n.year))
            SELECT (SELECT count(*) FROM bad),
                   format('%s series, %s numbers checked', (SELECT count(*) FROM series),
                          (SELECT count(*) FROM numbered))
                   || coalesce('; ' || (SELECT string_agg(what, '; ') FROM bad), '')
            """
        ),
        (
            "document totals are the sums of their lines, and the ledger holds each at its total",
            """
            WITH sums AS (
                SELECT document_id, sum(net_minor) AS net, sum(discount_minor) AS discount, sum(tax_minor) AS tax,
                       sum(total_minor) AS total
                FROM documents.document_lines GROUP BY document_id),
            wrong_totals AS (
                SELECT count(*) AS n FROM documents.documents AS d LEFT JOIN sums AS l USING (document_id)
                WHERE d.kind IN ('invoice', 'credit-note')
                  AND (l.document_id IS NULL OR (d.net_minor, d.discount_minor, d.tax_minor, d.total_minor)
                       IS DISTINCT FROM (l.net, l.discount, l.tax, l.total))),
            wrong_ledger AS (
                SELECT count(*) AS n FROM documents.documents AS d
                JOIN ledger.items AS i ON i.account_id = d.account_id AND i.document_id = d.document_id
                WHERE i.amount_minor <> d.total_minor OR i.document_kind <> d.kind OR d.state <> 'posted')
            SELECT t.n + w.n,
                   format('%s documents checked; %s totals differ from their lines, %s ledger items differ from their document',
                          (SELECT count(*) FROM documents.documents), t.n, w.n)
            FROM wrong_totals AS t, wrong_ledger AS w
            """
        ),
        (
            "every ledger row and statement line refers to rows that exist",
            """
            WITH dangling AS (
                SELECT 'postings without their entry' AS what, count(*) AS n FROM ledger.postings AS p
                WHERE NOT EXISTS (SELECT 1 FROM ledger.journal_entries AS e WHERE e.entry_id = p.entry_id)
                UNION ALL
                SELECT 'postings of an unknown account', count(*) FROM ledger.postings AS p
                WHERE p.account_id IS NOT NULL
                  AND NOT EXISTS (SELECT 1 FROM ledger.accounts AS a WHERE a.account_id = p.account_id)
                UNION ALL
                SELECT 'entries of an unknown account', count(*) FROM ledger.journal_entries AS e
                WHERE e.account_id IS NOT NULL
                  AND NOT EXISTS (SELECT 1 FROM ledger.accounts AS a WHERE a.account_id = e.account_id)
                UNION ALL
                SELECT 'items of an unknown account', count(*) FROM ledger.items AS i
                WHERE NOT EXISTS (SELECT 1 FROM ledger.accounts AS a WHERE a.account_id = i.account_id)
                UNION ALL
                SELECT 'allocations whose credit or debit is not an item of their account', count(*)
                FROM ledger.allocations AS l
                WHERE NOT EXISTS (SELECT 1 FROM ledger.items AS i
                                  WHERE i.account_id = l.account_id AND i.document_id = l.credit_document_id)
                   OR NOT EXISTS (SELECT 1 FROM ledger.items AS i
                                  WHERE i.account_id = l.account_id AND i.document_id = l.debit_document_id)
                UNION ALL
                SELECT 'statement lines of an unknown file', count(*) FROM ingest.statement_lines AS l
                WHERE NOT EXISTS (SELECT 1 FROM ingest.files AS f WHERE f.file_id = l.file_id)
                UNION ALL
                SELECT 'statement lines of an unknown statement', count(*) FROM ingest.statement_lines AS l
                WHERE NOT EXISTS (SELECT 1 FROM ingest.statements AS s WHERE s.statement_id = l.statement_id))
            SELECT sum(n)::bigint, string_agg(format('%s %s', n, what), ', ' ORDER BY what) FROM dangling
            """
        ),
        (
            "every refund has its journal entries",
            """
            SELECT count(*), format('%s refunds checked; %s lack their refund or payout entry', (SELECT count(*) FROM ledger.refunds), count(*))
            FROM ledger.refunds AS r
            WHERE NOT EXISTS (SELECT 1 FROM ledger.journal_entries AS e WHERE e.document_kind = 'refund' AND e.document_id = r.refund_id)
               OR (r.state = 'paid') <> EXISTS (SELECT 1 FROM ledger.journal_entries AS e
                                               WHERE e.document_kind = 'refund-payout' AND e.document_id = r.refund_id)
            """
        ),
    ]

    func run() throws {
        let connection = try connectDatabase()
        defer { connection.close() }
        let report: Report = try connection.transaction(isolation: .repeatableRead) { connection in
            var checks: [Check] = []
            for (name, sql) in Self.checks {
                let row = try connection.query(sql)[0]
                checks.append(Check(name: name, ok: try row.int64(0) == 0, detail: try row.string(1)))
            }
            return Report(ok: checks.allSatisfy(\.ok), checks: checks)
        }
        if output.json {
            try printContractJSON(report)
        } else {
            for check in report.checks { print("\(check.ok ? "ok  " : "FAIL") \(check.name): \(check.detail)") }
            print(report.ok ? "all checks passed" : "VIOLATIONS FOUND")
        }
        if !report.ok { throw CtlFailure(message: "verify: ledger invariants are violated", exitCode: 1) }
    }
}
