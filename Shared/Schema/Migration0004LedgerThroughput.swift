extension SchemaMigrations {
    /// The ledger's write path, measured with `allocator-bench`: the balance check runs once per
    /// statement over that statement's postings instead of once per posting at COMMIT; accounts
    /// leave room on each page so balance updates stay on the page (HOT); references between rows
    /// written together are audited by `billing-ctl verify` instead of checked row by row;
    /// reversals that name no account find their payment by id through an index.
    static let ledgerThroughput = Migration(
        version: 4,
        name: "ledger throughput: per-statement balance check, HOT room, audited references, payment lookup",
        sql: #"""
            -- Every statement that inserts postings must leave each journal entry it touches balanced
            -- per currency: an entry's postings are written together. Checked once per statement over
            -- the rows it inserted (a transition table), so a batch of 500 entries costs one query.
            DROP TRIGGER postings_balance ON ledger.postings;
            DROP FUNCTION ledger.check_entry_balances();
            CREATE FUNCTION ledger.check_statement_balances() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE
                unbalanced record;
            BEGIN
                SELECT entry_id, currency, sum(amount_minor) AS off INTO unbalanced
                FROM inserted_postings GROUP BY entry_id, currency HAVING sum(amount_minor) <> 0
                ORDER BY entry_id, currency LIMIT 1;
                IF FOUND THEN
                    RAISE EXCEPTION 'journal entry % does not balance in %: off by % minor units',
                        unbalanced.entry_id, unbalanced.currency, unbalanced.off
                        USING ERRCODE = 'check_violation',
                              HINT = 'write all postings of an entry in one statement';
                END IF;
                RETURN NULL;
            END
            $$;
            CREATE TRIGGER postings_balance AFTER INSERT ON ledger.postings
                REFERENCING NEW TABLE AS inserted_postings
                FOR EACH STATEMENT EXECUTE FUNCTION ledger.check_statement_balances();

            -- A balance changes in place on every posting; room on the page keeps that update HOT.
            ALTER TABLE ledger.accounts SET (fillfactor = 80);

            -- References between the rows the allocator writes on every posting (entry → account,
            -- posting → entry and account, item → account, allocation → account and its two items)
            -- are not re-checked row by row: each batch writes them together, under the account's
            -- lock, as the only role allowed to insert them, and posted rows cannot change. These
            -- checks cost a fifth of the allocator's throughput (allocator-bench). `billing-ctl
            -- verify` checks every one of them over the whole ledger instead.
            ALTER TABLE ledger.postings DROP CONSTRAINT postings_entry_id_fkey,
                DROP CONSTRAINT postings_account_id_fkey;
            ALTER TABLE ledger.journal_entries DROP CONSTRAINT journal_entries_account_id_fkey;
            ALTER TABLE ledger.items DROP CONSTRAINT items_account_id_fkey;
            ALTER TABLE ledger.allocations DROP CONSTRAINT allocations_account_id_fkey,
                DROP CONSTRAINT allocations_account_id_credit_document_id_fkey,
                DROP CONSTRAINT allocations_account_id_debit_document_id_fkey;

            CREATE INDEX items_payment ON ledger.items (document_id) WHERE document_kind = 'payment';
            """#)
}
