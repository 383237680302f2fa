import ArgumentParser
import BillingSchema

struct MigrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply pending schema migrations (under an advisory lock; safe to run concurrently).",
        discussion: """
            Connects with DATABASE_URL, which must be a role allowed to create schemas and roles.
            Synchronous: it has taken effect when the command returns (--wait is accepted for uniformity).
            """)

    @OptionGroup var output: OutputOptions
    @OptionGroup var waiting: WaitOptions

    struct Result: Encodable {
        let versionBefore: Int
        let versionAfter: Int
        let applied: [AppliedMigration]

        enum CodingKeys: String, CodingKey {
            case versionBefore = "version_before"
            case versionAfter = "version_after"
            case applied
        }
    }

    struct AppliedMigration: Encodable {
        let version: Int
        let name: String
    }

    func run() throws {
        let connection = try connectDatabase(applicationName: "billing-ctl-migrate")
        defer { connection.close() }
        let report = try Migrator().migrate(connection) { migration in
            if !output.json { print("applying \(migration.version): \(migration.name)") }
        }
        if output.json {
            try printJSON(
                Result(
                    versionBefore: report.versionBefore, versionAfter: report.versionAfter,
                    applied: report.applied.map { AppliedMigration(version: $0.version, name: $0.name) }))
        } else if report.applied.isEmpty {
            print("schema is up to date at version \(report.versionAfter)")
        } else {
            print("schema migrated from version \(report.versionBefore) to \(report.versionAfter)")
        }
    }
}
