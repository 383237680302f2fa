import BillingSupport

/// A statement entry, or one transaction of a batch entry, as the system books it.
public struct StatementLine: Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// Money in: a payment to tie to a client.
        case credit
        /// Money in that reverses an earlier debit of ours (a refund coming back, a returned transfer).
        case creditReversal = "credit-reversal"
        /// Money out.
        case debit
        /// Money out that reverses an earlier credit: a returned direct debit or payment.
        case debitReversal = "debit-reversal"
    }

    public let statementIndex: Int
    public let entryIndex: Int
    /// The transaction within a batch entry booked per transaction; nil when booked per entry.
    public let detailIndex: Int?
    public let kind: Kind
    public let amountMinor: Int64
    public let currency: String
    public let bookingDate: String?
    public let valueDate: String?
    /// The line's identity for deduplication (see `StatementLines`).
    public let identity: String
    /// The identity earlier versions gave this line, when it differs. For a line with a bank
    /// reference, a line booked under it is the same line. For a weak line it is the key across
    /// statements (date, sign, amount, text, without the statement): an earlier line with it may be
    /// the same payment or another one alike, which no reference tells apart, so it is flagged for a
    /// person, never taken for a duplicate.
    public let legacyIdentity: String?
    /// True when the bank gave no reference and the identity is the fallback key.
    public let identityIsWeak: Bool
    /// Booked, or why not (`status PDNG`, `status INFO`).
    public let notBookedReason: String?
    public let clues: PaymentClues
    public let endToEndId: String?
    public let bankReference: String?
    public let payerName: String?
    public let returnReason: String?
    public let transactionCode: String?
    /// Charges the bank reported beside the amount (not included in it), in minor units.
    public let chargesNotIncludedMinor: Int64
    public let location: String
}

