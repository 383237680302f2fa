import BillingSupport
import BillingTestSupport
import Foundation

/// A real worker process (one of the built executables), its log in a file, its ops port read
/// from its own log line.
final class WorkerProcess: @unchecked Sendable {
    let executable: String
    let environment: [String: String]
    let logPath: String
    private var process: ChildProcess?
    private(set) var opsPort: Int?
    private(set) var starts = 0

    init(stack: TestStack, executable: String, environment: [String: String]) {
        self.executable = "\(stack.binDirectory)/\(executable)"
        self.environment = environment
        self.logPath = NSTemporaryDirectory() + "billing-\(executable)-\(UUID().uuidString.prefix(8)).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
    }

    var pid: Int32? { process?.pid }
    var isRunning: Bool { process?.isRunning ?? false }

    func start() throws {
        process = try ChildProcess(
            path: executable, arguments: [],
            environment: ProcessInfo.processInfo.environment.merging(environment) { _, new in new }, outputPath: logPath
        )
        starts += 1
        opsPort = nil
    }

    /// Waits until this start's "ops endpoint listening" line appears and returns the port.
    func waitForOpsPort(timeoutMs: Int = 30_000, logMessage: String = "ops endpoint listening") throws -> Int {
        try eventually(timeoutMs: timeoutMs, "ops port of \(executable)") {
            guard isRunning else { throw HarnessError("\(executable) exited: \(tail())") }
            let lines = log().split(separator: "\n").filter { $0.contains("\"msg\":\"\(logMessage)\"") }
            guard lines.count >= starts, let last = lines.last, let range = last.range(of: "\"port\":") else {
                return false
            }
            opsPort = Int(last[range.upperBound...].prefix { $0.isNumber })
            return opsPort != nil
        }
        return opsPort!
    }

    /// The address the ops endpoint is reached on (`OPS_HOST` when the test set one).
    var opsHost: String { environment["OPS_HOST"] ?? "127.0.0.1" }

    /// HTTP GET (or `method`) on the ops port: status code and body, or nil when nothing answers.
    func get(_ path: String, method: String = "GET") -> (status: Int, body: String)? {
        guard let opsPort,
            let response = tcpExchange(
                host: opsHost, port: opsPort,
                request: Array("\(method) \(path) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8))
        else { return nil }
        let text = String(decoding: response, as: UTF8.self)
        guard let statusText = text.split(separator: " ").dropFirst().first, let status = Int(statusText) else {
            return nil
        }
        let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
        return (status, body)
    }

    func isReady() -> Bool { get("/health/ready")?.status == 200 }

    /// A counter or gauge from /metrics, summed over its label sets.
    func metric(_ name: String) -> Int64 {
        guard let body = get("/metrics")?.body else { return 0 }
        return body.split(separator: "\n").filter { $0.hasPrefix(name + " ") || $0.hasPrefix(name + "{") }
            .compactMap { $0.split(separator: " ").last.flatMap(Self.wholeValue) }.reduce(0, +)
    }

    /// A sample's value as a whole number: `3`, or a gauge's `3.0` (no floating point on the way).
    static func wholeValue(_ text: Substring) -> Int64? {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = Int64(parts[0]), parts.count == 1 || parts[1].allSatisfy({ $0 == "0" }) else { return nil }
        return whole
    }

    func kill() {
        guard let process, process.isRunning else { return }
        process.send(SIGKILL)
        process.wait()
    }

    /// SIGTERM and wait; returns the exit status, or nil if it did not exit within `timeoutMs`.
    func terminate(timeoutMs: Int = 20_000) -> Int32? {
        guard let process else { return nil }
        process.send(SIGTERM)
        if let status = process.wait(timeoutMs: timeoutMs) { return status }
        process.send(SIGKILL)
        process.wait()
        return nil
    }

    func log() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func tail(_ lines: Int = 15) -> String { log().split(separator: "\n").suffix(lines).joined(separator: "\n") }

    deinit {
        process?.send(SIGKILL)
    }
}
