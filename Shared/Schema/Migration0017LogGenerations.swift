extension SchemaMigrations {
    /// A partition's log can start over under the same name: a development broker restarted empty,
    /// a topic deleted and made again, a cluster rebuilt. Offsets then mean other messages, so
    ///
    /// - progress is `(log_generation, next_offset)`, which only moves forward: a new generation
    ///   starts when the log read is found not to be the log recorded (the message before
    ///   `next_offset` no longer has `last_fingerprint`, or the log ends before it), and the jump
    ///   is recorded in `offset_gaps` with `kind = 'log-restart'`;
    /// - nothing is identified by its offset any more: dead letters and imported files keep
    ///   where they were read (with the generation) but are no longer unique on it, so good input
    ///   at an offset used before is never refused as a duplicate.
    static let logGenerations = Migration(
        version: 17, name: "log generations: progress survives a restarted log, nothing keyed by offset",
        sql: inEachSchema(
            having: "consumer_offsets",
            """
            ALTER TABLE %1$I.consumer_offsets
                ADD COLUMN log_generation integer NOT NULL DEFAULT 0 CHECK (log_generation >= 0),
                ADD COLUMN last_fingerprint text;
            ALTER TABLE %1$I.offset_gaps
                DROP CONSTRAINT IF EXISTS offset_gaps_check,
                ADD COLUMN kind text NOT NULL DEFAULT 'gap' CHECK (kind IN ('gap', 'log-restart')),
                ADD COLUMN log_generation integer NOT NULL DEFAULT 0;
            -- Before this version a restarted log was recorded as a gap that went backwards.
            UPDATE %1$I.offset_gaps SET kind = 'log-restart' WHERE resumed_offset < expected_offset;
            ALTER TABLE %1$I.offset_gaps ADD CONSTRAINT offset_gaps_moves
                CHECK (kind = 'log-restart' OR resumed_offset > expected_offset);
            ALTER TABLE %1$I.dead_letters
                DROP CONSTRAINT IF EXISTS dead_letters_source_topic_source_partition_source_offset_key,
                ADD COLUMN log_generation integer NOT NULL DEFAULT 0;
            CREATE INDEX dead_letters_source ON %1$I.dead_letters
                (source_topic, source_partition, log_generation, source_offset);
            """)
            + #"""
            ALTER TABLE ingest.files
                DROP CONSTRAINT IF EXISTS files_source_topic_source_partition_source_offset_key,
                ADD COLUMN log_generation integer NOT NULL DEFAULT 0;
            CREATE INDEX files_source ON ingest.files (source_topic, source_partition, log_generation, source_offset);
            """#)
}