/// Turns parsed statements into the lines the system books, with their identities.
///
/// - An entry whose status is not booked (`PDNG`, `INFO`) yields a line that is not booked.
/// - A batch entry is booked per transaction when every transaction states its amount in the
///   entry's currency and they add up to the entry; otherwise per entry. (An entry with one
///   transaction is booked per entry, with that transaction's references and remittance.)
/// - Cross-currency transactions keep the booked amount of the entry.
/// - Charges the bank marks as not included stay out of the amount and are reported beside it.
/// - Identity: `<account>|<reference kind>:<value>|<C/D><amount><currency>`, where the reference is,
///   for a line that is one transaction (a batch part, or an entry with a single TxDtls), the first
///   of the transaction's AcctSvcrRef and EndToEndId, then the entry's AcctSvcrRef (with `|tx<n>`
///   for a batch part), NtryRef (MT940: the customer reference) and EndToEndId; so a payment gets the
///   same key in a camt.054 that notifies it alone and in the camt.053 that books it in a batch.
///   Without any, the weak key `<account>|weak|<statement>|<booking date>|<C/D><amount><currency>|<text>`,
///   which holds only within its statement (the bank's id, page and opening date, else the file's
///   content hash): the same statement imported again books nothing, and a line of another,
///   overlapping statement is never taken for a duplicate of one alike (it is booked, and flagged
///   when one alike was booked before). The
///   key earlier versions gave (entry references first) is kept as `legacyIdentity` when it differs,
///   and a line booked under it is the same line.
///   A key that repeats within one file is told apart by its occurrence (`#2`), so distinct lines
///   never collapse, while the same line in another file (an overlapping statement, a camt.054
///   before its camt.053) gets the same key.
public enum StatementLines {
    /// The file's lines. Throws `amount_out_of_range` when an entry's charges or its transactions
    /// add up to more than an `Int64` holds: such a file is refused, never trapped on.
    ///
    /// `fileKey` (the file's content hash) names a statement that names itself nowhere (a CSV
    /// export): a weak key is only ever the same within one statement (see `StatementLine`).
    public static func lines(of file: ParsedStatementFile, fileKey: String = "") throws(StatementFileError)
        -> [StatementLine]
    {
        var lines: [StatementLine] = []
        var occurrences: [String: Int] = [:]
        var legacyOccurrences: [String: Int] = [:]
        for (statementIndex, statement) in file.statements.enumerated() {
            // A weak key holds only within its statement: the bank's id, page and opening date, or the
            // file itself when the statement has no id.
            let statementKey =
                statement.id.map {
                    "\($0)/\(statement.sequence ?? "-")/\(statement.opening?.date?.description ?? "-")"
                } ?? "file:\(fileKey)"
            for (entryIndex, entry) in statement.entries.enumerated() {
                let notBooked = entry.isBooked ? nil : "status \(entry.status ?? "")"
                let notIncluded = try checkedSum(
                    entry.charges.filter { $0.included == false && $0.currency == entry.currency }.map(\.minor),
                    what: "the entry's charges", at: entry.location)
                let amounts = entry.details.compactMap { detail in
                    (detail.currency ?? entry.currency) == entry.currency ? detail.amountMinor : nil
                }
                var perTransaction = false
                if entry.details.count > 1, amounts.count == entry.details.count {
                    let total = try checkedSum(amounts, what: "the entry's transactions", at: entry.location)
                    perTransaction = total == entry.amountMinor
                }
                let parts: [(detail: ParsedDetail?, index: Int?, amount: Int64)] =
                    perTransaction
                    ? zip(entry.details, amounts).enumerated().map { ($1.0, $0, $1.1) }
                    : [(entry.details.first, nil, entry.amountMinor)]
                for part in parts {
                    let detail = part.detail
                    let kind: StatementLine.Kind =
                        entry.isCredit
                        ? (entry.isReversal ? .creditReversal : .credit) : (entry.isReversal ? .debitReversal : .debit)
                    let endToEnd = detail?.endToEndId.flatMap { $0 == "NOTPROVIDED" ? nil : $0 }
                    // The transaction's own references first (its servicer reference, then the
                    // payer's end-to-end id): they name the payment whichever document carries it (a
                    // camt.054 notifying it alone, the camt.053 booking it in a batch), while an
                    // entry's references name the entry of one document. Used only when the line is
                    // that one transaction (a batch part, or an entry with a single TxDtls).
                    let oneTransaction = perTransaction || entry.details.count == 1
                    let references: [(String, String?)] = [
                        ("acct-svcr-ref", oneTransaction ? detail?.accountServicerReference : nil),
                        ("end-to-end", oneTransaction ? endToEnd : nil),
                        ("acct-svcr-ref", entry.accountServicerReference),
                        ("ntry-ref", perTransaction ? nil : entry.entryReference),
                        ("end-to-end", endToEnd),
                    ]
                    // The key of versions before this one, kept so that a line booked under it is
                    // still found (a file imported again after an upgrade books nothing).
                    let legacyReferences: [(String, String?)] = [
                        (
                            "acct-svcr-ref",
                            perTransaction ? detail?.accountServicerReference : entry.accountServicerReference
                        ),
                        ("ntry-ref", perTransaction ? nil : entry.entryReference),
                        ("end-to-end", endToEnd),
                        ("acct-svcr-ref", perTransaction ? entry.accountServicerReference : nil),
                    ]
                    let strong = references.first { $0.1.map { !$0.isEmpty } ?? false }
                    let legacyStrong = legacyReferences.first { $0.1.map { !$0.isEmpty } ?? false }
                    let sign = "\(entry.isCredit ? "C" : "D")\(part.amount)\(entry.currency)"
                    let texts =
                        (detail?.remittance ?? [])
                        + [entry.information, detail?.additionalInformation].compactMap { $0 }
                    func key(
                        _ reference: (String, String?)?, isEntryLevel: Bool, statement statementPart: String?,
                        counting occurrences: inout [String: Int]
                    ) -> String {
                        var key: String
                        if let (name, value) = reference {
                            key = "\(statement.account)|\(name):\(value ?? "")|\(sign)"
                            if perTransaction, isEntryLevel, let index = part.index { key += "|tx\(index)" }
                        } else {
                            let text = texts.joined(separator: " ").split(whereSeparator: \.isWhitespace).joined(
                                separator: " ")
                            let within = statementPart.map { "\($0)|" } ?? ""
                            key =
                                "\(statement.account)|weak|\(within)\(entry.bookingDate?.description ?? entry.valueDate?.description ?? "-")|\(sign)|\(text)"
                        }
                        // A key past `identityBytesMax` (a remittance of pages, a hostile reference)
                        // is stored as its hash, so the unique index always takes it.
                        if key.utf8.count > StatementLines.identityBytesMax {
                            key = "sha256:" + Hex.encode(Digests.sha256(key.utf8))
                        }
                        let seen = occurrences[key, default: 0] + 1
                        occurrences[key] = seen
                        return seen > 1 ? key + "#\(seen)" : key
                    }
                    // An entry-level servicer reference names a batch, not its part: a part keyed
                    // by it carries its index.
                    let entryReference = entry.accountServicerReference
                    let identity = key(
                        strong,
                        isEntryLevel: strong?.0 == "acct-svcr-ref" && strong?.1 == entryReference
                            && detail?.accountServicerReference != entryReference, statement: statementKey,
                        counting: &occurrences)
                    // For a weak line this is also its key across statements (no statement in it).
                    let legacy = key(
                        legacyStrong,
                        isEntryLevel: legacyStrong?.0 == "acct-svcr-ref" && detail?.accountServicerReference == nil,
                        statement: nil, counting: &legacyOccurrences)
                    lines.append(
                        StatementLine(
                            statementIndex: statementIndex, entryIndex: entryIndex, detailIndex: part.index, kind: kind,
                            amountMinor: part.amount, currency: entry.currency,
                            bookingDate: entry.bookingDate?.description, valueDate: entry.valueDate?.description,
                            identity: identity, legacyIdentity: legacy == identity ? nil : legacy,
                            identityIsWeak: strong == nil, notBookedReason: notBooked,
                            clues: PaymentClues(
                                texts: texts, creditorReference: detail?.creditorReference,
                                payerAccount: entry.isCredit ? detail?.debtorAccount : detail?.creditorAccount,
                                statedAccount: detail?.statedAccount),
                            endToEndId: detail?.endToEndId, bankReference: entry.accountServicerReference,
                            payerName: entry.isCredit ? detail?.debtorName : detail?.creditorName,
                            returnReason: detail?.returnReason, transactionCode: entry.transactionCode,
                            chargesNotIncludedMinor: notIncluded,
                            location: entry.location + (part.index.map { " TxDtls \($0 + 1)" } ?? "")))
                }
            }
        }
        return lines
    }

    /// Longest identity kept as text; a longer one is `sha256:<hex of the identity>`. Keys up to
    /// this length are stored as they always were (so a line seen before keeps its key), and the
    /// unique index takes them (PostgreSQL refuses index entries over about 2.7 kB).
    public static let identityBytesMax = 2_048


    /// The sum of `amounts`, refused with the reason when it leaves `Int64`.
    static func checkedSum(_ amounts: [Int64], what: String, at location: String) throws(StatementFileError)
        -> Int64
    {
        var total: Int64 = 0
        for amount in amounts {
            let (sum, overflow) = total.addingReportingOverflow(amount)
            guard !overflow else {
                throw StatementFileError(
                    "amount_out_of_range", "\(what) add up to more than the largest amount (\(Int64.max) minor units)",
                    at: location)
            }
            total = sum
        }
        return total
    }
}
