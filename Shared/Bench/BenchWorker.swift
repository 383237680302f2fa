import ArgumentParser
import BillingKafka
import BillingSupport
import BillingTestSupport
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
                RunningWorkers.add(process.pid)
                return BenchWorker(process: process, opsPort: port, logPath: logPath)
            }
            sleepThread(milliseconds: 100)
        }
        process.send(SIGKILL)
        throw BenchFailure("the worker did not start; see \(logPath)")
    }

    /// SIGTERM, and SIGKILL if it has not exited 20 s later: its database sessions must end so
    /// that the benchmark can drop its database.
    public func stop() {
        process.send(SIGTERM)
        if process.wait(timeoutMs: 20_000) == nil {
            process.send(SIGKILL)
            _ = process.wait(timeoutMs: 10_000)
        }
        RunningWorkers.remove(process.pid)
    }

    /// SIGKILL, as a crash would end it (fault runs), and waits until it is gone.
    public func kill() {
        process.send(SIGKILL)
        _ = process.wait(timeoutMs: 10_000)
        RunningWorkers.remove(process.pid)
    }
}

/// The workers a benchmark has running, for its SIGTERM and SIGINT handler: a benchmark stopped
/// by a signal sends them SIGTERM before it exits, instead of leaving them behind, reconnecting to
/// a database that is gone and taking CPU from whatever runs next. A fixed table of process ids,
/// read by the handler without locks or allocation.
private enum RunningWorkers {
    static let capacity = 64
    nonisolated(unsafe) static let pids: UnsafeMutablePointer<pid_t> = {
        let pointer = UnsafeMutablePointer<pid_t>.allocate(capacity: capacity)
        pointer.initialize(repeating: 0, count: capacity)
        return pointer
    }()
    /// Installed once, on the first worker's start, after `pids` exists.
    static let handler: Void = {
        _ = pids
        for signalNumber in [SIGTERM, SIGINT] {
            signal(signalNumber) { received in
                for index in 0..<RunningWorkers.capacity where RunningWorkers.pids[index] > 0 {
                    Glibc.kill(RunningWorkers.pids[index], SIGTERM)
                }
                _exit(128 + received)
            }
        }
    }()

    static func add(_ pid: pid_t) {
        _ = handler
        if let free = (0..<capacity).first(where: { pids[$0] == 0 }) { pids[free] = pid }
    }

    static func remove(_ pid: pid_t) {
        for index in 0..<capacity where pids[index] == pid { pids[index] = 0 }
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

extension ParsableCommand {
    /// Parses a benchmark's command line with ArgumentParser: `-h`/`--help` prints the help and
    /// exits 0; anything else it refuses exits 2 (the benchmarks' usage code) with one clear line.
    public static func parseBenchOptions() -> Self {
        do {
            return try parse()
        } catch {
            if exitCode(for: error) == .success {
                print(fullMessage(for: error))
                Glibc.exit(0)
            }
            writeStandardError(fullMessage(for: error))
            Glibc.exit(2)
        }
    }
}

/// Throws ArgumentParser's usage error for the first of `values` below `least`.
public func requireAtLeast(_ least: Int, _ values: (String, Int)...) throws {
    for (name, value) in values where value < least {
        throw ValidationError("\(name) needs a whole number of at least \(least) (got \(value))")
    }
}

public func benchFail(_ tool: String, _ message: String, code: Int32) -> Never {
    writeStandardError("\(tool): \(message)")
    exit(code)
}

public func benchProgress(_ tool: String, _ text: String) {
    writeStandardError("\(tool): \(text)")
}

/// Produces every message, retrying the ones the broker did not acknowledge (up to 10 rounds),
/// in chunks so that librdkafka's queue never overflows.
public func produceAll(_ producer: KafkaProducer, _ messages: [KafkaOutgoingMessage]) throws {
    var pending = messages
    var rounds = 0
    while !pending.isEmpty {
        rounds += 1
        guard rounds <= 10 else { throw BenchFailure("could not produce \(pending.count) messages") }
        var failed: [KafkaOutgoingMessage] = []
        for start in stride(from: 0, to: pending.count, by: 20_000) {
            let chunk = Array(pending[start..<min(pending.count, start + 20_000)])
            let results = try producer.send(chunk, timeoutMs: 120_000)
            failed += zip(chunk, results).filter { !$0.1.isDelivered }.map(\.0)
        }
        pending = failed
    }
}
