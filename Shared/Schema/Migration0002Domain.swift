extension SchemaMigrations {
    /// Accounts receivable, journal, postings, allocations (`ledger`, owned by the allocator);
    /// financial documents, lines and gapless number series (`documents`, owned by the invoicer).
    static let domain = Migration(
        version: 2, name: "domain: accounts, journal, postings, allocations, documents, numbering",
        sql: #"""
            -- Accounts receivable. Every client-owned row in the system carries account_id.
            CREATE TABLE ledger.accounts (
                account_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                number text NOT NULL UNIQUE CHECK (number ~ '^[A-Za-z0-9/_.-]{1,40}$'),
                name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
                currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
                state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'suspended', 'terminated')),
                credit_limit_minor bigint CHECK (credit_limit_minor >= 0),
                credit_rule text NOT NULL,
                allocation_principle text NOT NULL DEFAULT 'fifo' CHECK (allocation_principle IN ('fifo', 'against-item')),
                presentment text NOT NULL DEFAULT 'print' CHECK (presentment IN ('email', 'sms', 'print')),
                email text,
                phone text,
                owning_group text,
                balance_minor bigint NOT NULL DEFAULT 0,
                created_at timestamptz NOT NULL DEFAULT now(),
                updated_at timestamptz NOT NULL DEFAULT now(),
                CHECK (presentment <> 'email' OR email IS NOT NULL),
                CHECK (presentment <> 'sms' OR phone IS NOT NULL)
            );

            -- One journal entry per posted document; account_id is the client's (NULL for money
            -- held in suspense).
            CREATE TABLE ledger.journal_entries (
                entry_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                account_id bigint REFERENCES ledger.accounts,
                document_kind text NOT NULL CHECK (document_kind IN ('invoice', 'credit-note', 'invoice-cancellation',
                    'payment', 'payment-reversal', 'refund', 'transfer-out', 'transfer-in', 'write-off',
                    'unidentified-payment')),
                document_id text NOT NULL,
                posted_at timestamptz NOT NULL DEFAULT now(),
                UNIQUE (document_kind, document_id)
            );

            -- Positive amounts debit, negative amounts credit. AR postings name the client.
            CREATE TABLE ledger.postings (
                posting_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                entry_id bigint NOT NULL REFERENCES ledger.journal_entries,
                account_id bigint REFERENCES ledger.accounts,
                ledger_account text NOT NULL CHECK (length(ledger_account) BETWEEN 1 AND 80),
                currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
                amount_minor bigint NOT NULL CHECK (amount_minor <> 0),
                CHECK ((ledger_account = 'AR') = (account_id IS NOT NULL))
            );
            CREATE INDEX postings_entry ON ledger.postings (entry_id);
            CREATE INDEX postings_account ON ledger.postings (account_id, posting_id) WHERE account_id IS NOT NULL;

            -- Posted is final: corrections are new documents. Enforced here, not only by grants.
            CREATE FUNCTION ledger.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '% on %.% is not allowed: posted ledger rows are final', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
                    USING ERRCODE = 'integrity_constraint_violation';
            END
            $$;
            CREATE TRIGGER postings_final BEFORE UPDATE OR DELETE ON ledger.postings
                FOR EACH ROW EXECUTE FUNCTION ledger.refuse_change();
            CREATE TRIGGER postings_no_truncate BEFORE TRUNCATE ON ledger.postings
                FOR EACH STATEMENT EXECUTE FUNCTION ledger.refuse_change();
            CREATE TRIGGER journal_entries_final BEFORE UPDATE OR DELETE ON ledger.journal_entries
                FOR EACH ROW EXECUTE FUNCTION ledger.refuse_change();
            CREATE TRIGGER journal_entries_no_truncate BEFORE TRUNCATE ON ledger.journal_entries
                FOR EACH STATEMENT EXECUTE FUNCTION ledger.refuse_change();

            -- At COMMIT, every journal entry touched must balance per currency and have postings.
            CREATE FUNCTION ledger.check_entry_balances() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE
                unbalanced record;
            BEGIN
                SELECT currency, sum(amount_minor) AS off INTO unbalanced
                FROM ledger.postings WHERE entry_id = NEW.entry_id
                GROUP BY currency HAVING sum(amount_minor) <> 0 LIMIT 1;
                IF FOUND THEN
                    RAISE EXCEPTION 'journal entry % does not balance in %: off by % minor units',
                        NEW.entry_id, unbalanced.currency, unbalanced.off
                        USING ERRCODE = 'check_violation';
                END IF;
                RETURN NULL;
            END
            $$;
            CREATE CONSTRAINT TRIGGER postings_balance AFTER INSERT ON ledger.postings
                DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger.check_entry_balances();

            -- The account's open items as allocation sees them.
            CREATE TABLE ledger.items (
                account_id bigint NOT NULL REFERENCES ledger.accounts,
                document_id text NOT NULL,
                document_kind text NOT NULL,
                side text NOT NULL CHECK (side IN ('debit', 'credit')),
                currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
                amount_minor bigint NOT NULL CHECK (amount_minor > 0),
                posted_on date NOT NULL,
                due_on date,
                sequence bigint NOT NULL,
                number text,
                reference text,
                named_items text[] NOT NULL DEFAULT '{}',
                closes text,
                PRIMARY KEY (account_id, document_id),
                UNIQUE (account_id, sequence)
            );

            -- Credits applied to debits; a release keeps the row and records when.
            CREATE TABLE ledger.allocations (
                allocation_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                account_id bigint NOT NULL REFERENCES ledger.accounts,
                credit_document_id text NOT NULL,
                debit_document_id text NOT NULL,
                currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
                amount_minor bigint NOT NULL CHECK (amount_minor > 0),
                reason text NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                released_at timestamptz,
                FOREIGN KEY (account_id, credit_document_id) REFERENCES ledger.items (account_id, document_id),
                FOREIGN KEY (account_id, debit_document_id) REFERENCES ledger.items (account_id, document_id),
                CHECK (credit_document_id <> debit_document_id)
            );
            CREATE INDEX allocations_active ON ledger.allocations (account_id) WHERE released_at IS NULL;

            GRANT SELECT, INSERT, UPDATE ON ledger.accounts TO billing_allocator;
            GRANT SELECT, INSERT ON ledger.journal_entries, ledger.postings, ledger.items TO billing_allocator;
            GRANT SELECT, INSERT, UPDATE (released_at) ON ledger.allocations TO billing_allocator;
            GRANT SELECT ON ALL TABLES IN SCHEMA ledger TO billing_operator;

            -- Gapless legal numbers: one row per document kind and year, incremented inside the
            -- posting transaction. The row lock orders concurrent postings; a rollback undoes the
            -- increment, so no number is ever burnt.
            CREATE TABLE documents.number_series (
                document_kind text NOT NULL,
                year integer NOT NULL CHECK (year BETWEEN 1 AND 9999),
                prefix text NOT NULL CHECK (prefix ~ '^[A-Za-z0-9]{1,12}$'),
                last_sequence bigint NOT NULL DEFAULT 0 CHECK (last_sequence >= 0),
                PRIMARY KEY (document_kind, year)
            );

            CREATE FUNCTION documents.next_document_number(kind text, series_year integer, series_prefix text)
            RETURNS text LANGUAGE plpgsql AS $$
            DECLARE
                taken bigint;
            BEGIN
                INSERT INTO documents.number_series (document_kind, year, prefix)
                VALUES (kind, series_year, series_prefix)
                ON CONFLICT (document_kind, year) DO NOTHING;
                UPDATE documents.number_series SET last_sequence = last_sequence + 1
                WHERE document_kind = kind AND year = series_year
                RETURNING last_sequence INTO taken;
                RETURN format('%s-%s-%s', series_prefix, series_year, lpad(taken::text, greatest(6, length(taken::text)), '0'));
            END
            $$;

            CREATE TABLE documents.documents (
                document_id text PRIMARY KEY,
                account_id bigint NOT NULL,
                kind text NOT NULL CHECK (kind IN ('invoice', 'credit-note', 'invoice-cancellation')),
                state text NOT NULL DEFAULT 'draft' CHECK (state IN ('draft', 'posted', 'rejected')),
                reference text NOT NULL UNIQUE,
                number text UNIQUE,
                back_office_code text UNIQUE,
                command_id text UNIQUE,
                related_document_id text REFERENCES documents.documents,
                currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
                rounding text NOT NULL DEFAULT 'half-up' CHECK (rounding IN ('half-up', 'half-even')),
                issued_on date NOT NULL,
                posted_on date,
                due_on date,
                net_minor bigint NOT NULL DEFAULT 0 CHECK (net_minor >= 0),
                discount_minor bigint NOT NULL DEFAULT 0 CHECK (discount_minor >= 0),
                tax_minor bigint NOT NULL DEFAULT 0 CHECK (tax_minor >= 0),
                total_minor bigint NOT NULL DEFAULT 0 CHECK (total_minor >= 0),
                rejection_category text CHECK (rejection_category IN ('duplicate', 'wrong-account', 'wrong-amount',
                    'not-authorised', 'other')),
                rejection_reason text,
                notes text,
                created_at timestamptz NOT NULL DEFAULT now(),
                updated_at timestamptz NOT NULL DEFAULT now(),
                CHECK (total_minor = net_minor + tax_minor),
                CHECK ((state = 'posted') = (number IS NOT NULL)),
                CHECK ((state = 'posted') = (posted_on IS NOT NULL)),
                CHECK ((state = 'rejected') = (rejection_category IS NOT NULL)),
                CHECK (due_on IS NULL OR posted_on IS NULL OR due_on >= posted_on),
                CHECK ((kind = 'invoice') = (related_document_id IS NULL) OR kind = 'credit-note')
            );
            CREATE INDEX documents_account ON documents.documents (account_id, issued_on);

            CREATE TABLE documents.document_lines (
                document_id text NOT NULL REFERENCES documents.documents ON DELETE CASCADE,
                line_number integer NOT NULL CHECK (line_number >= 1),
                account_id bigint NOT NULL,
                description text NOT NULL CHECK (length(description) BETWEEN 1 AND 500),
                quantity numeric(28, 9) NOT NULL CHECK (quantity > 0),
                unit_price_minor bigint NOT NULL CHECK (unit_price_minor >= 0),
                tax_rate numeric(12, 9) NOT NULL CHECK (tax_rate BETWEEN 0 AND 100),
                discounts jsonb NOT NULL DEFAULT '[]',
                gross_minor bigint NOT NULL CHECK (gross_minor >= 0),
                discount_minor bigint NOT NULL CHECK (discount_minor >= 0),
                net_minor bigint NOT NULL CHECK (net_minor >= 0),
                tax_minor bigint NOT NULL CHECK (tax_minor >= 0),
                total_minor bigint NOT NULL CHECK (total_minor >= 0),
                PRIMARY KEY (document_id, line_number),
                CHECK (net_minor = gross_minor - discount_minor),
                CHECK (total_minor = net_minor + tax_minor)
            );

            GRANT SELECT, INSERT, UPDATE ON documents.number_series, documents.documents TO billing_invoicer;
            GRANT SELECT, INSERT, UPDATE, DELETE ON documents.document_lines TO billing_invoicer;
            GRANT EXECUTE ON FUNCTION documents.next_document_number(text, integer, text) TO billing_invoicer;
            GRANT SELECT ON ALL TABLES IN SCHEMA documents TO billing_operator;
            """#)
}
