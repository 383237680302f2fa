extension SchemaMigrations {
    /// A statement line without a bank reference (a weak line) is a duplicate only within its own
    /// statement; `weak_key` is its key across statements (date, sign, amount, text), by which a line
    /// alike booked from another statement is found and the new one flagged for a person instead of
    /// taken for a duplicate. Lines booked before this version carry that key as their identity.
    static let weakKeys = Migration(
        version: 21, name: "statement lines: weak keys across statements",
        sql: #"""
            ALTER TABLE ingest.statement_lines ADD COLUMN weak_key text;
            CREATE INDEX statement_lines_weak_key ON ingest.statement_lines (weak_key) WHERE weak_key IS NOT NULL;
            """#)
}
