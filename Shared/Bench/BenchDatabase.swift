import BillingContracts
import BillingPostgres
import BillingSupport
import BillingTestSupport
import FoundationEssentials

#if canImport(Glibc)
    import Glibc
#endif

/// A benchmark's own database on the local stack: created for the run, dropped when it ends
/// unless `--keep` asked to leave it for inspection (then its name is printed).
public final class BenchDatabase {
    public let name: String
    private let tool: String
    private let keep: Bool
    private let ownerURL: String

    public init(stack: LocalStackEnvironment, name: String, tool: String, keep: Bool) throws {
        self.name = name
        self.tool = tool
        self.keep = keep
        ownerURL = stack.ownerURL
        let admin = try PGConnection(conninfo: ownerURL, applicationName: tool)
        defer { admin.close() }
        try admin.query("CREATE DATABASE \(name)")
    }

    /// Drops the database (or reports it kept), on a connection of its own: PostgreSQL may have
    /// restarted since the run began (fault runs).
    public func finish() {
        if keep {
            benchProgress(tool, "kept database \(name)")
        } else {
            // The workers' sessions end a moment after their processes do, and the owner may not
            // end other roles' sessions itself: try for a while.
            var lastError = ""
            for _ in 0..<40 {
                do {
                    let admin = try PGConnection(conninfo: ownerURL, applicationName: tool)
                    defer { admin.close() }
                    try admin.query("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
                    return
                } catch {
                    lastError = "\(error)"
                    sleepThread(milliseconds: 500)
                }
            }
            benchProgress(tool, "could not drop database \(name) (\(lastError)); drop it by hand")
        }
    }
}

extension BenchDatabase {
    /// The ledger and payment tables a setup (or an earlier phase) fills in bulk, vacuumed and
    /// analysed before anything is measured: a live system's tables were vacuumed by autovacuum
    /// long ago, while freshly loaded ones would make the measured workers set every row's hint
    /// bits and compete with autovacuum working through the load.
    /// The outbox tables, which hold only the setup's events, are left to autovacuum. (Analysing
    /// them too once appeared to halve money-bench. The halving came from two queries whose plans
    /// statistics taken before the load could spoil, the allocator's open-items read and
    /// payment-ingest's account lookup; it came and went between runs of either kind.)
    public static let settledTables = [
        "ledger.accounts", "ledger.items", "ledger.journal_entries", "ledger.postings", "ledger.allocations",
        "ledger.command_outcomes", "ingest.accounts", "ingest.documents",
        "documents.documents", "documents.document_lines", "documents.accounts",
    ]

    /// `VACUUM (ANALYZE)` of `settledTables` as the owner, then the kernel's dirty pages written
    /// out (`sync`); returns how long it took.
    ///
    /// The `sync` is there because a bulk setup or a drain leaves a few hundred MiB of the
    /// database's data files dirty in the kernel's page cache (all in the database's own files,
    /// none in the WAL, by `sync -d` on each; most likely PostgreSQL 15 writing each new page as
    /// zeros, and pages a vacuum or a full buffer pool wrote out), which the kernel flushes 30 s
    /// later. Their flush, all at
    /// once, landed in the next phase: commits waited on their WAL fsync behind it (iowait at
    /// 130-180 % of the two cores for about 300 ms, no commit for 553 ms, seen by sampling
    /// `/proc/meminfo` beside allocator-bench). A system running steadily writes those pages out
    /// a little at a time, 30 s after it dirtied them. (A `CHECKPOINT` instead would write them
    /// too, but every page touched after it then logs a whole page image: the next phase's first
    /// second ran at about 4,500 payments/s.)
    @discardableResult
    public func settle(stack: LocalStackEnvironment) throws -> Int64 {
        let started = monotonicMs()
        let owner = try PGConnection(
            conninfo: stack.url(database: name, role: "billing_owner"), applicationName: tool, ioTimeoutMs: 600_000)
        defer { owner.close() }
        try owner.query("VACUUM (ANALYZE) \(Self.settledTables.joined(separator: ", "))")
        sync()
        return monotonicMs() - started
    }

