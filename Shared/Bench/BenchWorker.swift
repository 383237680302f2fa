import BillingSupport
import FoundationEssentials

#if canImport(Glibc)
    import Glibc
#endif

/// A worker process a benchmark runs: started with the given environment, logging to a file,
/// stopped with SIGTERM when the benchmark is done.
public struct BenchWorker {
    public let process: ChildProcess
    public let opsPort: Int
    public let logPath: String

    /// Starts `executable` and waits (at most 30 s) until it announces its ops port.
    public static func start(executable: String, environment: [String: String], logPath: String) throws -> BenchWorker {
        let process = try ChildProcess(path: executable, arguments: [], environment: environment, outputPath: logPath)
        let deadline = monotonicMs() + 30_000
        while monotonicMs() < deadline, process.isRunning {
            let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            if let line = log.split(separator: "\n").first(where: { $0.contains("ops endpoint listening") }),
                let range = line.firstRange(of: "\"port\":"),
                let port = Int(line[range.upperBound...].prefix { $0.isNumber })
            {
                return BenchWorker(process: process, opsPort: port, logPath: logPath)
            }
            sleepThread(milliseconds: 100)
        }
        process.send(SIGKILL)
        throw BenchFailure("the worker did not start; see \(logPath)")
    }

    public func stop() {
        process.send(SIGTERM)
        _ = process.wait(timeoutMs: 20_000)
    }
}

public struct BenchFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Microseconds as milliseconds text with three decimals, without floating point.
public func millisecondsText(_ micros: Int64) -> String {
    let fraction = String(micros % 1_000)
    return "\(micros / 1_000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
}
