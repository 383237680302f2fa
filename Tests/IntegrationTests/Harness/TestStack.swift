import BillingKafka
import BillingPostgres
import BillingSupport
import BillingTestSupport
import Foundation
import Testing

/// Integration tests run serially: several of them stop the shared broker or PostgreSQL.
@Suite("integration", .serialized)
struct Integration {}

/// What `Deploy/local/stack test` exports for the tests: the running PostgreSQL and dev-kafka.
struct TestStack: Sendable {
    let local: LocalStackEnvironment

    var ownerURL: String { local.ownerURL }
    var bootstrapServers: String { local.bootstrapServers }
    var controlPort: Int { local.controlPort }
    var binDirectory: String { local.binDirectory }
    var pgPort: Int { local.pgPort }

    static func fromEnvironment() throws -> TestStack {
        do {
            return TestStack(local: try LocalStackEnvironment.current())
        } catch {
            throw HarnessError("\(error): run the integration tests with `Deploy/local/stack test`")
        }
    }

    /// Sends a dev-kafka fault-injection command; throws unless it answers `ok`.
    @discardableResult
    func devKafka(_ command: String) throws -> String {
        do {
            return try local.devKafka(command)
        } catch {
            throw HarnessError("\(error)")
        }
    }

    /// A topic of this test's own, so tests never see each other's messages.
    func createTopic(prefix: String, partitions: Int) throws -> String {
        let name = "\(prefix).\(UUID().uuidString.prefix(8).lowercased())"
        try devKafka("create-topic \(name) \(partitions)")
        return name
    }

    var kafka: KafkaConfiguration { KafkaConfiguration(["bootstrap.servers": bootstrapServers]) }

    /// Runs `Deploy/local/stack` with arguments (e.g. `pg stop immediate`).
    func stack(_ arguments: [String]) throws {
        guard let script = local.stackScript else { throw HarnessError("BILLING_STACK is not set") }
        let result = try runProcess(script, arguments, environment: [:])
        guard result.status == 0 else {
            throw HarnessError("stack \(arguments.joined(separator: " ")) failed: \(result.output)")
        }
    }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs a program to completion and returns its exit status and combined output.
func runProcess(_ path: String, _ arguments: [String], environment: [String: String], input: String? = nil) throws
    -> (status: Int32, output: String)
{
    let base = NSTemporaryDirectory() + "billing-run-\(UUID().uuidString)"
    defer {
        try? FileManager.default.removeItem(atPath: base + ".out")
        try? FileManager.default.removeItem(atPath: base + ".in")
    }
    _ = FileManager.default.createFile(atPath: base + ".in", contents: Data((input ?? "").utf8))
    let child = try ChildProcess(
        path: path, arguments: arguments,
        environment: ProcessInfo.processInfo.environment.merging(environment) { _, new in new },
        inputPath: base + ".in", outputPath: base + ".out", appendOutput: false)
    let status = child.wait()
    return (status, (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? "")
}

/// Polls `condition` every `intervalMs` until it holds or `timeoutMs` passes.
func eventually(timeoutMs: Int, intervalMs: Int = 200, _ what: String, _ condition: () throws -> Bool) throws {
    let deadline = monotonicMs() + Int64(timeoutMs)
    while true {
        if try condition() { return }
        if monotonicMs() > deadline { throw HarnessError("timed out after \(timeoutMs) ms waiting for: \(what)") }
        sleepThread(milliseconds: intervalMs)
    }
}
