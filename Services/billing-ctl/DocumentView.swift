import BillingContracts
import BillingDomain
import BillingPostgres
import FoundationEssentials

/// A document as `invoice show` and `credit-note show` print it: the invoicer's record, and once
/// the allocator has posted it, what is open of it and what paid it (from the ledger).
struct DocumentView: Encodable {
    struct Line: Encodable {
        let description: String
        let quantity: String
        let unitPriceMinor: Int64
        let discounts: [String]
        let discountMinor: Int64
        let netMinor: Int64
        let taxRate: String
        let taxMinor: Int64
        let totalMinor: Int64
    }

    struct AllocationLine: Encodable {
        let document: String
        let kind: String
        let amountMinor: Int64
    }

    let id: String
    let kind: String
    let number: String?
    let reference: String
    let account: String
    /// `draft`, `posted`, `rejected`, or `cancelled` for a cancelled invoice.
    let status: String
    let issuedOn: String
    let postedOn: String?
    let dueOn: String?
    let currency: String
    let lines: [Line]
    let netMinor: Int64
    let discountMinor: Int64
    let taxMinor: Int64
    let totalMinor: Int64
    /// What is still to pay of an invoice (or to use of a credit); the total until the ledger has it.
    let openMinor: Int64
    /// The ledger's state of the item: `open`, `partially-paid`, `paid`, `cancelled` (debits) or
    /// `unused`, `partially-used`, `used` (credits); absent until the allocator has posted it.
    let ledgerState: String?
    let allocations: [AllocationLine]
    let backOfficeCode: String?
    let notes: String?
    /// Credit notes: the invoice credited. Cancellations: the invoice cancelled.
    let relatedDocument: String?
    let creditNotes: [String]
    let cancelledBy: String?
    let rejectionCategory: String?
    let rejectionReason: String?

    /// The document named by number, reference or id; exit 1 when there is none.
    static func load(_ connection: PGConnection, _ name: String) throws -> DocumentView {
        try connection.transaction(isolation: .repeatableRead) { connection in
            let rows = try connection.query(
                """
                SELECT d.document_id, d.kind, d.number, d.reference, a.number AS account, d.state, d.issued_on::text,
                    d.posted_on::text, d.due_on::text, d.currency, d.net_minor, d.discount_minor, d.tax_minor,
                    d.total_minor, d.back_office_code, d.notes, d.rejection_category, d.rejection_reason,
                    (SELECT coalesce(r.number, r.reference) FROM documents.documents AS r
                     WHERE r.document_id = d.related_document_id) AS related,
                    (SELECT coalesce(c.number, c.reference) FROM documents.documents AS c
                     WHERE c.related_document_id = d.document_id AND c.kind = 'invoice-cancellation') AS cancelled_by,
                    (SELECT string_agg(coalesce(c.number, c.reference), ',' ORDER BY c.created_at)
                     FROM documents.documents AS c
                     WHERE c.related_document_id = d.document_id AND c.kind = 'credit-note' AND c.state = 'posted')
                        AS credit_notes,
                    i.open_minor, i.state AS ledger_state, d.account_id
                FROM documents.documents AS d JOIN documents.accounts AS a USING (account_id)
                LEFT JOIN ledger.items AS i ON i.account_id = d.account_id AND i.document_id = d.document_id
                WHERE d.number = $1 OR d.reference = $1 OR d.document_id = $1
                """, [name])
            guard let row = rows.rows.first else { throw CtlFailure.refused("no document \(name)") }
            let id = try row.string("document_id")
            let lines = try readLines(connection, id)
            let allocations = try readAllocations(connection, id, accountID: try row.int64("account_id"))
            let state = try row.string("state")
            let cancelledBy = try row.optionalString("cancelled_by")
            let total = try row.int64("total_minor")
            return DocumentView(
                id: id, kind: try row.string("kind"), number: try row.optionalString("number"),
                reference: try row.string("reference"), account: try row.string("account"),
                status: cancelledBy != nil ? "cancelled" : state, issuedOn: try row.string("issued_on"),
                postedOn: try row.optionalString("posted_on"), dueOn: try row.optionalString("due_on"),
                currency: try row.string("currency"),
                lines: lines,
                netMinor: try row.int64("net_minor"), discountMinor: try row.int64("discount_minor"),
                taxMinor: try row.int64("tax_minor"), totalMinor: total,
                openMinor: try row.optionalInt64("open_minor") ?? (state == "posted" && cancelledBy == nil ? total : 0),
                ledgerState: try row.optionalString("ledger_state"),
                allocations: allocations,
                backOfficeCode: try row.optionalString("back_office_code"), notes: try row.optionalString("notes"),
                relatedDocument: try row.optionalString("related"),
                creditNotes: (try row.optionalString("credit_notes")).map { $0.split(separator: ",").map(String.init) }
                    ?? [],
                cancelledBy: cancelledBy, rejectionCategory: try row.optionalString("rejection_category"),
                rejectionReason: try row.optionalString("rejection_reason"))
        }
    }

