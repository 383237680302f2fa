import BillingPostgres

/// Applies the project's migrations under an advisory lock, so several workers starting at once
/// (and `billing-ctl migrate`) never apply the same migration twice.
public struct Migrator: Sendable {
    /// `pg_advisory_lock` key for migrations (arbitrary, fixed: "billing" in ASCII).
    public static let lockKey: Int64 = 0x62_696c_6c69_6e67
    public let migrations: [Migration]

    public init(migrations: [Migration] = SchemaMigrations.all) {
        precondition(
            zip(migrations, migrations.dropFirst()).allSatisfy { $0.version < $1.version },
            "migrations must be in strictly increasing version order")
        self.migrations = migrations
    }

    public var latestVersion: Int { migrations.last?.version ?? 0 }

    public struct Report: Sendable {
        public let applied: [Migration]
        public let versionBefore: Int
        public let versionAfter: Int
    }

    /// Applies every pending migration; returns what was applied.
    public func migrate(_ connection: PGConnection, progress: (Migration) -> Void = { _ in }) throws -> Report {
        try connection.query("SELECT pg_advisory_lock($1)", [Self.lockKey])
        defer { _ = try? connection.query("SELECT pg_advisory_unlock($1)", [Self.lockKey]) }
        try connection.runScript(
            """
            CREATE TABLE IF NOT EXISTS public.schema_migrations (
                version integer PRIMARY KEY,
                name text NOT NULL,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """)
        let existing = try appliedChecksums(connection)
        for migration in migrations {
            if let checksum = existing[migration.version], checksum != migration.checksum {
                throw PGError(
                    kind: .protocolViolation,
                    message: "migration \(migration.version) (\(migration.name)) was applied with different SQL; "
                        + "write a new migration instead of editing an applied one")
            }
        }
        let before = existing.keys.max() ?? 0
        var applied: [Migration] = []
        for migration in migrations where existing[migration.version] == nil {
            progress(migration)
            try connection.transaction { transaction in
                try transaction.runScript(migration.sql)
                try transaction.query(
                    "INSERT INTO public.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    [migration.version, migration.name, migration.checksum])
            }
            applied.append(migration)
        }
        return Report(applied: applied, versionBefore: before, versionAfter: max(before, applied.last?.version ?? 0))
    }

    /// The highest applied version (0 for an empty database).
    public func currentVersion(_ connection: PGConnection) throws -> Int {
        let exists = try connection.query("SELECT to_regclass('public.schema_migrations') IS NOT NULL AS present")
        guard try exists[0].bool("present") else { return 0 }
        let rows = try connection.query("SELECT coalesce(max(version), 0) AS version FROM public.schema_migrations")
        return try rows[0].int("version")
    }

    private func appliedChecksums(_ connection: PGConnection) throws -> [Int: String] {
        var result: [Int: String] = [:]
        for row in try connection.query("SELECT version, checksum FROM public.schema_migrations").rows {
            result[try row.int("version")] = try row.string("checksum")
        }
        return result
    }
}
