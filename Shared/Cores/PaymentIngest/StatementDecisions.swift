import BillingContracts
import BillingDomain
import BillingIngest

import BillingSupport

/// Bank statement files inside the ingest batch: each statement and line recorded with the file,
/// each booked line deduplicated by its identity, identified and published.
extension IngestDecisions {
    func importFile(_ file: StatementFileInput) {
        var report = ImportReport(
            fileId: file.fileID, fileName: file.fileName, format: file.parsed.format, statements: [],
            lines: ImportReport.Lines(), rejections: [], notices: [])
        let refused = recordStatements(file, into: &report)
        for line in file.lines {
            if refused.contains(line.statementIndex) {
                report.lines.rejected += 1
            } else {
                importLine(line, of: file, into: &report)
            }
        }
        fileRows.append((file, report))
    }

    /// Records the file's statements in its report, registers or refuses bank accounts not seen
    /// before, and returns the positions of the statements refused.
    private func recordStatements(_ file: StatementFileInput, into report: inout ImportReport) -> Set<Int> {
        var refused: Set<Int> = []
        for (position, statement) in file.parsed.statements.enumerated() {
            let id = "\(file.fileID)#\(position + 1)"
            report.statements.append(
                ImportReport.Statement(
                    statementId: id, account: statement.account, currency: statement.currency,
                    openingBalanceMinor: statement.opening?.minor, closingBalanceMinor: statement.closing?.minor,
                    reconciles: statement.reconciles, entries: statement.entryCount,
                    creditsCount: statement.creditsCount, creditsMinor: statement.creditsMinor,
                    debitsCount: statement.debitsCount, debitsMinor: statement.debitsMinor))
            statementRows.append((id, file.fileID, position + 1, statement))
            for notice in statement.notices { report.notices.append("statement \(position + 1): \(notice)") }
            if statement.reconciles == false {
                report.notices.append(
                    "statement \(position + 1) (\(statement.account)) does not reconcile: opening + credits − debits ≠ closing"
                )
            }
            guard file.parsed.format != "registry", !knownBankAccounts.contains(statement.account) else { continue }
            if knownBankAccountsOnly {
                refused.insert(position)
                report.rejections.append(
                    .init(reason: "bank account \(statement.account) is not registered", where: statement.location))
            } else {
                knownBankAccounts.insert(statement.account)
                newBankAccounts.append((statement.account, statement.currency, file.fileID))
                report.notices.append("bank account \(statement.account) seen for the first time and registered")
            }
        }
        return refused
    }

    /// One line of an accepted statement: not booked, a duplicate of one booked before, or booked.
    private func importLine(_ line: StatementLine, of file: StatementFileInput, into report: inout ImportReport) {
        let statement = file.parsed.statements[line.statementIndex]
        let statementID = "\(file.fileID)#\(line.statementIndex + 1)"
        if let reason = line.notBookedReason {
            report.lines.notBooked += 1
            lineRows.append(
                LineRow(
                    fileID: file.fileID, statementID: statementID, line: line, identity: nil, outcome: .notBooked,
                    reasons: [reason]))
            return
        }
        if let earlier = bookedBefore(line, statement: statement) {
            report.lines.duplicate += 1
            lineRows.append(
                LineRow(
                    fileID: file.fileID, statementID: statementID, line: line, identity: nil, outcome: .duplicate,
                    reasons: ["booked before as \(earlier)"]))
            return
        }
        bookedIdentities.insert(line.identity)
        var alike = false
        if let legacy = line.legacyIdentity {
            if line.identityIsWeak {
                alike = !bookedWeakKeys.insert(legacy).inserted
            } else {
                bookedIdentities.insert(legacy)
            }
        }
        report.lines.booked += 1
        // A registry's payments come through the payment network, a statement's through the bank.
        let channel =
            (file.parsed.format == "registry" ? "registry:" : "bank:") + statement.account.filter { !$0.isWhitespace }
        var row = book(line, channel: channel, fileID: file.fileID, statementID: statementID)
        // Tied to a client: an identified payment, a refund seen paid, a reversal of a known payment.
        if row.outcome == .bankFee {
            report.lines.bankFees += 1
        } else if row.outcome == .identified || row.outcome == .refundPaid
            || (row.outcome == .reversal && row.account != nil)
        {
            report.lines.identified += 1
        } else {
            report.lines.unidentified += 1
        }
        if line.identityIsWeak { row.reasons.append("identity is the weak fallback key (no bank reference)") }
        if alike {
            // Not taken for a duplicate: no reference tells a payment alike from the same one.
            row.reasons.append(
                "a line alike (same day, amount and text, no bank reference) was booked from another statement; check it is not the same payment"
            )
            report.lines.alike += 1
            report.notices.append(
                "\(line.location): booked, though a line alike was booked from another statement (no bank reference tells them apart)"
            )
        }
        lineRows.append(row)
    }

    /// The identity under which the line was booked before, if it was. A weak line whose legacy
    /// key was booked from this very statement before version 21 has that key marked booked here.
    private func bookedBefore(_ line: StatementLine, statement: ParsedStatement) -> String? {
        var keys = line.identityIsWeak ? [line.identity] : [line.identity, line.legacyIdentity].compactMap { $0 }
        if line.identityIsWeak, let legacy = line.legacyIdentity, let earlier = earlierWeakStatements[legacy],
            earlier.reference == statement.id, earlier.sequence == statement.sequence
        {
            keys.append(legacy)  // booked before version 21 from this very statement
            bookedIdentities.insert(legacy)
        }
        return keys.first(where: { bookedIdentities.contains($0) })
    }

