import BillingPostgres
import BillingSupport

/// A benchmark's own database on the local stack: created for the run, dropped when it ends
/// unless `--keep` asked to leave it for inspection (then its name is printed).
public final class BenchDatabase {
    public let name: String
    private let tool: String
    private let keep: Bool
    private let admin: PGConnection

    public init(stack: LocalStackEnvironment, name: String, tool: String, keep: Bool) throws {
        self.name = name
        self.tool = tool
        self.keep = keep
        admin = try PGConnection(conninfo: stack.ownerURL, applicationName: tool)
        try admin.query("CREATE DATABASE \(name)")
    }

    /// Drops the database (or reports it kept) and closes the admin connection.
    public func finish() {
        if keep {
            benchProgress(tool, "kept database \(name)")
        } else {
            _ = try? admin.query("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        }
        admin.close()
    }
}
