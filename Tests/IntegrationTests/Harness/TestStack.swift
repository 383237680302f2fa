import BillingKafka
import BillingPostgres
import BillingSupport
import Foundation
import Testing

/// Integration tests run serially: several of them stop the shared broker or PostgreSQL.
@Suite("integration", .serialized)
struct Integration {}

/// What `Deploy/local/stack test` exports for the tests: the running PostgreSQL and dev-kafka.
struct TestStack: Sendable {
    let ownerURL: String
    let bootstrapServers: String
    let controlPort: Int
    let binDirectory: String
    let stackScript: String
    let pgPort: Int

    static func fromEnvironment() throws -> TestStack {
        let environment = ProcessEnvironment.current()
        func need(_ name: String) throws -> String {
            guard let value = environment.optional(name) else {
                throw HarnessError("\(name) is not set: run the integration tests with `Deploy/local/stack test`")
            }
            return value
        }
        return TestStack(
            ownerURL: try need("DATABASE_URL"), bootstrapServers: try need("KAFKA_BOOTSTRAP_SERVERS"),
            controlPort: Int(try need("DEV_KAFKA_CONTROL_PORT")) ?? 0, binDirectory: try need("BILLING_BIN_DIR"),
            stackScript: try need("BILLING_STACK"), pgPort: Int(try need("BILLING_PG_PORT")) ?? 0)
    }

    /// Sends a dev-kafka fault-injection command; throws unless it answers `ok`.
    @discardableResult
    func devKafka(_ command: String) throws -> String {
        guard let reply = tcpExchange(port: controlPort, request: Array((command + "\n").utf8)) else {
            throw HarnessError("dev-kafka control port \(controlPort) did not answer")
        }
        let text = String(decoding: reply, as: UTF8.self)
        guard text.hasPrefix("ok") else { throw HarnessError("dev-kafka refused '\(command)': \(text)") }
        return text
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
        let result = try runProcess(stackScript, arguments, environment: [:])
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
