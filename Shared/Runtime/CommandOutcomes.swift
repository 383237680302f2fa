import BillingContracts
import BillingPostgres

/// The record of carried-out commands that each command-handling service keeps in its own schema
/// (`<schema>.command_outcomes`): the idempotency record (a command id is carried out once) and
/// what `billing-ctl --wait` reads.
public enum CommandOutcomes {
    /// Command ids of `ids` already recorded in `table`.
    public static func lookup(table: String, _ ids: [String]) -> PGStatement {
        PGStatement("SELECT command_id FROM \(table) WHERE command_id = ANY($1::text[])", [PGArray.strings(ids)])
    }

    /// Inserts the batch's outcomes, each with who asked and the command's body as it arrived
    /// (`context.eventBody`), in one statement.
    public static func insert(
        table: String, _ outcomes: [(outcome: CommandOutcome, requestedBy: String)], context: BatchContext
    ) -> PGStatement {
        PGStatement(
            """
            INSERT INTO \(table) (command_id, command_type, account_number, status, reason_code, reason, result,
                requested_by, command_body)
            SELECT v.id, v.type, v.account, v.status, v.code, v.reason, v.result::jsonb, v.requested_by, v.body
            FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                $8::text[], $9::bytea[]) AS v(id, type, account, status, code, reason, result, requested_by, body)
            """,
            [
                PGArray.strings(outcomes.map(\.outcome.commandId)),
                PGArray.strings(outcomes.map(\.outcome.commandType)),
                PGArray.strings(outcomes.map(\.outcome.account)),
                PGArray.strings(outcomes.map(\.outcome.status)),
                PGArray.strings(outcomes.map(\.outcome.reasonCode)),
                PGArray.strings(outcomes.map(\.outcome.reason)),
                PGArray.strings(
                    outcomes.map { ContractJSON.text($0.outcome.result) }),
                PGArray.strings(outcomes.map(\.requestedBy)),
                PGArray.byteStrings(outcomes.map { context.eventBody($0.outcome.commandId) }),
            ])
    }
}
