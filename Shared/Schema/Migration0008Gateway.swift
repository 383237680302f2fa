extension SchemaMigrations {
    /// Gateway webhook events as received: raw body (verified before anything read it), the
    /// signature's hash (the same signed request twice is a replay), and what each event moved.
    static let gateway = Migration(
        version: 8, name: "ingest: gateway events",
        sql: #"""
            CREATE TABLE ingest.gateway_events (
                event_id text PRIMARY KEY,
                event_type text NOT NULL,
                gateway_created_at timestamptz NOT NULL,
                signature_sha256 text NOT NULL UNIQUE,
                signed_at timestamptz NOT NULL,
                raw bytea NOT NULL,
                outcome text NOT NULL CHECK (outcome IN ('booked', 'nothing-moved', 'ignored')),
                payment_id text,
                account_number text,
                movements jsonb NOT NULL DEFAULT '[]',
                fee_minor bigint NOT NULL DEFAULT 0 CHECK (fee_minor >= 0),
                fee_currency text,
                source_topic text NOT NULL,
                source_partition integer NOT NULL,
                source_offset bigint NOT NULL,
                received_at timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX gateway_events_payment ON ingest.gateway_events (payment_id) WHERE payment_id IS NOT NULL;
            GRANT SELECT, INSERT ON ingest.gateway_events TO billing_ingest;
            GRANT SELECT ON ingest.gateway_events TO billing_operator;
            """#)
}
