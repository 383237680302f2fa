import BillingContracts
import BillingDomain
import BillingIngest
import BillingPostgres
import BillingRuntime
import BillingSupport
import FoundationEssentials
import PaymentIngestCore

/// Cash desks inside the ingest batch: shifts opened with a float, payments taken during a shift
/// (published as payments on the desk's cash channel), shifts closed with the cash counted.
extension IngestBatch {
    func loadDesks(_ commands: [(id: String, kind: CashDeskCommandKind, command: CashDeskCommand)]) throws {
        let desks = Set(commands.map(\.command.desk)).sorted()
        let results = try context.connection.pipeline([
            // Each desk's lock first, in order, until COMMIT: a shift's totals are read and then
            // written whole, so two loops or replicas (fed by any partitioner) must not interleave
            // on one desk. Everything below is read once the locks are held.
            PGStatement(
                """
                SELECT pg_advisory_xact_lock(hashtextextended('billing.ingest.cash-desk:' || desk, 0))
                FROM unnest($1::text[]) AS desk
                """, [PGArray.strings(desks)]),
            CommandOutcomes.lookup(table: "ingest.command_outcomes", commands.map(\.id)),
            PGStatement(
                "SELECT desk_id, currency FROM ingest.cash_desks WHERE desk_id = ANY($1::text[])",
                [PGArray.strings(desks)]),
            PGStatement(
                """
                SELECT shift_id, desk_id, float_minor, taken_minor, payments, opened_by, opened_at::text
                FROM ingest.cash_shifts WHERE desk_id = ANY($1::text[]) AND closed_at IS NULL
                """, [PGArray.strings(desks)]),
        ])
        decisions.finishedCommands = Set(results[1].values.compactMap { $0[0] })
        for row in results[2].rows {
            decisions.deskStates[try row.string(0)] = IngestDecisions.DeskState(currency: try Currency(code: try row.string(1)), isNew: false)
        }
        for row in results[3].rows {
            decisions.openShifts[try row.string(1)] = IngestDecisions.ShiftState(
                id: try row.string(0), desk: try row.string(1), floatMinor: try row.int64(2),
                takenMinor: try row.int64(3),
                payments: try row.int(4), openedBy: try row.string(5), openedAt: row.optionalString(6), isNew: false
            )
        }
    }

    func persistDesks() {
        let newDesks = decisions.deskStates.filter(\.value.isNew).sorted { $0.key < $1.key }
        if !newDesks.isEmpty {
            context.deferStatement(
                PGStatement(
                    "INSERT INTO ingest.cash_desks (desk_id, currency) SELECT * FROM unnest($1::text[], $2::text[])",
                    [PGArray.strings(newDesks.map(\.key)), PGArray.strings(newDesks.map(\.value.currency.code))]))
        }
        let shifts = (Array(decisions.openShifts.values) + decisions.closedShifts).filter { $0.isNew || $0.changed }
        // Earlier shifts are updated first (closing one), then shifts opened in this batch are written
        // in their final state, closed ones first: no desk ever has two open shifts, even for a moment.
        let changed = shifts.filter { $0.changed && !$0.isNew }
        if !changed.isEmpty {
            context.deferStatement(
                PGStatement(
                    """
                    UPDATE ingest.cash_shifts AS s SET taken_minor = v.taken, payments = v.payments,
                        closed_by = v.closed_by, counted_minor = v.counted,
                        closed_at = CASE WHEN v.counted IS NULL THEN NULL ELSE now() END,
                        difference_minor = v.counted - s.float_minor - v.taken
                    FROM unnest($1::text[], $2::bigint[], $3::integer[], $4::text[], $5::bigint[])
                        AS v(id, taken, payments, closed_by, counted)
                    WHERE s.shift_id = v.id
                    """,
                    [
                        PGArray.strings(changed.map(\.id)), PGArray.integers(changed.map(\.takenMinor)),
                        PGArray.integers(changed.map(\.payments)), PGArray.strings(changed.map(\.closedBy)),
                        PGArray.strings(changed.map { $0.countedMinor.map(String.init) }),
                    ]))
        }
        let created = shifts.filter(\.isNew)
        if !created.isEmpty {
            context.deferStatement(
                PGStatement(
                    """
                    INSERT INTO ingest.cash_shifts (shift_id, desk_id, opened_by, float_minor, taken_minor, payments,
                        closed_by, closed_at, counted_minor, difference_minor)
                    SELECT v.id, v.desk, v.opened_by, v.float, v.taken, v.payments, v.closed_by,
                        CASE WHEN v.counted IS NULL THEN NULL ELSE now() END, v.counted, v.counted - v.float - v.taken
                    FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::integer[],
                        $7::text[], $8::bigint[]) AS v(id, desk, opened_by, float, taken, payments, closed_by, counted)
                    ORDER BY v.counted IS NULL
                    """,
                    [
                        PGArray.strings(created.map(\.id)), PGArray.strings(created.map(\.desk)),
                        PGArray.strings(created.map(\.openedBy)), PGArray.integers(created.map(\.floatMinor)),
                        PGArray.integers(created.map(\.takenMinor)), PGArray.integers(created.map(\.payments)),
                        PGArray.strings(created.map(\.closedBy)),
                        PGArray.strings(created.map { $0.countedMinor.map(String.init) }),
                    ]))
        }
        if !decisions.deskPayments.isEmpty {
            context.deferStatement(
                PGStatement(
                    """
                    INSERT INTO ingest.desk_payments (payment_id, shift_id, account_number, amount_minor, currency,
                        reference, taken_by)
                    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[],
                        $7::text[])
                    """,
                    [
                        PGArray.strings(decisions.deskPayments.map(\.paymentID)), PGArray.strings(decisions.deskPayments.map(\.shiftID)),
                        PGArray.strings(decisions.deskPayments.map(\.account)), PGArray.integers(decisions.deskPayments.map(\.amountMinor)),
                        PGArray.strings(decisions.deskPayments.map(\.currency)), PGArray.strings(decisions.deskPayments.map(\.reference)),
                        PGArray.strings(decisions.deskPayments.map(\.takenBy)),
                    ]))
        }
        if !decisions.deskOutcomes.isEmpty {
            context.deferStatement(CommandOutcomes.insert(table: "ingest.command_outcomes", decisions.deskOutcomes, context: context))
        }
    }
}