    private static func readLines(_ connection: PGConnection, _ id: String) throws -> [Line] {
        let rows = try connection.query(
            """
            SELECT description, quantity::text, unit_price_minor, discounts::text, discount_minor, net_minor,
                tax_rate::text, tax_minor, total_minor
            FROM documents.document_lines WHERE document_id = $1 ORDER BY line_number
            """, [id])
        return try rows.rows.map { line in
            Line(
                description: try line.string(0),
                quantity: try DecimalNumber.parse(try line.string(1)).description,
                unitPriceMinor: try line.int64(2),
                discounts: try ContractJSON.decoder().decode([String].self, from: Data(try line.string(3).utf8)),
                discountMinor: try line.int64(4), netMinor: try line.int64(5),
                taxRate: try DecimalNumber.parse(try line.string(6)).description, taxMinor: try line.int64(7),
                totalMinor: try line.int64(8))
        }
    }

    /// The allocations in force on the document, one line per document on their other side.
    private static func readAllocations(_ connection: PGConnection, _ id: String, accountID: Int64) throws
        -> [AllocationLine]
    {
        let rows = try connection.query(
            """
            SELECT coalesce(other.number, other.document_id), other.document_kind, sum(al.amount_minor)::bigint
            FROM ledger.allocations AS al
            JOIN ledger.items AS other ON other.account_id = al.account_id
                AND other.document_id = CASE WHEN al.debit_document_id = $1 THEN al.credit_document_id
                                             ELSE al.debit_document_id END
            WHERE al.account_id = $2 AND al.released_at IS NULL
              AND (al.debit_document_id = $1 OR al.credit_document_id = $1)
            GROUP BY 1, 2, other.sequence ORDER BY other.sequence
            """, [id, accountID])
        return try rows.rows.map {
            AllocationLine(document: try $0.string(0), kind: try $0.string(1), amountMinor: try $0.int64(2))
        }
    }

    func printForPeople() {
        let money = { (minor: Int64) in (try? MoneyText.format(minor, currency)) ?? String(minor) }
        let title: String
        switch kind {
        case "credit-note": title = "Credit note"
        case "invoice-cancellation": title = "Invoice cancellation"
        default: title = "Invoice"
        }
        print("\(title) \(number ?? reference)  [\(status)]")
        if number != nil { print("Reference      \(reference)") }
        print("Account        \(account)")
        var dates = "Issued \(issuedOn)"
        if let postedOn { dates += " · posted \(postedOn)" }
        if let dueOn { dates += " · due \(dueOn)" }
        print("Dates          \(dates)")
        if let relatedDocument {
            print("\(kind == "invoice-cancellation" ? "Cancels" : "Credits")        \(relatedDocument)")
        }
        if let backOfficeCode { print("Back office    \(backOfficeCode)") }
        if let notes { print("Notes          \(notes)") }
        if !lines.isEmpty {
            print("")
            printTable(
                ["#", "description", "qty", "unit price", "discounts", "discount", "net", "tax %", "tax", "total"],
                lines.enumerated().map { index, line in
                    [
                        String(index + 1), line.description, line.quantity, money(line.unitPriceMinor),
                        line.discounts.joined(separator: " then "), money(line.discountMinor), money(line.netMinor),
                        line.taxRate, money(line.taxMinor), money(line.totalMinor),
                    ]
                })
        }
        print("")
        print(
            "Net \(money(netMinor)) (after discounts of \(money(discountMinor))) + tax \(money(taxMinor)) = total \(money(totalMinor)) \(currency)"
        )
        if status == "posted" || status == "cancelled" {
            let ledger = ledgerState.map { " (\($0))" } ?? " (not yet on the ledger)"
            print("Open           \(money(openMinor)) \(currency)\(ledger)")
        }
        for allocation in allocations {
            print(
                "  \(kind == "invoice" ? "settled by" : "used for") \(allocation.document) (\(allocation.kind)): \(money(allocation.amountMinor))"
            )
        }
        if !creditNotes.isEmpty { print("Credit notes   \(creditNotes.joined(separator: ", "))") }
        if let cancelledBy { print("Cancelled by   \(cancelledBy)") }
        if let rejectionCategory {
            print("Rejected       \(rejectionCategory): \(rejectionReason ?? "")")
        }
    }
}
