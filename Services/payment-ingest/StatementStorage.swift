import BillingContracts
import BillingDomain
import BillingIngest
import BillingPostgres
import BillingRuntime
import BillingSupport
import FoundationEssentials
import PaymentIngestCore
import Logging

/// Statement files, statements and lines as recorded (with the COMMIT).
extension IngestBatch {
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
                    PGArray.strings(decisions.fileRows.map(\.input.fileID)), PGArray.strings(decisions.fileRows.map(\.input.fileName)),
                    PGArray.strings(decisions.fileRows.map(\.input.parsed.format)),
                    PGArray.strings(decisions.fileRows.map { $0.input.parsed.encoding?.rawValue }),
                    PGArray.strings(decisions.fileRows.map { _ in IngestVersion.parser }),
                    PGArray.strings(decisions.fileRows.map(\.input.contentSHA256)),
                    PGArray.integers(decisions.fileRows.map(\.input.bytes.count)),
                    PGArray.byteStrings(decisions.fileRows.map { Optional($0.input.bytes) }),
                    PGArray.strings(decisions.fileRows.map(\.input.topic)), PGArray.integers(decisions.fileRows.map(\.input.partition)),
                    PGArray.integers(decisions.fileRows.map(\.input.offset)),
                    PGArray.strings(decisions.fileRows.map { ContractJSON.text($0.report) }),
                    PGArray.integers(
                        decisions.fileRows.map { context.logGeneration(topic: $0.input.topic, partition: $0.input.partition) }),
                ]))
        if !decisions.newBankAccounts.isEmpty {
            context.deferStatement(
                PGStatement(
                    """
                    INSERT INTO ingest.bank_accounts (bank_account, currency, first_file_id)
                    SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING
                    """,
                    [
                        PGArray.strings(decisions.newBankAccounts.map(\.account)),
                        PGArray.strings(decisions.newBankAccounts.map(\.currency)),
                        PGArray.strings(decisions.newBankAccounts.map(\.fileID)),
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
                    PGArray.strings(decisions.statementRows.map(\.id)), PGArray.strings(decisions.statementRows.map(\.fileID)),
                    PGArray.integers(decisions.statementRows.map(\.position)),
                    PGArray.strings(decisions.statementRows.map(\.statement.account)),
                    PGArray.strings(decisions.statementRows.map(\.statement.id)),
                    PGArray.strings(decisions.statementRows.map(\.statement.sequence)),
                    PGArray.strings(decisions.statementRows.map(\.statement.currency)),
                    PGArray.strings(decisions.statementRows.map { $0.statement.opening.map { String($0.minor) } }),
                    PGArray.strings(decisions.statementRows.map { $0.statement.closing.map { String($0.minor) } }),
                    PGArray.strings(decisions.statementRows.map { $0.statement.reconciles.map { $0 ? "true" : "false" } }),
                    PGArray.integers(decisions.statementRows.map(\.statement.entryCount)),
                    PGArray.integers(decisions.statementRows.map(\.statement.creditsCount)),
                    PGArray.integers(decisions.statementRows.map(\.statement.creditsMinor)),
                    PGArray.integers(decisions.statementRows.map(\.statement.debitsCount)),
                    PGArray.integers(decisions.statementRows.map(\.statement.debitsMinor)),
                    PGArray.strings(decisions.statementRows.map(\.statement.location)),
                ]))
    }

    /// The statement lines, each with its identity, outcome and identification (with the COMMIT).
    func persistLines() {
        guard !decisions.lineRows.isEmpty else { return }
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
                    PGArray.strings(decisions.lineRows.map(\.fileID)), PGArray.strings(decisions.lineRows.map(\.statementID)),
                    PGArray.strings(decisions.lineRows.map(\.identity)), PGArray.strings(decisions.lineRows.map(\.line.identity)),
                    PGArray.strings(decisions.lineRows.map { $0.line.identityIsWeak ? "true" : "false" }),
                    PGArray.strings(decisions.lineRows.map(\.line.kind.rawValue)), PGArray.strings(decisions.lineRows.map(\.outcome.rawValue)),
                    PGArray.integers(decisions.lineRows.map(\.line.amountMinor)), PGArray.strings(decisions.lineRows.map(\.line.currency)),
                    PGArray.strings(decisions.lineRows.map(\.line.bookingDate)), PGArray.strings(decisions.lineRows.map(\.line.valueDate)),
                    PGArray.strings(decisions.lineRows.map(\.line.endToEndId)),
                    PGArray.strings(decisions.lineRows.map(\.line.bankReference)),
                    PGArray.strings(decisions.lineRows.map(\.line.payerName)),
                    PGArray.strings(decisions.lineRows.map(\.line.clues.payerAccount)),
                    PGArray.strings(
                        decisions.lineRows.map { $0.line.clues.texts.isEmpty ? nil : $0.line.clues.texts.joined(separator: "\n") }
                    ),
                    PGArray.strings(decisions.lineRows.map(\.line.clues.creditorReference)),
                    PGArray.strings(decisions.lineRows.map(\.line.returnReason)),
                    PGArray.integers(decisions.lineRows.map(\.line.chargesNotIncludedMinor)),
                    PGArray.strings(decisions.lineRows.map(\.paymentID)), PGArray.strings(decisions.lineRows.map(\.account)),
                    PGArray.strings(decisions.lineRows.map(\.rule)), PGArray.strings(decisions.lineRows.map(\.evidence)),
                    PGArray.strings(decisions.lineRows.map { $0.reasons.joined(separator: "\u{1F}") }),
                    PGArray.strings(decisions.lineRows.map(\.line.location)),
                    PGArray.strings(
                        decisions.lineRows.map { $0.identity != nil && $0.line.identityIsWeak ? $0.line.legacyIdentity : nil }),
                ]))
    }
}
