import BillingContracts
import BillingDomain
import BillingIngest
import BillingPostgres
import BillingRuntime
import BillingSupport
import FoundationEssentials
import Logging

/// Bank statement files inside the ingest batch: each statement and line recorded with the file,
/// each booked line deduplicated by its identity, identified and published.
extension IngestBatch {
    func importFile(_ file: StatementFileInput, _ lines: [StatementLine]) {
        var report = ImportReport(
            fileId: file.fileID, fileName: file.fileName, format: file.parsed.format, statements: [],
            lines: ImportReport.Lines(), rejections: [], notices: [])
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
            if file.parsed.format != "registry", !knownBankAccounts.contains(statement.account) {
                if settings.knownBankAccountsOnly {
                    refused.insert(position)
                    report.rejections.append(
                        .init(reason: "bank account \(statement.account) is not registered", where: statement.location))
                } else {
                    knownBankAccounts.insert(statement.account)
                    newBankAccounts.append((statement.account, statement.currency, file.fileID))
                    report.notices.append("bank account \(statement.account) seen for the first time and registered")
                }
            }
        }
        for line in lines {
            let statement = file.parsed.statements[line.statementIndex]
            let statementID = "\(file.fileID)#\(line.statementIndex + 1)"
            if refused.contains(line.statementIndex) {
                report.lines.rejected += 1
                continue
            }
            if let reason = line.notBookedReason {
                report.lines.notBooked += 1
                lineRows.append(
                    LineRow(
                        fileID: file.fileID, statementID: statementID, line: line, identity: nil, outcome: "not-booked",
                        reasons: [reason]))
                continue
            }
            var keys = line.identityIsWeak ? [line.identity] : [line.identity, line.legacyIdentity].compactMap { $0 }
            if line.identityIsWeak, let legacy = line.legacyIdentity, let earlier = earlierWeakStatements[legacy],
                earlier.reference == statement.id, earlier.sequence == statement.sequence
            {
                keys.append(legacy)  // booked before version 21 from this very statement
                bookedIdentities.insert(legacy)
            }
            if let earlier = keys.first(where: { bookedIdentities.contains($0) }) {
                report.lines.duplicate += 1
                lineRows.append(
                    LineRow(
                        fileID: file.fileID, statementID: statementID, line: line, identity: nil, outcome: "duplicate",
                        reasons: ["booked before as \(earlier)"]))
                continue
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
                (file.parsed.format == "registry" ? "registry:" : "bank:")
                + statement.account.filter { !$0.isWhitespace }
            var row = book(line, channel: channel, fileID: file.fileID, statementID: statementID)
            // Tied to a client: an identified payment, a refund seen paid, a reversal of a known payment.
            if row.outcome == "bank-fee" {
                report.lines.bankFees += 1
            } else if row.outcome == "identified" || row.outcome == "refund-paid"
                || (row.outcome == "reversal" && row.account != nil)
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
        fileRows.append((file, report))
    }

    /// Decides what one new booked line is and publishes what follows from it.
    func book(_ line: StatementLine, channel: String, fileID: String, statementID: String) -> LineRow {
        let paymentID =
            "BNK-" + Hex.encode(Array(Digests.sha256(line.identity.utf8).prefix(12)))
        let date = line.bookingDate ?? line.valueDate ?? ""
        let reference = line.endToEndId ?? line.bankReference
        var row = LineRow(
            fileID: fileID, statementID: statementID, line: line, identity: line.identity, outcome: "unidentified",
            paymentID: paymentID, reasons: [])
        switch line.kind {
        case .credit:
            let identification = PaymentIdentifier.identify(line.clues, currency: line.currency, directory: directory)
            let received = Received(
                paymentID: paymentID, amountMinor: line.amountMinor, currency: line.currency, channel: channel,
                receivedOn: date, reference: reference, payerName: line.payerName,
                payerAccount: line.clues.payerAccount,
                fallbackReference: line.clues.texts.first)
            publishReceived(identification, received)
            if case .identified(let account, let rule, let evidence) = identification {
                row.outcome = "identified"
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
        case .debitReversal:
            // Money we had received goes back (a returned direct debit, a recalled transfer): the
            // original payment is the credit line with the same end-to-end id, when we have it.
            row.outcome = "reversal"
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
        case .debit:
            if let refund = ([line.endToEndId] + line.clues.texts.map { Optional($0) }).compactMap({ $0 })
                .flatMap({ PaymentIdentifier.tokens(PaymentClues(texts: [$0])) }).first(where: { $0.hasPrefix("RF-") })
            {
                row.outcome = "refund-paid"
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
                row.outcome = "bank-fee"
                publish(
                    Topics.payments.name, key: paymentID, type: LedgerTypes.bankFee,
                    BankFee(
                        feeId: paymentID, amountMinor: line.amountMinor, currency: line.currency, channel: channel,
                        bookedOn: date, reference: line.bankReference))
            } else {
                row.outcome = "outgoing"
                row.reasons.append("an outgoing movement that matches no refund: kept for review")
            }
        case .creditReversal:
            row.outcome = "outgoing"
            row.reasons.append("money we sent came back (a reversed debit): kept for review")
        }
        return row
    }

    /// A debit the bank coded as charges: ISO 20022 sub-family `CHRG` (`PMNT/RCDT/CHRG`,
    /// `ACMT/ADOP/CHRG`, …), or the MT940 transaction types `NCHG`/`FCHG` (charges).
    static func isBankCharge(_ code: String?) -> Bool {
        guard let code else { return false }
        return code.hasSuffix("/CHRG") || code == "NCHG" || code == "FCHG"
    }

    /// The files, their bank accounts and statements (with the COMMIT).
    func persistFiles() {
        context.deferStatement(
            PGStatement(
                """
                INSERT INTO ingest.files (file_id, file_name, format, encoding, parser_version, content_sha256,
                    size_bytes, raw, source_topic, source_partition, source_offset, report, log_generation)
                SELECT v.id, v.name, v.format, v.encoding, v.parser, v.sha, v.size, v.raw, v.topic, v.partition,
                    v.offset, v.report::jsonb, v.generation
                FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::integer[],
                    $8::bytea[], $9::text[], $10::integer[], $11::bigint[], $12::text[], $13::integer[])
                    AS v(id, name, format, encoding, parser, sha, size, raw, topic, partition, "offset", report,
                         generation)
                """,
                [
                    PGArray.strings(fileRows.map(\.input.fileID)), PGArray.strings(fileRows.map(\.input.fileName)),
                    PGArray.strings(fileRows.map(\.input.parsed.format)),
                    PGArray.strings(fileRows.map { $0.input.parsed.encoding?.rawValue }),
                    PGArray.strings(fileRows.map { _ in IngestVersion.parser }),
                    PGArray.strings(fileRows.map(\.input.contentSHA256)),
                    PGArray.integers(fileRows.map(\.input.bytes.count)),
                    PGArray.byteStrings(fileRows.map { Optional($0.input.bytes) }),
                    PGArray.strings(fileRows.map(\.input.topic)), PGArray.integers(fileRows.map(\.input.partition)),
                    PGArray.integers(fileRows.map(\.input.offset)),
                    PGArray.strings(fileRows.map { String(decoding: ContractJSON.encode($0.report), as: UTF8.self) }),
                    PGArray.integers(
                        fileRows.map { context.logGeneration(topic: $0.input.topic, partition: $0.input.partition) }),
                ]))
        if !newBankAccounts.isEmpty {
            context.deferStatement(
                PGStatement(
                    """
                    INSERT INTO ingest.bank_accounts (bank_account, currency, first_file_id)
                    SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING
                    """,
                    [
                        PGArray.strings(newBankAccounts.map(\.account)),
                        PGArray.strings(newBankAccounts.map(\.currency)),
                        PGArray.strings(newBankAccounts.map(\.fileID)),
                    ]))
        }
        context.deferStatement(
            PGStatement(
                """
                INSERT INTO ingest.statements (statement_id, file_id, position, bank_account, statement_ref, sequence,
                    currency, opening_minor, closing_minor, reconciles, entries, credits_count, credits_minor,
                    debits_count, debits_minor, location)
                SELECT * FROM unnest($1::text[], $2::text[], $3::integer[], $4::text[], $5::text[], $6::text[],
                    $7::text[], $8::bigint[], $9::bigint[], $10::boolean[], $11::integer[], $12::integer[],
                    $13::bigint[], $14::integer[], $15::bigint[], $16::text[])
                """,
                [
                    PGArray.strings(statementRows.map(\.id)), PGArray.strings(statementRows.map(\.fileID)),
                    PGArray.integers(statementRows.map(\.position)),
                    PGArray.strings(statementRows.map(\.statement.account)),
                    PGArray.strings(statementRows.map(\.statement.id)),
                    PGArray.strings(statementRows.map(\.statement.sequence)),
                    PGArray.strings(statementRows.map(\.statement.currency)),
                    PGArray.strings(statementRows.map { $0.statement.opening.map { String($0.minor) } }),
                    PGArray.strings(statementRows.map { $0.statement.closing.map { String($0.minor) } }),
                    PGArray.strings(statementRows.map { $0.statement.reconciles.map { $0 ? "true" : "false" } }),
                    PGArray.integers(statementRows.map(\.statement.entryCount)),
                    PGArray.integers(statementRows.map(\.statement.creditsCount)),
                    PGArray.integers(statementRows.map(\.statement.creditsMinor)),
                    PGArray.integers(statementRows.map(\.statement.debitsCount)),
                    PGArray.integers(statementRows.map(\.statement.debitsMinor)),
                    PGArray.strings(statementRows.map(\.statement.location)),
                ]))
    }

    /// The statement lines, each with its identity, outcome and identification (with the COMMIT).
    func persistLines() {
        guard !lineRows.isEmpty else { return }
        context.deferStatement(
            PGStatement(
                """
                INSERT INTO ingest.statement_lines (file_id, statement_id, identity, identity_key, identity_weak, kind,
                    outcome, amount_minor, currency, booking_date, value_date, end_to_end_id, bank_reference,
                    payer_name, payer_account, remittance, creditor_reference, return_reason,
                    charges_not_included_minor, payment_id, account_number, rule, evidence, reasons, location, weak_key)
                SELECT v.file_id, v.statement_id, v.identity, v.identity_key, v.weak, v.kind, v.outcome, v.amount,
                    v.currency, v.booking_date::date, v.value_date::date, v.e2e, v.bank_ref, v.payer_name,
                    v.payer_account, v.remittance, v.creditor_ref, v.return_reason, v.charges, v.payment_id,
                    v.account, v.rule, v.evidence, string_to_array(v.reasons, E'\\x1f'), v.location, v.weak_key
                FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::boolean[], $6::text[], $7::text[],
                    $8::bigint[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[],
                    $15::text[], $16::text[], $17::text[], $18::text[], $19::bigint[], $20::text[], $21::text[],
                    $22::text[], $23::text[], $24::text[], $25::text[], $26::text[])
                    AS v(file_id, statement_id, identity, identity_key, weak, kind, outcome, amount, currency,
                         booking_date, value_date, e2e, bank_ref, payer_name, payer_account, remittance, creditor_ref,
                         return_reason, charges, payment_id, account, rule, evidence, reasons, location, weak_key)
                """,
                [
                    PGArray.strings(lineRows.map(\.fileID)), PGArray.strings(lineRows.map(\.statementID)),
                    PGArray.strings(lineRows.map(\.identity)), PGArray.strings(lineRows.map(\.line.identity)),
                    PGArray.strings(lineRows.map { $0.line.identityIsWeak ? "true" : "false" }),
                    PGArray.strings(lineRows.map(\.line.kind.rawValue)), PGArray.strings(lineRows.map(\.outcome)),
                    PGArray.integers(lineRows.map(\.line.amountMinor)), PGArray.strings(lineRows.map(\.line.currency)),
                    PGArray.strings(lineRows.map(\.line.bookingDate)), PGArray.strings(lineRows.map(\.line.valueDate)),
                    PGArray.strings(lineRows.map(\.line.endToEndId)),
                    PGArray.strings(lineRows.map(\.line.bankReference)),
                    PGArray.strings(lineRows.map(\.line.payerName)),
                    PGArray.strings(lineRows.map(\.line.clues.payerAccount)),
                    PGArray.strings(
                        lineRows.map { $0.line.clues.texts.isEmpty ? nil : $0.line.clues.texts.joined(separator: "\n") }
                    ),
                    PGArray.strings(lineRows.map(\.line.clues.creditorReference)),
                    PGArray.strings(lineRows.map(\.line.returnReason)),
                    PGArray.integers(lineRows.map(\.line.chargesNotIncludedMinor)),
                    PGArray.strings(lineRows.map(\.paymentID)), PGArray.strings(lineRows.map(\.account)),
                    PGArray.strings(lineRows.map(\.rule)), PGArray.strings(lineRows.map(\.evidence)),
                    PGArray.strings(lineRows.map { $0.reasons.joined(separator: "\u{1F}") }),
                    PGArray.strings(lineRows.map(\.line.location)),
                    PGArray.strings(
                        lineRows.map { $0.identity != nil && $0.line.identityIsWeak ? $0.line.legacyIdentity : nil }),
                ]))
    }
}
