/// Every migration of the project, in order. Never edit one that has been released: add a new one.
public enum SchemaMigrations {
    public static let all: [Migration] = [
        platform, domain, allocator, ledgerThroughput, openItemsHot, invoicer, ingest, gateway, cashDesks, bankFees,
        outboxBatches, openItemsBySide, ingestThroughput, outboxCompressed, paymentLookupByJournal, payloadStatistics,
        logGenerations, commandBodies, messageAttempts, deadLetterRedrive, weakKeys,
    ]

    /// SQL that runs `statements` (a `format` template: `%1$I` is the schema) once for every schema
    /// holding a table named `table`, in name order: the runtime tables every service schema has.
    static func inEachSchema(having table: String, _ statements: String) -> String {
        #"""
        DO $$
        DECLARE
            target record;
        BEGIN
            FOR target IN
                SELECT table_schema FROM information_schema.tables
                WHERE table_name = '\#(table)' AND table_type = 'BASE TABLE' ORDER BY 1
            LOOP
                EXECUTE format($t$\#(statements)$t$, target.table_schema);
            END LOOP;
        END
        $$;
        """#
    }

    /// The version a database must be at for this build.
    public static var latest: Int { all.last?.version ?? 0 }

    /// Roles, one schema per service, and the worker runtime's tables in each schema.
    static let platform = Migration(
        version: 1, name: "platform: roles, service schemas, runtime tables",
        sql: #"""
            -- One role per service, without login: deployments grant each to the login user that
            -- runs that service, so a service can touch only its own schema.
            DO $$
            DECLARE
                role_name text;
            BEGIN
                FOREACH role_name IN ARRAY ARRAY['billing_ingest', 'billing_allocator', 'billing_invoicer',
                    'billing_sender', 'billing_suspense', 'billing_probe', 'billing_operator']
                LOOP
                    BEGIN
                        EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
                    EXCEPTION WHEN duplicate_object OR unique_violation THEN
                        NULL; -- roles are cluster-wide: another database may have made it
                    END;
                END LOOP;
            END
            $$;

            GRANT SELECT ON public.schema_migrations TO billing_ingest, billing_allocator, billing_invoicer,
                billing_sender, billing_suspense, billing_probe, billing_operator;

            -- The runtime's tables for one service: fenced consumer offsets, recorded offset gaps,
            -- the inbox of consumed event ids, the outbox of events to publish, and dead letters.
            CREATE FUNCTION public.billing_create_runtime_tables(schema_name text, service_role text)
            RETURNS void LANGUAGE plpgsql AS $fn$
            BEGIN
                EXECUTE format('CREATE SCHEMA %I', schema_name);
                EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I, billing_operator', schema_name, service_role);
                EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT SELECT ON TABLES TO billing_operator',
                    schema_name);

                EXECUTE format($t$
                    CREATE TABLE %I.consumer_offsets (
                        consumer_group text NOT NULL,
                        topic text NOT NULL,
                        partition integer NOT NULL CHECK (partition >= 0),
                        next_offset bigint NOT NULL CHECK (next_offset >= 0),
                        owner_epoch bigint NOT NULL DEFAULT 0 CHECK (owner_epoch >= 0),
                        owner text,
                        claimed_at timestamptz,
                        updated_at timestamptz NOT NULL DEFAULT now(),
                        PRIMARY KEY (consumer_group, topic, partition)
                    )$t$, schema_name);

                EXECUTE format($t$
                    CREATE TABLE %I.offset_gaps (
                        id bigserial PRIMARY KEY,
                        consumer_group text NOT NULL,
                        topic text NOT NULL,
                        partition integer NOT NULL,
                        expected_offset bigint NOT NULL,
                        resumed_offset bigint NOT NULL,
                        detail text NOT NULL,
                        detected_at timestamptz NOT NULL DEFAULT now(),
                        CHECK (resumed_offset <> expected_offset)
                    )$t$, schema_name);

                EXECUTE format($t$
                    CREATE TABLE %I.inbox (
                        event_id text PRIMARY KEY,
                        topic text NOT NULL,
                        partition integer NOT NULL,
                        "offset" bigint NOT NULL,
                        received_at timestamptz NOT NULL DEFAULT now()
                    )$t$, schema_name);

                EXECUTE format($t$
                    CREATE TABLE %I.outbox (
                        id bigserial PRIMARY KEY,
                        topic text NOT NULL,
                        message_key bytea,
                        headers bytea NOT NULL,
                        payload bytea NOT NULL,
                        event_id text,
                        created_at timestamptz NOT NULL DEFAULT now(),
                        sent_at timestamptz
                    )$t$, schema_name);
                EXECUTE format('CREATE INDEX outbox_unsent ON %I.outbox (id) WHERE sent_at IS NULL', schema_name);
                EXECUTE format('CREATE INDEX outbox_sent_at ON %I.outbox (sent_at) WHERE sent_at IS NOT NULL',
                    schema_name);

                EXECUTE format($t$
                    CREATE TABLE %I.dead_letters (
                        id bigserial PRIMARY KEY,
                        event_id text,
                        source_topic text NOT NULL,
                        source_partition integer NOT NULL,
                        source_offset bigint NOT NULL,
                        message_key bytea,
                        headers bytea NOT NULL,
                        payload bytea NOT NULL,
                        reason_code text NOT NULL,
                        reason text NOT NULL,
                        recorded_at timestamptz NOT NULL DEFAULT now(),
                        UNIQUE (source_topic, source_partition, source_offset)
                    )$t$, schema_name);

                EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %I.consumer_offsets TO %I', schema_name, service_role);
                EXECUTE format('GRANT SELECT, INSERT ON %I.offset_gaps, %I.dead_letters TO %I',
                    schema_name, schema_name, service_role);
                EXECUTE format('GRANT SELECT, INSERT, DELETE ON %I.inbox TO %I', schema_name, service_role);
                EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I.outbox TO %I', schema_name, service_role);
                EXECUTE format('GRANT USAGE ON ALL SEQUENCES IN SCHEMA %I TO %I', schema_name, service_role);
                EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO billing_operator', schema_name);
            END
            $fn$;
            REVOKE ALL ON FUNCTION public.billing_create_runtime_tables(text, text) FROM PUBLIC;

            SELECT public.billing_create_runtime_tables('ingest', 'billing_ingest');
            SELECT public.billing_create_runtime_tables('ledger', 'billing_allocator');
            SELECT public.billing_create_runtime_tables('documents', 'billing_invoicer');
            SELECT public.billing_create_runtime_tables('sending', 'billing_sender');
            SELECT public.billing_create_runtime_tables('suspense', 'billing_suspense');
            SELECT public.billing_create_runtime_tables('probe', 'billing_probe');

            -- The runtime self-test's table: one row per applied message, deliberately without a
            -- unique key on the message, so that a message applied twice shows up as two rows.
            CREATE TABLE probe.applied (
                id bigserial PRIMARY KEY,
                run_id text NOT NULL,
                message_seq bigint NOT NULL,
                topic text NOT NULL,
                partition integer NOT NULL,
                "offset" bigint NOT NULL,
                produced_at timestamptz,
                applied_at timestamptz NOT NULL DEFAULT clock_timestamp()
            );
            CREATE INDEX applied_run ON probe.applied (run_id, message_seq);
            GRANT SELECT, INSERT ON probe.applied TO billing_probe;
            GRANT USAGE ON SEQUENCE probe.applied_id_seq TO billing_probe;
            GRANT SELECT ON probe.applied TO billing_operator;
            """#)
}
