extension SchemaMigrations {
    /// Cash desks and their shifts: a shift opens with a float, takes payments, and closes with the
    /// cash counted; the difference from what the desk should hold is recorded. Commands to desks
    /// have outcomes, as every command does.
    static let cashDesks = Migration(
        version: 9, name: "ingest: cash desks, shifts, desk payments, command outcomes",
        sql: #"""
            CREATE TABLE ingest.cash_desks (
                desk_id text PRIMARY KEY CHECK (desk_id ~ '^[A-Za-z0-9_.-]{1,40}$'),
                currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
                created_at timestamptz NOT NULL DEFAULT now()
            );

            CREATE TABLE ingest.cash_shifts (
                shift_id text PRIMARY KEY,
                desk_id text NOT NULL REFERENCES ingest.cash_desks,
                opened_by text NOT NULL,
                opened_at timestamptz NOT NULL DEFAULT now(),
                float_minor bigint NOT NULL CHECK (float_minor >= 0),
                taken_minor bigint NOT NULL DEFAULT 0 CHECK (taken_minor >= 0),
                payments integer NOT NULL DEFAULT 0 CHECK (payments >= 0),
                closed_by text,
                closed_at timestamptz,
                counted_minor bigint CHECK (counted_minor >= 0),
                difference_minor bigint,
                CHECK ((closed_at IS NULL) = (counted_minor IS NULL)),
                CHECK (difference_minor IS NULL OR difference_minor = counted_minor - float_minor - taken_minor)
            );
            -- At most one open shift per desk.
            CREATE UNIQUE INDEX cash_shifts_open ON ingest.cash_shifts (desk_id) WHERE closed_at IS NULL;

            CREATE TABLE ingest.desk_payments (
                payment_id text PRIMARY KEY,
                shift_id text NOT NULL REFERENCES ingest.cash_shifts,
                account_number text NOT NULL,
                amount_minor bigint NOT NULL CHECK (amount_minor > 0),
                currency text NOT NULL,
                reference text,
                taken_by text NOT NULL,
                taken_at timestamptz NOT NULL DEFAULT now()
            );

            CREATE TABLE ingest.command_outcomes (
                command_id text PRIMARY KEY,
                command_type text NOT NULL,
                account_number text,
                status text NOT NULL CHECK (status IN ('done', 'refused')),
                reason_code text,
                reason text,
                result jsonb NOT NULL DEFAULT '{}',
                requested_by text,
                recorded_at timestamptz NOT NULL DEFAULT now(),
                CHECK ((status = 'refused') = (reason_code IS NOT NULL))
            );

            GRANT SELECT, INSERT ON ingest.cash_desks, ingest.desk_payments, ingest.command_outcomes TO billing_ingest;
            GRANT SELECT, INSERT, UPDATE ON ingest.cash_shifts TO billing_ingest;
            GRANT SELECT ON ALL TABLES IN SCHEMA ingest TO billing_operator;
            """#)
}
