extension SchemaMigrations {
    /// `billing-ctl dead-letters redrive` sends a dead letter back to the topic it came from, once its
    /// cause is fixed, and records who did it and when; the operator role may set those two columns
    /// and nothing else.
    static let deadLetterRedrive = Migration(
        version: 20, name: "dead letters record their redrive",
        sql: inEachSchema(
            having: "dead_letters",
            """
            ALTER TABLE %1$I.dead_letters ADD COLUMN redriven_at timestamptz, ADD COLUMN redriven_by text;
            GRANT UPDATE (redriven_at, redriven_by) ON %1$I.dead_letters TO billing_operator;
            """))
}
