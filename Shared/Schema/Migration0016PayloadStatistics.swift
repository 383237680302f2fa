extension SchemaMigrations {
    /// Columns that only carry bytes (events in the outbox, dead-lettered messages, imported files
    /// and gateway bodies) are left out of ANALYZE: no query filters or joins on them, and
    /// sampling them means decompressing every sampled row's TOASTed arrays. Autovacuum analyses
    /// a young outbox often (every tenth of its rows changed); in allocator-bench one ANALYZE of
    /// the allocator's outbox (8,494 rows, 133 MB) took 1.9 s of a core on this 2-core machine,
    /// and 35 ms without these columns. The other columns keep their statistics.
    static let payloadStatistics = Migration(
        version: 16, name: "payload columns left out of ANALYZE",
        sql: #"""
            DO $$
            DECLARE
                target record;
            BEGIN
                FOR target IN
                    SELECT c.table_schema, c.table_name, c.column_name FROM information_schema.columns AS c
                    JOIN information_schema.tables AS t USING (table_schema, table_name)
                    WHERE t.table_type = 'BASE TABLE'
                      AND ((c.table_name = 'outbox'
                            AND c.column_name IN ('topics', 'message_keys', 'headers', 'payloads', 'event_ids'))
                        OR (c.table_name = 'dead_letters' AND c.column_name IN ('message_key', 'headers', 'payload'))
                        OR (c.table_schema = 'ingest' AND c.table_name IN ('files', 'gateway_events')
                            AND c.column_name = 'raw'))
                    ORDER BY 1, 2, 3
                LOOP
                    EXECUTE format('ALTER TABLE %I.%I ALTER COLUMN %I SET STATISTICS 0',
                        target.table_schema, target.table_name, target.column_name);
                END LOOP;
            END
            $$;
            """#)
}
