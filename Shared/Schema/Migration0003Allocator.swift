extension SchemaMigrations {
    /// What the allocator keeps beside the journal: remaining amounts per item (so allocation loads
    /// only what is still open), refunds and their payout state, parked reversals, command outcomes,
    /// and who asked for each movement.
    static let allocator = Migration(
        version: 3, name: "allocator: open amounts, refunds, parked reversals, command outcomes",
        sql: #"""
            -- Per account: the last item sequence given (posting order on the account).
            ALTER TABLE ledger.accounts
                ADD COLUMN item_sequence bigint NOT NULL DEFAULT 0 CHECK (item_sequence >= 0),
                ADD COLUMN terminated_at timestamptz;

            -- Who asked for a movement and why; the command it came from.
            ALTER TABLE ledger.journal_entries
                ADD COLUMN requested_by text,
                ADD COLUMN note text,
                ADD COLUMN command_id text;
            ALTER TABLE ledger.journal_entries DROP CONSTRAINT journal_entries_document_kind_check;
            ALTER TABLE ledger.journal_entries ADD CONSTRAINT journal_entries_document_kind_check
                CHECK (document_kind IN ('invoice', 'credit-note', 'invoice-cancellation', 'payment',
                    'payment-reversal', 'refund', 'refund-payout', 'transfer-out', 'transfer-in', 'write-off',
                    'unidentified-payment'));

            -- open_minor: what is still open of a debit, or still free of a credit. Kept by the
            -- allocator in the same transaction as the allocations, so allocation reads only open
            -- items (a partial index) instead of an account's whole history.
            ALTER TABLE ledger.items ADD COLUMN open_minor bigint, ADD COLUMN closed_by text;
            UPDATE ledger.items AS i SET open_minor = i.amount_minor - coalesce((
                SELECT sum(a.amount_minor) FROM ledger.allocations AS a
                WHERE a.account_id = i.account_id AND a.released_at IS NULL
                  AND (a.credit_document_id = i.document_id OR a.debit_document_id = i.document_id)), 0);
            ALTER TABLE ledger.items
                ALTER COLUMN open_minor SET NOT NULL,
                ADD CONSTRAINT items_open_within_amount CHECK (open_minor BETWEEN 0 AND amount_minor),
                ADD COLUMN state text GENERATED ALWAYS AS (
                    CASE
                        WHEN side = 'debit' AND closed_by IS NOT NULL THEN 'cancelled'
                        WHEN side = 'credit' AND closed_by IS NOT NULL THEN 'reversed'
                        WHEN side = 'debit' AND open_minor = 0 THEN 'paid'
                        WHEN side = 'debit' AND open_minor < amount_minor THEN 'partially-paid'
                        WHEN side = 'debit' THEN 'open'
                        WHEN open_minor = 0 THEN 'used'
                        WHEN open_minor < amount_minor THEN 'partially-used'
                        ELSE 'unused'
                    END) STORED;
            CREATE INDEX items_open ON ledger.items (account_id) WHERE open_minor > 0;
            CREATE INDEX items_number ON ledger.items (number) WHERE number IS NOT NULL;

            DROP INDEX ledger.allocations_active;
            CREATE INDEX allocations_active_credit ON ledger.allocations (account_id, credit_document_id)
                WHERE released_at IS NULL;
            CREATE INDEX allocations_active_debit ON ledger.allocations (account_id, debit_document_id)
                WHERE released_at IS NULL;

            -- Money owed back to a client: due when posted, exported for payment, paid when the bank
            -- statement shows it (then refunds payable is cleared against cash).
            CREATE TABLE ledger.refunds (
                refund_id text PRIMARY KEY,
                account_id bigint NOT NULL REFERENCES ledger.accounts,
                currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
                amount_minor bigint NOT NULL CHECK (amount_minor > 0),
                state text NOT NULL DEFAULT 'due' CHECK (state IN ('due', 'exported', 'paid')),
                payee_reference text,
                requested_by text NOT NULL,
                note text,
                created_at timestamptz NOT NULL DEFAULT now(),
                exported_at timestamptz,
                export_batch text,
                paid_at timestamptz,
                paid_on date,
                bank_reference text,
                CHECK ((state = 'due') = (exported_at IS NULL) OR state = 'paid'),
                CHECK ((state = 'paid') = (paid_at IS NOT NULL))
            );
            CREATE INDEX refunds_open ON ledger.refunds (state) WHERE state <> 'paid';

            -- Reversals (returns, chargebacks) of payments not (yet) on any account: kept, reported,
            -- and applied when the payment is posted.
            CREATE TABLE ledger.parked_reversals (
                reversal_id text PRIMARY KEY,
                payment_id text NOT NULL,
                account_number text,
                currency text NOT NULL,
                amount_minor bigint NOT NULL CHECK (amount_minor > 0),
                event jsonb NOT NULL,
                reason text NOT NULL,
                parked_at timestamptz NOT NULL DEFAULT now(),
                resolved_at timestamptz
            );
            CREATE INDEX parked_reversals_waiting ON ledger.parked_reversals (payment_id) WHERE resolved_at IS NULL;

            -- What became of each ledger command: done (with its result) or refused (with the reason).
            -- Also the command's idempotency record: a command id is carried out once.
            CREATE TABLE ledger.command_outcomes (
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

            GRANT UPDATE (open_minor, closed_by) ON ledger.items TO billing_allocator;
            GRANT SELECT, INSERT, UPDATE ON ledger.refunds TO billing_allocator;
            GRANT SELECT, INSERT, UPDATE (resolved_at) ON ledger.parked_reversals TO billing_allocator;
            GRANT SELECT, INSERT ON ledger.command_outcomes TO billing_allocator;
            GRANT SELECT ON ALL TABLES IN SCHEMA ledger TO billing_operator;
            """#)
}
