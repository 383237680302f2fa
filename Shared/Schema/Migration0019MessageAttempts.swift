extension SchemaMigrations {
    /// How often each message was tried, kept outside the batch transactions so that a crash counts
    /// too (see `WorkerLoop`'s careful mode). A row per message being tried one at a time, and a row
    /// for where each claim of a partition started (`claims`): a claim that finds the last claim
    /// started at the same offset knows the owner before it made no progress from there.
    static let messageAttempts = Migration(
        version: 19, name: "message attempts: no message is retried forever",
        sql: inEachSchema(
            having: "consumer_offsets",
            """
            CREATE TABLE %1$I.message_attempts (
                consumer_group text NOT NULL,
                topic text NOT NULL,
                partition integer NOT NULL,
                log_generation integer NOT NULL,
                "offset" bigint NOT NULL,
                claims integer NOT NULL DEFAULT 0 CHECK (claims >= 0),
                attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
                last_error text,
                updated_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (consumer_group, topic, partition, log_generation, "offset")
            );
            GRANT SELECT ON %1$I.message_attempts TO billing_operator;
            """)
            + #"""
            GRANT SELECT, INSERT, UPDATE, DELETE ON ingest.message_attempts TO billing_ingest;
            GRANT SELECT, INSERT, UPDATE, DELETE ON ledger.message_attempts TO billing_allocator;
            GRANT SELECT, INSERT, UPDATE, DELETE ON documents.message_attempts TO billing_invoicer;
            GRANT SELECT, INSERT, UPDATE, DELETE ON sending.message_attempts TO billing_sender;
            GRANT SELECT, INSERT, UPDATE, DELETE ON suspense.message_attempts TO billing_suspense;
            GRANT SELECT, INSERT, UPDATE, DELETE ON probe.message_attempts TO billing_probe;
            """#)
}
