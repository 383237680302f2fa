extension SchemaMigrations {
    /// payment-ingest's records: every imported file with its raw bytes and report, the statements
    /// and lines read from it (a line's identity is unique: the same line in two files books once),
    /// the bank accounts of ours seen on statements, and its copies of accounts and documents for
    /// identification (from `billing.accounts` and `billing.documents`; it never reads other schemas).
    static let ingest = Migration(
        version: 7, name: "ingest: files, statements, lines, bank accounts, identification copies",
        sql: #"""
            CREATE TABLE ingest.files (
                file_id text PRIMARY KEY,
                file_name text,
                format text NOT NULL,
                encoding text,
                parser_version text NOT NULL,
                content_sha256 text NOT NULL,
                size_bytes integer NOT NULL CHECK (size_bytes >= 0),
                raw bytea NOT NULL,
                source_topic text NOT NULL,
                source_partition integer NOT NULL,
                source_offset bigint NOT NULL,
                report jsonb NOT NULL,
                imported_at timestamptz NOT NULL DEFAULT now(),
                UNIQUE (source_topic, source_partition, source_offset)
            );
            CREATE INDEX files_content ON ingest.files (content_sha256);

            CREATE TABLE ingest.bank_accounts (
                bank_account text PRIMARY KEY,
                currency text,
                first_file_id text NOT NULL,
                first_seen_at timestamptz NOT NULL DEFAULT now()
            );

            CREATE TABLE ingest.statements (
                statement_id text PRIMARY KEY,
                file_id text NOT NULL REFERENCES ingest.files,
                position integer NOT NULL,
                bank_account text NOT NULL,
                statement_ref text,
                sequence text,
                currency text,
                opening_minor bigint,
                closing_minor bigint,
                reconciles boolean,
                entries integer NOT NULL,
                credits_count integer NOT NULL,
                credits_minor bigint NOT NULL,
                debits_count integer NOT NULL,
                debits_minor bigint NOT NULL,
                location text NOT NULL,
                UNIQUE (file_id, position)
            );

            -- One row per line read. A booked line carries its identity (unique: a line seen before
            -- is recorded as a duplicate of it and books nothing); a line not booked carries none.
            CREATE TABLE ingest.statement_lines (
                line_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                file_id text NOT NULL REFERENCES ingest.files,
                statement_id text NOT NULL REFERENCES ingest.statements,
                identity text UNIQUE,
                identity_key text NOT NULL,
                identity_weak boolean NOT NULL,
                kind text NOT NULL CHECK (kind IN ('credit', 'credit-reversal', 'debit', 'debit-reversal')),
                outcome text NOT NULL CHECK (outcome IN ('identified', 'unidentified', 'duplicate', 'not-booked',
                    'reversal', 'refund-paid', 'outgoing')),
                amount_minor bigint NOT NULL CHECK (amount_minor >= 0),
                currency text NOT NULL,
                booking_date date,
                value_date date,
                end_to_end_id text,
                bank_reference text,
                payer_name text,
                payer_account text,
                remittance text,
                creditor_reference text,
                return_reason text,
                charges_not_included_minor bigint NOT NULL DEFAULT 0,
                payment_id text,
                account_number text,
                rule text,
                evidence text,
                reasons text[] NOT NULL DEFAULT '{}',
                location text NOT NULL,
                CHECK ((outcome = 'duplicate' OR outcome = 'not-booked') = (identity IS NULL))
            );
            CREATE INDEX statement_lines_file ON ingest.statement_lines (file_id);
            CREATE INDEX statement_lines_end_to_end ON ingest.statement_lines (end_to_end_id)
                WHERE end_to_end_id IS NOT NULL;

            CREATE TABLE ingest.accounts (
                account_number text PRIMARY KEY,
                account_id bigint NOT NULL UNIQUE,
                currency text NOT NULL,
                state text NOT NULL CHECK (state IN ('active', 'suspended', 'terminated')),
                updated_at timestamptz NOT NULL DEFAULT now()
            );
            -- Invoice numbers and references → account, for "pays INV-2026-000123".
            CREATE TABLE ingest.documents (
                name text PRIMARY KEY,
                account_number text NOT NULL,
                document_id text NOT NULL
            );
            -- Payer accounts seen paying for exactly one client.
            CREATE TABLE ingest.payers (
                payer_account text PRIMARY KEY,
                account_number text NOT NULL,
                last_seen_at timestamptz NOT NULL DEFAULT now()
            );

            GRANT SELECT, INSERT ON ingest.files, ingest.statements, ingest.statement_lines TO billing_ingest;
            GRANT SELECT, INSERT, UPDATE ON ingest.bank_accounts, ingest.accounts, ingest.documents, ingest.payers
                TO billing_ingest;
            GRANT SELECT ON ALL TABLES IN SCHEMA ingest TO billing_operator;
            """#)
}