    /// Decides what one new booked line is and publishes what follows from it.
    func book(_ line: StatementLine, channel: String, fileID: String, statementID: String) -> LineRow {
        let paymentID =
            "BNK-" + Hex.encode(Array(Digests.sha256(line.identity.utf8).prefix(12)))
        let date = line.bookingDate ?? line.valueDate ?? ""
        var row = LineRow(
            fileID: fileID, statementID: statementID, line: line, identity: line.identity, outcome: .unidentified,
            paymentID: paymentID, reasons: [])
        switch line.kind {
        case .credit:
            bookCredit(line, channel: channel, paymentID: paymentID, date: date, into: &row)
        case .debitReversal:
            bookReversal(line, channel: channel, paymentID: paymentID, date: date, into: &row)
        case .debit:
            bookDebit(line, channel: channel, paymentID: paymentID, date: date, statementID: statementID, into: &row)
        case .creditReversal:
            row.outcome = .outgoing
            row.reasons.append("money we sent came back (a reversed debit): kept for review")
        }
        return row
    }

    /// Money received: identified to an account or left unidentified, published either way.
    private func bookCredit(_ line: StatementLine, channel: String, paymentID: String, date: String, into row: inout LineRow) {
        let identification = PaymentIdentifier.identify(line.clues, currency: line.currency, directory: directory)
        let received = Received(
            paymentID: paymentID, amountMinor: line.amountMinor, currency: line.currency, channel: channel,
            receivedOn: date, reference: line.endToEndId ?? line.bankReference, payerName: line.payerName,
            payerAccount: line.clues.payerAccount,
            fallbackReference: line.clues.texts.first)
        publishReceived(identification, received)
        if case .identified(let account, let rule, let evidence) = identification {
            row.outcome = .identified
            row.account = account
            row.rule = rule
            row.evidence = evidence
            if let payer = line.clues.payerAccount?.filter({ $0 != " " }), !payer.isEmpty {
                payerUpdates[payer] = account
            }
        } else if case .unidentified(let reasons, let account) = identification {
            row.reasons = reasons
            row.account = account
        }
    }

    /// Money we had received goes back (a returned direct debit, a recalled transfer): the
    /// original payment is the credit line with the same end-to-end id, when we have it.
    private func bookReversal(
        _ line: StatementLine, channel: String, paymentID: String, date: String, into row: inout LineRow
    ) {
        row.outcome = .reversal
        let original: (paymentID: String, account: String?)? = line.endToEndId.flatMap { id in
            lineRows.last { $0.line.endToEndId == id && $0.line.kind == .credit }.map {
                ($0.paymentID!, $0.account)
            }
                ?? creditsByEndToEnd[id]
        }
        row.account = original?.account
        publish(
            Topics.payments.name, key: original?.account ?? paymentID, type: LedgerTypes.paymentReversed,
            PaymentReversed(
                reversalId: paymentID, paymentId: original?.paymentID ?? "BNK-E2E-\(line.endToEndId ?? paymentID)",
                account: original?.account, amountMinor: line.amountMinor, currency: line.currency,
                channel: channel,
                reversedOn: date, reason: line.returnReason ?? "return"))
        if original == nil {
            row.reasons.append(
                "the reversed payment was not seen on any statement; the allocator parks the reversal until it is posted"
            )
        }
    }

    /// Money paid out: a refund seen paid (its `RF-` id in the reference or text), a bank charge,
    /// or an outgoing movement kept for review.
    private func bookDebit(
        _ line: StatementLine, channel: String, paymentID: String, date: String, statementID: String,
        into row: inout LineRow
    ) {
        if let refund = ([line.endToEndId] + line.clues.texts.map { Optional($0) }).compactMap({ $0 })
            .flatMap({ PaymentIdentifier.tokens(PaymentClues(texts: [$0])) }).first(where: { $0.hasPrefix("RF-") })
        {
            row.outcome = .refundPaid
            row.evidence = refund
            publish(
                Topics.ledgerCommands.name, key: refund, type: LedgerTypes.refundPaid,
                RefundPayoutCommand(
                    origin: CommandOrigin(
                        requestedBy: "payment-ingest", note: "seen paid on statement \(statementID)"),
                    refundIds: [refund], paidOn: date, bankReference: line.bankReference ?? line.endToEndId,
                    channel: channel),
                id: "refund-paid-\(paymentID)")
        } else if Self.isBankCharge(line.transactionCode) {
            row.outcome = .bankFee
            publish(
                Topics.payments.name, key: paymentID, type: LedgerTypes.bankFee,
                BankFee(
                    feeId: paymentID, amountMinor: line.amountMinor, currency: line.currency, channel: channel,
                    bookedOn: date, reference: line.bankReference))
        } else {
            row.outcome = .outgoing
            row.reasons.append("an outgoing movement that matches no refund: kept for review")
        }
    }

    /// A debit the bank coded as charges: ISO 20022 sub-family `CHRG` (`PMNT/RCDT/CHRG`,
    /// `ACMT/ADOP/CHRG`, …), or the MT940 transaction types `NCHG`/`FCHG` (charges).
    public static func isBankCharge(_ code: String?) -> Bool {
        guard let code else { return false }
        return code.hasSuffix("/CHRG") || code == "NCHG" || code == "FCHG"
    }
}
