import BillingContracts
import BillingDomain
import BillingIngest
import BillingPostgres
import BillingRuntime
import BillingSupport
import FoundationEssentials
import PaymentIngestCore
import Logging

/// Gateway webhook events inside the ingest batch: deduplicated by event id, refused when the very
/// same signed request comes again (a replay), and booked as payments, reversals or refunds paid.
extension IngestBatch {
    func loadGateway(_ events: [GatewayInput]) throws {
        var referenced: Set<String> = []
        for movement in events.flatMap(\.movements) {
            switch movement {
            case .reversal(_, let paymentID, _, _, _, _): referenced.insert(paymentID)
            case .payment(_, _, _, _, let clues): referenced.formUnion(clues.texts.filter { $0.hasPrefix("GW-") })
            default: break
            }
        }
        let results = try context.connection.pipeline([
            PGStatement(
                "SELECT event_id FROM ingest.gateway_events WHERE event_id = ANY($1::text[])",
                [PGArray.strings(events.map(\.event.id))]),
            PGStatement(
                "SELECT signature_sha256, event_id FROM ingest.gateway_events WHERE signature_sha256 = ANY($1::text[])",
                [PGArray.strings(events.map(\.signatureHash))]),
            PGStatement(
                """
                SELECT payment_id, account_number FROM ingest.gateway_events
                WHERE payment_id = ANY($1::text[]) AND account_number IS NOT NULL
                """, [PGArray.strings(referenced.sorted())]),
        ])
        decisions.seenEvents = Set(results[0].values.compactMap { $0[0] })
        for row in results[1].rows { decisions.seenSignatures[try row.string(0)] = try row.string(1) }
        for row in results[2].rows {
            decisions.gatewayAccounts[try row.string(0)] = try row.string(1)
            // A reinstatement names the original payment; identification finds its account so.
            decisions.directory.documents[try row.string(0)] = try row.string(1)
        }
    }

    func persistGateway() {
        guard !decisions.gatewayRows.isEmpty else { return }
        let rows = decisions.gatewayRows
        context.deferStatement(
            PGStatement(
                """
                INSERT INTO ingest.gateway_events (event_id, event_type, gateway_created_at, signature_sha256, signed_at,
                    raw, outcome, payment_id, account_number, movements, fee_minor, fee_currency, source_topic,
                    source_partition, source_offset)
                SELECT v.id, v.type, to_timestamp(v.created), v.signature, to_timestamp(v.signed), v.raw, v.outcome,
                    v.payment, v.account, v.notes::jsonb, v.fee, v.fee_currency, v.topic, v.partition, v."offset"
                FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bigint[], $6::bytea[], $7::text[],
                    $8::text[], $9::text[], $10::text[], $11::bigint[], $12::text[], $13::text[], $14::integer[],
                    $15::bigint[])
                    AS v(id, type, created, signature, signed, raw, outcome, payment, account, notes, fee, fee_currency,
                         topic, partition, "offset")
                """,
                [
                    PGArray.strings(rows.map(\.input.event.id)), PGArray.strings(rows.map(\.input.event.type)),
                    PGArray.integers(rows.map(\.input.event.created)), PGArray.strings(rows.map(\.input.signatureHash)),
                    PGArray.integers(rows.map(\.input.signedAt)),
                    PGArray.byteStrings(rows.map { Optional($0.input.raw) }),
                    PGArray.strings(rows.map(\.outcome.rawValue)), PGArray.strings(rows.map(\.paymentID)),
                    PGArray.strings(rows.map(\.account)),
                    PGArray.strings(rows.map { ContractJSON.text($0.notes) }),
                    PGArray.integers(rows.map(\.feeMinor)), PGArray.strings(rows.map(\.feeCurrency)),
                    PGArray.strings(rows.map(\.input.topic)), PGArray.integers(rows.map(\.input.partition)),
                    PGArray.integers(rows.map(\.input.offset)),
                ]))
    }
}
