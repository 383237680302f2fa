import BillingPostgres
import BillingSupport
import Foundation

/// A database of the test's own in the stack's PostgreSQL, migrated by the real `billing-ctl`.
/// Dropped (forcefully) by `drop()`.
struct TestDatabase: Sendable {
    let name: String
    let stack: TestStack

    static func create(_ stack: TestStack) throws -> TestDatabase {
        let database = try createEmpty(stack)
        let result = try runProcess(
            "\(stack.binDirectory)/billing-ctl", ["migrate"], environment: ["DATABASE_URL": database.ownerURL])
        guard result.status == 0 else { throw HarnessError("billing-ctl migrate failed: \(result.output)") }
        return database
    }

    /// A database without any migration applied (for tests of the migrations themselves).
    static func createEmpty(_ stack: TestStack) throws -> TestDatabase {
        let name = "test_\(UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: ""))"
        let admin = try PGConnection(conninfo: stack.ownerURL, applicationName: "tests")
        defer { admin.close() }
        // Identifiers cannot be parameters; the name is made here from a UUID.
        try admin.query("CREATE DATABASE \(name)")
        return TestDatabase(name: name, stack: stack)
    }

    var ownerURL: String { url(role: "billing_owner") }

    func url(role: String) -> String { stack.local.url(database: name, role: role) }

    func connect(role: String = "billing_owner") throws -> PGConnection {
        try PGConnection(conninfo: url(role: role), applicationName: "tests")
    }

    /// One query on a fresh owner connection (survives server restarts between calls).
    func query(_ sql: String, _ parameters: [any PGParameterConvertible] = []) throws -> PGRows {
        let connection = try connect()
        defer { connection.close() }
        return try connection.query(sql, parameters)
    }

    func scalar(_ sql: String, _ parameters: [any PGParameterConvertible] = []) throws -> Int64 {
        try query(sql, parameters)[0].int64(0)
    }

    /// FORCE ends the owner's own sessions only: a session of another role (a worker process that
    /// is still on its way out) makes the DROP fail ("must be a member of the role whose process is
    /// being terminated"), which once left a test's database behind in the local cluster. Such
    /// sessions end within moments, so the DROP is tried again for up to 10 s.
    func drop() {
        guard let admin = try? PGConnection(conninfo: stack.ownerURL, applicationName: "tests") else { return }
        defer { admin.close() }
        for _ in 0..<40 {
            if (try? admin.query("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")) != nil { return }
            sleepThread(milliseconds: 250)
        }
        print("test database \(name) could not be dropped")
    }
}
