extension SchemaMigrations {
    /// A reversal that does not name its account finds its payment's account through the journal
    /// entry's unique (document_kind, document_id) key, which every posted payment already has.
    /// The index on payment items kept for that lookup cost every payment one more insert into a
    /// text-keyed index, and was read only by reversals.
    static let paymentLookupByJournal = Migration(
        version: 15, name: "payment lookup through the journal; items_payment dropped",
        sql: #"""
            DROP INDEX ledger.items_payment;
            """#)
}
