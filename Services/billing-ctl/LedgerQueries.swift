import ArgumentParser
import BillingPostgres

/// The account row a query starts from, or a refusal when there is none.
func accountRow(_ connection: PGConnection, _ number: String) throws -> (id: Int64, currency: String, balance: Int64) {
    let rows = try connection.query(
        "SELECT account_id, currency, balance_minor FROM ledger.accounts WHERE number = $1", [number])
    guard let row = rows.rows.first else { throw CtlFailure.refused("account \(number) does not exist") }
    return (try row.int64(0), try row.string(1), try row.int64(2))
}

struct BalanceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "balance",
        abstract: "An account's balance, its open invoices with what is open of each, and its unallocated credit.")

    @Argument(help: "Account number.")
    var account: String

    @OptionGroup var output: OutputOptions

    struct OpenInvoice: Encodable {
        let number: String
        let dueOn: String?
        let totalMinor: Int64
        let openMinor: Int64
        let state: String
    }

    struct View: Encodable {
        let account: String
        let currency: String
        let balanceMinor: Int64
        let unallocatedCreditMinor: Int64
        let openInvoices: [OpenInvoice]
    }

    func run() throws {
        let connection = try connectDatabase()
        defer { connection.close() }
        // One snapshot for all three reads.
        let view: View = try connection.transaction(isolation: .repeatableRead) { connection in
            let (id, currency, balance) = try accountRow(connection, account)
            // Every open item; spelt per side so PostgreSQL reads the two open-items indexes.
            let items = try connection.query(
                """
                SELECT coalesce(number, document_id), due_on::text, amount_minor, open_minor, side, document_kind, state
                FROM ledger.items
                WHERE account_id = $1 AND ((is_open AND side = 'debit') OR (is_open AND side = 'credit'))
                ORDER BY coalesce(due_on, posted_on), sequence
                """, [id])
            var invoices: [OpenInvoice] = []
            var credit: Int64 = 0
            for row in items.rows {
                if try row.string(4) == "credit" {
                    credit += try row.int64(3)
                } else if try row.string(5) == "invoice" {
                    invoices.append(
                        OpenInvoice(
                            number: try row.string(0), dueOn: row.optionalString(1), totalMinor: try row.int64(2),
                            openMinor: try row.int64(3), state: try row.string(6)))
                }
            }
            return View(
                account: account, currency: currency, balanceMinor: balance, unallocatedCreditMinor: credit,
                openInvoices: invoices)
        }
        if output.json { return try printContractJSON(view) }
        let money = { (minor: Int64) throws -> String in try MoneyText.format(minor, view.currency) }
        print(
            "account \(view.account): balance \(try money(view.balanceMinor)) \(view.currency)"
                + (view.balanceMinor < 0 ? " (in credit)" : ""))
        print("unallocated credit: \(try money(view.unallocatedCreditMinor)) \(view.currency)")
        if view.openInvoices.isEmpty {
            print("no open invoices")
        } else {
            printTable(
                ["invoice", "due", "total", "open", "state"],
                try view.openInvoices.map {
                    [$0.number, $0.dueOn ?? "", try money($0.totalMinor), try money($0.openMinor), $0.state]
                })
        }
    }
}

struct StatementCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "statement",
        abstract:
            "Every ledger event of an account with its signed amount and the running balance, like a bank statement.")

    @Argument(help: "Account number.")
    var account: String

    @Option(help: "First day to list, YYYY-MM-DD (UTC); earlier entries make the opening balance.")
    var from: String?

    @Option(help: "Last day to list, YYYY-MM-DD (UTC).")
    var to: String?

    @OptionGroup var output: OutputOptions

    struct Entry: Encodable {
        let type: String
        let document: String
        let amountMinor: Int64
        let balanceMinor: Int64
        let at: String
        let note: String?
    }

    struct View: Encodable {
        let account: String
        let currency: String
        let openingBalanceMinor: Int64
        let closingBalanceMinor: Int64
        let entries: [Entry]
    }

    func validate() throws {
        for (name, value) in [("--from", from), ("--to", to)] {
            if let value, value.count != 10 || value.split(separator: "-").count != 3 {
                throw ValidationError("\(name) must be a date like 2026-05-20")
            }
        }
    }

    func run() throws {
        let connection = try connectDatabase()
        defer { connection.close() }
        let view: View = try connection.transaction(isolation: .repeatableRead) { connection in
            let (id, currency, _) = try accountRow(connection, account)
            let rows = try connection.query(
                """
                SELECT type, document, amount_minor, balance_minor, at, note, day FROM (
                    SELECT e.document_kind AS type, coalesce(i.number, e.document_id) AS document, p.amount_minor,
                           sum(p.amount_minor) OVER (ORDER BY p.posting_id) AS balance_minor,
                           to_char(e.posted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS at,
                           e.note, (e.posted_at AT TIME ZONE 'UTC')::date AS day, p.posting_id
                    FROM ledger.postings AS p
                    JOIN ledger.journal_entries AS e USING (entry_id)
                    LEFT JOIN ledger.items AS i ON i.account_id = p.account_id AND i.document_id = e.document_id
                    WHERE p.account_id = $1 AND p.ledger_account = 'AR'
                ) AS s
                WHERE $2::date IS NULL OR day <= $2::date
                ORDER BY posting_id
                """, [id, to])
            var opening: Int64 = 0
            var entries: [Entry] = []
            for row in rows.rows {
                let day = try row.string(6)
                if let from, day < from {
                    opening = try row.int64(3)
                    continue
                }
                entries.append(
                    Entry(
                        type: try row.string(0), document: try row.string(1), amountMinor: try row.int64(2),
                        balanceMinor: try row.int64(3), at: try row.string(4), note: row.optionalString(5)))
            }
            return View(
                account: account, currency: currency, openingBalanceMinor: opening,
                closingBalanceMinor: entries.last?.balanceMinor ?? opening, entries: entries)
        }
        if output.json { return try printContractJSON(view) }
        let money = { (minor: Int64) throws -> String in try MoneyText.format(minor, view.currency) }
        print("statement of \(view.account) (\(view.currency)); opening balance \(try money(view.openingBalanceMinor))")
        printTable(
            ["at", "type", "document", "amount", "balance", "note"],
            try view.entries.map {
                [$0.at, $0.type, $0.document, try money($0.amountMinor), try money($0.balanceMinor), $0.note ?? ""]
            })
        print("closing balance \(try money(view.closingBalanceMinor))")
    }
}
