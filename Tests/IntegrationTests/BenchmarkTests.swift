import BillingPostgres
import BillingSupport
import BillingTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

extension Integration {
    @Suite("benchmark programs")
    struct Benchmarks {
        /// A benchmark stopped by SIGTERM stops the worker it started. Left behind, the worker kept
        /// reconnecting to the benchmark's dropped database and took CPU from the runs after it.
        @Test("a benchmark stopped by SIGTERM sends its worker SIGTERM too", .timeLimit(.minutes(3)))
        func signalStopsWorker() throws {
            let stack = try TestStack.fromEnvironment()
            let admin = try PGConnection(conninfo: stack.ownerURL, applicationName: "tests")
            defer { admin.close() }
            let benchDatabases = "SELECT datname FROM pg_database WHERE datname LIKE 'allocbench\\_%'"
            let before = Set(try admin.query(benchDatabases).values.compactMap { $0[0] })
            let log = NSTemporaryDirectory() + "allocator-bench-signal-\(UUID().uuidString).txt"
            defer { try? FileManager.default.removeItem(atPath: log) }
            let bench = try ChildProcess(
                path: "\(stack.binDirectory)/allocator-bench",
                arguments: [
                    "--accounts", "50", "--payments", "100", "--rate", "50", "--seconds", "60", "--hot-payments", "50",
                ],
                environment: ProcessInfo.processInfo.environment, outputPath: log)
            defer {
                // The interrupted run leaves its database behind (its name is not printed): drop it.
                for name in (try? admin.query(benchDatabases).values.compactMap { $0[0] }) ?? []
                where !before.contains(name) {
                    TestDatabase(name: name, stack: stack).drop()
                }
            }
            defer {
                if bench.isRunning {
                    bench.send(SIGTERM)
                    _ = bench.wait(timeoutMs: 10_000)
                }
            }
            let output = { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
            try eventually(timeoutMs: 90_000, "allocator-bench's sustained phase") {
                guard bench.isRunning else { throw HarnessError("allocator-bench exited early:\n\(output())") }
                return output().contains("sustained: 50 payments/s")
            }
            let workers = childProcesses(of: bench.pid, named: "allocator")
            try #require(workers.count == 1, "the benchmark's worker among its children: \(workers)")
            defer { if processIsLive(workers[0]) { kill(workers[0], SIGKILL) } }
            bench.send(SIGTERM)
            #expect(bench.wait(timeoutMs: 10_000) != nil, "allocator-bench exits on SIGTERM")
            // The worker stops gracefully (WORKER_SHUTDOWN_TIMEOUT_MS, 10 s by default).
            try eventually(timeoutMs: 20_000, "the worker (pid \(workers[0])) to stop") {
                !processIsLive(workers[0])
            }
        }
    }
}

/// Process ids whose parent is `parent` and whose command name is `name`, from `/proc`.
private func childProcesses(of parent: pid_t, named name: String) -> [pid_t] {
    ChildProcess.allIDs().filter {
        guard let stat = ChildProcess.stat(pid: $0) else { return false }
        return stat.parent == parent && stat.name == name
    }
}

/// Running or sleeping: not gone and not a zombie waiting for a parent that does not reap it.
private func processIsLive(_ pid: pid_t) -> Bool {
    guard let stat = ChildProcess.stat(pid: pid) else { return false }
    return stat.state != "Z" && stat.state != "X"
}
