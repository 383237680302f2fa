extension SchemaMigrations {
    /// An outbox row carries every event one batch transaction publishes, as parallel arrays, instead
    /// of one row per event. A batch of 500 payments publishes about a thousand events; one row for
    /// them costs a single heap tuple and index entry to insert, read and mark sent, where a row each
    /// cost a thousand of each (about a quarter of the allocator's PostgreSQL time, measured with
    /// pg_stat_statements under allocator-bench). The relay still publishes in row order and, inside a
    /// row, in array order. `outbox_messages` shows one line per event for people and tests.
    static let outboxBatches = Migration(
        version: 11, name: "outbox rows carry a batch's events",
        sql: #"""
            DO $$
            DECLARE
                schema_name text;
                service_role text;
            BEGIN
                FOR schema_name IN
                    SELECT table_schema FROM information_schema.tables
                    WHERE table_name = 'outbox' ORDER BY table_schema
                LOOP
                    EXECUTE format($t$
                        ALTER TABLE %1$I.outbox
                            ALTER COLUMN topic TYPE text[] USING ARRAY[topic],
                            ALTER COLUMN message_key TYPE bytea[] USING ARRAY[message_key],
                            ALTER COLUMN headers TYPE bytea[] USING ARRAY[headers],
                            ALTER COLUMN payload TYPE bytea[] USING ARRAY[payload],
                            ALTER COLUMN event_id TYPE text[] USING ARRAY[event_id]
                        $t$, schema_name);
                    EXECUTE format('ALTER TABLE %I.outbox RENAME COLUMN topic TO topics', schema_name);
                    EXECUTE format('ALTER TABLE %I.outbox RENAME COLUMN message_key TO message_keys', schema_name);
                    EXECUTE format('ALTER TABLE %I.outbox RENAME COLUMN payload TO payloads', schema_name);
                    EXECUTE format('ALTER TABLE %I.outbox RENAME COLUMN event_id TO event_ids', schema_name);
                    EXECUTE format($t$
                        ALTER TABLE %1$I.outbox
                            ALTER COLUMN event_ids SET NOT NULL,
                            ADD COLUMN message_count integer GENERATED ALWAYS AS (cardinality(topics)) STORED,
                            ADD CONSTRAINT outbox_arrays_match CHECK (
                                cardinality(topics) >= 1 AND array_ndims(topics) = 1
                                AND cardinality(message_keys) = cardinality(topics)
                                AND cardinality(headers) = cardinality(topics)
                                AND cardinality(payloads) = cardinality(topics)
                                AND cardinality(event_ids) = cardinality(topics)),
                            ALTER COLUMN payloads SET STORAGE EXTERNAL,
                            ALTER COLUMN headers SET STORAGE EXTERNAL
                        $t$, schema_name);
                    EXECUTE format($t$
                        CREATE VIEW %1$I.outbox_messages AS
                        SELECT o.id, m.position, m.topic, m.message_key, m.headers, m.payload, m.event_id,
                               o.created_at, o.sent_at
                        FROM %1$I.outbox AS o,
                             unnest(o.topics, o.message_keys, o.headers, o.payloads, o.event_ids)
                                 WITH ORDINALITY AS m(topic, message_key, headers, payload, event_id, position)
                        $t$, schema_name);
                    EXECUTE format('GRANT SELECT ON %I.outbox_messages TO billing_operator', schema_name);
                    FOR service_role IN
                        SELECT grantee FROM information_schema.role_table_grants
                        WHERE table_schema = schema_name AND table_name = 'outbox' AND privilege_type = 'INSERT'
                    LOOP
                        EXECUTE format('GRANT SELECT ON %I.outbox_messages TO %I', schema_name, service_role);
                    END LOOP;
                END LOOP;
            END
            $$;
            """#)
}