    /// Runs `billing-ctl verify` on this database as its owner; its exit code and what it printed
    /// (kept in `outputPath` for a look afterwards).
    public func verify(stack: LocalStackEnvironment, environment: [String: String], outputPath: String) throws
        -> (exitCode: Int32, output: String)
    {
        let verify = try ChildProcess(
            path: "\(stack.binDirectory)/billing-ctl", arguments: ["verify"],
            environment: environment.merging(["DATABASE_URL": stack.url(database: name, role: "billing_owner")]) {
                _, new in new
            }, outputPath: outputPath)
        let code = verify.wait()
        return (code, (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "")
    }
}

/// The running local stack, or exit 3 with the reason (a benchmark cannot run without it).
public func benchStack(_ tool: String, hint: String = "") -> LocalStackEnvironment {
    let stack: LocalStackEnvironment
    do {
        stack = try LocalStackEnvironment.current()
    } catch {
        benchFail(tool, "\(error)\(hint)", code: 3)
    }
    let idle = runningStackWorkers(binDirectory: stack.binDirectory)
    if !idle.isEmpty {
        benchProgress(
            tool,
            "note: the stack's own \(idle.joined(separator: ", ")) \(idle.count == 1 ? "is" : "are") running and "
                + "\(idle.count == 1 ? "shares" : "share") the CPU with this run; "
                + "`Deploy/local/stack up --no-workers` leaves them out")
    }
    return stack
}

/// The stack's five workers found running from `binDirectory`, by name (read from `/proc`): idle,
/// they still poll the broker and take a share of a small machine from whatever is measured.
func runningStackWorkers(binDirectory: String) -> [String] {
    let names = Services.workers.map(\.name)
    guard let resolved = realpath(binDirectory, nil) else { return [] }
    let directory = String(cString: resolved)
    free(resolved)
    var found: Set<String> = []
    var buffer = [CChar](repeating: 0, count: 4096)
    for pid in ChildProcess.allIDs() {
        let length = readlink("/proc/\(pid)/exe", &buffer, buffer.count - 1)
        guard length > 0 else { continue }
        let path = String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if let name = names.first(where: { path == "\(directory)/\($0)" }) { found.insert(name) }
    }
    return names.filter(found.contains)
}

/// A short random tag naming one run's database and topics.
public func benchTag() -> String { String(UUID().uuidString.prefix(8).lowercased()) }

extension LocalStackEnvironment {
    /// The environment of a worker a benchmark starts: this process's own (so `WORKER_*` and
    /// `KAFKA_*` settings pass through), pointed at `database` as `role`, in consumer group `group`,
    /// with an ops port of its own and no migrations, then `extra` over all of it.
    ///
    /// Unless the environment says otherwise, the worker's group session lasts 6 s, as for the
    /// stack's own workers. In one allocator-bench run, the rebalance as the worker's two loops
    /// joined waited 44 s (librdkafka's default session is 45 s) before it handed the partitions
    /// out again, and the drain stood still meanwhile.
    ///
    /// Its fetches wait at most 10 ms (`fetch.wait.max.ms`; the project's default is 50), as the
    /// stack's own workers' do: dev-kafka answers a fetch that finds no new data only when that
    /// wait has passed, even if data arrives meanwhile, where a real broker answers as the data
    /// arrives. With 50 ms, about 30 ms of allocator-bench's p50 at 5,000 payments/s was that wait.
    public func benchWorkerEnvironment(database: String, role: String, group: String, _ extra: [String: String] = [:])
        -> [String: String]
    {
        [
            "KAFKA_SESSION_TIMEOUT_MS": "6000", "KAFKA_HEARTBEAT_INTERVAL_MS": "1000", "KAFKA_FETCH_WAIT_MAX_MS": "10",
        ].merging(
            ProcessEnvironment.current().values
        ) { _, own in own }.merging(
            [
                "DATABASE_URL": url(database: database, role: role), "BILLING_MIGRATE_ON_START": "false",
                "KAFKA_BOOTSTRAP_SERVERS": bootstrapServers, "WORKER_CONSUMER_GROUP": group, "OPS_PORT": "0",
                "LOG_LEVEL": "info",
            ].merging(extra) { _, new in new }
        ) { _, new in new }
    }
}

/// `value` in decimal, zero-padded on the left to `width` digits.
public func zeroPadded(_ value: Int, width: Int) -> String {
    let digits = String(value)
    return String(repeating: "0", count: max(0, width - digits.count)) + digits
}
