extension SchemaMigrations {
    /// Fees the bank or a gateway took post to the ledger (bank fees expense against cash), and a
    /// statement line can say it was one.
    static let bankFees = Migration(
        version: 10, name: "bank fees: a journal document kind, a statement line outcome",
        sql: #"""
            ALTER TABLE ledger.journal_entries DROP CONSTRAINT journal_entries_document_kind_check;
            ALTER TABLE ledger.journal_entries ADD CONSTRAINT journal_entries_document_kind_check
                CHECK (document_kind IN ('invoice', 'credit-note', 'invoice-cancellation', 'payment',
                    'payment-reversal', 'refund', 'refund-payout', 'transfer-out', 'transfer-in', 'write-off',
                    'unidentified-payment', 'bank-fee'));
            ALTER TABLE ingest.statement_lines DROP CONSTRAINT statement_lines_outcome_check;
            ALTER TABLE ingest.statement_lines ADD CONSTRAINT statement_lines_outcome_check
                CHECK (outcome IN ('identified', 'unidentified', 'duplicate', 'not-booked', 'reversal', 'refund-paid',
                    'outgoing', 'bank-fee'));
            """#)
}
