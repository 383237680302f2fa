extension SchemaMigrations {
    /// Each recorded command outcome keeps the command's body as it arrived (the CloudEvent's data),
    /// so a command sent again under the same id (`billing-ctl --idempotency-key`) is told apart:
    /// the same body is the same command, answered with its first outcome; another body is refused.
    /// It is also the audit trail's record of exactly what was asked.
    static let commandBodies = Migration(
        version: 18, name: "command outcomes keep the command's body",
        sql: #"""
            ALTER TABLE ledger.command_outcomes ADD COLUMN command_body bytea;
            ALTER TABLE documents.command_outcomes ADD COLUMN command_body bytea;
            ALTER TABLE ingest.command_outcomes ADD COLUMN command_body bytea;
            """#)
}
