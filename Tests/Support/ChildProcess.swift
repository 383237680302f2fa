import BillingSupport

#if canImport(Glibc)
    import Glibc
#endif

/// A child process started with posix_spawn, its output appended to a file.
///
/// Used by tests and benchmarks to run the real executables. posix_spawn and waitpid rather than
/// a higher-level API: a child that starts a daemon (`pg_ctl start`) leaves it holding inherited
/// descriptors, and waiting on those would never end.
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    private let status = Locked<Int32?>(nil)

    /// Starts `path` with exactly `environment`; standard input from `inputPath`, output to `outputPath`.
    public init(
        path: String, arguments: [String], environment: [String: String], inputPath: String = "/dev/null",
        outputPath: String, appendOutput: Bool = true
    ) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, inputPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(
            &actions, 1, outputPath, O_WRONLY | O_CREAT | (appendOutput ? O_APPEND : O_TRUNC), 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Children must not inherit our blocked SIGTERM/SIGINT mask.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard result == 0 else { throw ChildProcessError(path: path, code: result) }
        self.pid = pid
    }

    /// Waits for the child to exit and returns its status (128 + signal when killed).
    @discardableResult
    public func wait() -> Int32 {
        if let known = status.current { return known }
        var raw: Int32 = 0
        while waitpid(pid, &raw, 0) < 0, errno == EINTR {}
        return record(raw)
    }

    /// The exit status if the child has exited, without waiting.
    public func exitStatus() -> Int32? {
        if let known = status.current { return known }
        var raw: Int32 = 0
        guard waitpid(pid, &raw, WNOHANG) == pid else { return nil }
        return record(raw)
    }

    public var isRunning: Bool { exitStatus() == nil }

    /// Waits up to `timeoutMs`; nil when still running.
    public func wait(timeoutMs: Int) -> Int32? {
        let deadline = monotonicMs() + Int64(timeoutMs)
        while monotonicMs() < deadline {
            if let code = exitStatus() { return code }
            sleepThread(milliseconds: 20)
        }
        return exitStatus()
    }

    public func send(_ signal: Int32) {
        if isRunning { kill(pid, signal) }
    }

    /// Peak and current resident memory in KiB, from /proc (Linux).
    public func memoryKiB() -> (peak: Int, current: Int)? { Self.memoryKiB(pid: pid) }

    /// CPU time (user and system, all threads) the process has used so far, in microseconds.
    public func cpuMicroseconds() -> Int64? { Self.cpuMicroseconds(pid: pid) }

    /// CPU time (user and system, all threads) of any process, in microseconds.
    public static func cpuMicroseconds(pid: pid_t) -> Int64? { stat(pid: pid)?.cpuMicroseconds }

    /// What `/proc/PID/stat` says of a process: its command name (field 2), state (3), parent (4)
    /// and CPU time (14 and 15, clock ticks, here in microseconds); nil once it is gone.
    public struct Stat: Sendable {
        public let name: String
        public let state: Character
        public let parent: pid_t
        public let cpuMicroseconds: Int64
    }

    public static func stat(pid: pid_t) -> Stat? {
        guard let file = fopen("/proc/\(pid)/stat", "r") else { return nil }
        defer { fclose(file) }
        var buffer = [CChar](repeating: 0, count: 1024)
        guard fgets(&buffer, Int32(buffer.count), file) != nil else { return nil }
        let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        // The command name (field 2) is in parentheses and may hold spaces: count from its end.
        guard let open = text.firstIndex(of: "("), let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let state = fields[0].first, let parent = pid_t(fields[1]),
            let user = Int64(fields[11]), let system = Int64(fields[12])
        else { return nil }
        let ticksPerSecond = Int64(sysconf(Int32(_SC_CLK_TCK)))
        return Stat(
            name: String(text[text.index(after: open)..<close]), state: state, parent: parent,
            cpuMicroseconds: (user + system) * 1_000_000 / max(1, ticksPerSecond))
    }

    /// The ids of every process on the machine (the numeric entries of `/proc`).
    public static func allIDs() -> [pid_t] {
        guard let directory = opendir("/proc") else { return [] }
        defer { closedir(directory) }
        var ids: [pid_t] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            if let id = pid_t(name) { ids.append(id) }
        }
        return ids
    }

    /// Peak (VmHWM) and current (VmRSS) resident memory of any process, in KiB.
    public static func memoryKiB(pid: pid_t) -> (peak: Int, current: Int)? {
        guard let file = fopen("/proc/\(pid)/status", "r") else { return nil }
        defer { fclose(file) }
        var peak = 0
        var current = 0
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let value = Int(text.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
            if text.hasPrefix("VmHWM:") { peak = value }
            if text.hasPrefix("VmRSS:") { current = value }
        }
        return (peak, current)
    }

    private func record(_ raw: Int32) -> Int32 {
        let code = (raw & 0x7f) == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
        status.withLock { $0 = code }
        return code
    }
}

public struct ChildProcessError: Error, CustomStringConvertible {
    public let path: String
    public let code: Int32
    public var description: String { "could not start \(path): \(String(cString: strerror(code)))" }
}
