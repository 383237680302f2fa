extension SchemaMigrations {
    /// payment-ingest writes a 2,000-line statement file in one statement per table. Two per-row
    /// foreign-key triggers on statement lines (to the file and the statement inserted in the same
    /// transaction) doubled the cost of that insert, and pglz spent about 7 ms compressing each
    /// 1.3 MB raw file. The references are audited by `billing-ctl verify` instead, as the
    /// ledger's are, and raw files are compressed with lz4 where the server has it.
    static let ingestThroughput = Migration(
        version: 13, name: "ingest throughput: line references audited by verify, raw files in lz4",
        sql: #"""
            ALTER TABLE ingest.statement_lines DROP CONSTRAINT statement_lines_file_id_fkey,
                DROP CONSTRAINT statement_lines_statement_id_fkey;
            DO $$
            BEGIN
                IF EXISTS (SELECT FROM pg_settings
                           WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)) THEN
                    ALTER TABLE ingest.files ALTER COLUMN raw SET COMPRESSION lz4;
                END IF;
            END
            $$;
            """#)
}
