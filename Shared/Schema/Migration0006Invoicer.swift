extension SchemaMigrations {
    /// What the invoicer keeps beside its documents: its copy of the accounts it bills (from
    /// `billing.accounts`, so it never reads the ledger's schema), command outcomes, who made each
    /// document, and the indexes its rules need (credit notes and the one cancellation per invoice).
    static let invoicer = Migration(
        version: 6, name: "invoicer: account copy, command outcomes, credit and cancellation lookups",
        sql: #"""
            CREATE TABLE documents.accounts (
                account_id bigint PRIMARY KEY,
                number text NOT NULL UNIQUE,
                name text NOT NULL,
                currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
                state text NOT NULL CHECK (state IN ('active', 'suspended', 'terminated')),
                credit_rule text NOT NULL,
                updated_at timestamptz NOT NULL DEFAULT now()
            );

            CREATE TABLE documents.command_outcomes (
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

            ALTER TABLE documents.documents
                ADD COLUMN created_by text,
                ADD COLUMN posted_by text;
            -- A credit note credits an invoice; a cancellation cancels one, at most once.
            CREATE INDEX documents_related ON documents.documents (related_document_id)
                WHERE related_document_id IS NOT NULL;
            CREATE UNIQUE INDEX documents_one_cancellation ON documents.documents (related_document_id)
                WHERE kind = 'invoice-cancellation';

            -- References of drafts made without one (DRAFT-000042): unique, gaps allowed (only legal
            -- numbers are gapless), so no lock serialises the invoicer's transactions on them.
            CREATE SEQUENCE documents.draft_reference_seq;
            GRANT USAGE ON SEQUENCE documents.draft_reference_seq TO billing_invoicer;

            GRANT SELECT, INSERT, UPDATE ON documents.accounts TO billing_invoicer;
            GRANT SELECT, INSERT ON documents.command_outcomes TO billing_invoicer;
            GRANT SELECT ON ALL TABLES IN SCHEMA documents TO billing_operator;
            """#)
}
