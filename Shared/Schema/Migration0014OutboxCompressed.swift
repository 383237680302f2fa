extension SchemaMigrations {
    /// The outbox's event payloads and headers, kept uncompressed since migration 11, are compressed
    /// with lz4 where the server has it. At 5,000 payments/s the allocator's outbox wrote about
    /// 5 MiB of JSON a second into its TOAST table: WAL, pages the kernel flushes later, and an
    /// insert-triggered autovacuum of the TOAST table that took 28 % of a core for seconds at a
    /// time (allocator-bench with a 60-second sustained phase). JSON events compress several times
    /// over, and lz4 costs a fraction of a millisecond a batch. Only rows written from now on are
    /// compressed; nothing is rewritten.
    static let outboxCompressed = Migration(
        version: 14, name: "outbox payloads and headers compressed with lz4",
        sql: #"""
            DO $$
            DECLARE
                schema_name text;
            BEGIN
                IF NOT EXISTS (SELECT FROM pg_settings
                               WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)) THEN
                    RETURN;
                END IF;
                FOR schema_name IN
                    SELECT table_schema FROM information_schema.tables
                    WHERE table_name = 'outbox' AND table_type = 'BASE TABLE' ORDER BY table_schema
                LOOP
                    EXECUTE format($t$
                        ALTER TABLE %1$I.outbox
                            ALTER COLUMN payloads SET STORAGE EXTENDED,
                            ALTER COLUMN payloads SET COMPRESSION lz4,
                            ALTER COLUMN headers SET STORAGE EXTENDED,
                            ALTER COLUMN headers SET COMPRESSION lz4
                        $t$, schema_name);
                END LOOP;
            END
            $$;
            """#)
}
