import BillingSupport
import Hummingbird
import Logging
import NIOPosix

/// The ops HTTP endpoint of a worker: `/health/live`, `/health/ready`, `/metrics` (GET and HEAD).
///
/// Served by Hummingbird (SwiftNIO) on its own event loops, so any number of probes and scrapes
/// are answered side by side and a slow or silent client holds only its own connection (idle
/// connections are closed after `idleTimeoutMs`); IPv4 and IPv6 addresses both work.
///
/// Readiness checks are supplied by the worker and run on a timer of their own (every
/// `checkEveryMs`), never on a request: `/health/live` and `/health/ready` only read state, so a
/// database outage that makes a check take seconds never delays either answer, and a burst of
/// probes never turns into a burst of database and broker round trips. Until the first round of
/// checks has finished, every check reads as failed (not ready).
public final class OpsServer: Sendable {
    public struct Check: Sendable {
        public let name: String
        public let run: @Sendable () -> Bool

        public init(name: String, run: @escaping @Sendable () -> Bool) {
            self.name = name
            self.run = run
        }
    }

    public enum StartError: Error, CustomStringConvertible {
        case failed(host: String, port: Int, String)
        case timedOut(host: String, port: Int)

        public var description: String {
            switch self {
            case .failed(let host, let port, let reason): return "cannot listen on \(host) port \(port): \(reason)"
            case .timedOut(let host, let port): return "listening on \(host) port \(port) did not start in time"
            }
        }
    }

    private let host: String
    private let requestedPort: Int
    private let metrics: RuntimeMetrics
    private let checks: [Check]
    /// Alarms shown beside the checks (name → a JSON value). They never make the worker unready:
    /// an alarm is for people (an offset gap, a stalled partition), not a reason to stop serving.
    private let alarms: @Sendable () -> [(String, String)]
    private let checkEveryMs: Int64
    private let idleTimeoutMs: Int64
    private let latest: Locked<[(String, Bool)]>
    private let stopped = CompletionSignal()
    private let serving = Locked<Task<Void, Never>?>(nil)

    public init(
        host: String, port: Int, metrics: RuntimeMetrics, checks: [Check], checkEveryMs: Int64 = 1_000,
        idleTimeoutMs: Int64 = 10_000, alarms: @escaping @Sendable () -> [(String, String)] = { [] }
    ) {
        self.host = host
        requestedPort = port
        self.metrics = metrics
        self.checks = checks
        self.alarms = alarms
        self.checkEveryMs = checkEveryMs
        self.idleTimeoutMs = idleTimeoutMs
        latest = Locked(checks.map { ($0.name, false) })
    }

    /// Starts the readiness timer and the server; returns the port it listens on (the one asked
    /// for, or the one picked for port 0) once it does, or throws when the address cannot be bound.
    public func start(timeoutMs: Int = 10_000) throws(StartError) -> Int {
        DedicatedThread.start(name: "ops-readiness") { [self] in
            repeat { checkReadiness() } while !stopped.wait(timeoutMs: Int(checkEveryMs))
        }
        let outcome = Locked<Result<Int, StartError>?>(nil)
        let settled = CompletionSignal()
        let (host, port) = (host, requestedPort)
        var logger = Logger(label: "ops-http")
        logger.logLevel = .warning
        let app = Application(
            router: router(),
            server: .http1(configuration: .init(idleTimeout: .milliseconds(idleTimeoutMs))),
            configuration: .init(address: .hostname(host, port: port), serverName: "billing-ops"),
            onServerRunning: { channel in
                outcome.withLock { $0 = .success(channel.localAddress?.port ?? port) }
                settled.signal()
            },
            // One event loop thread is plenty for probes and scrapes; NIO's singleton group would
            // start one per core beside the worker's own threads.
            eventLoopGroupProvider: .shared(MultiThreadedEventLoopGroup(numberOfThreads: 1)),
            logger: logger)
        let task = Task {
            do {
                try await app.runService(gracefulShutdownSignals: [])
            } catch {
                outcome.withLock { $0 = $0 ?? .failure(.failed(host: host, port: port, "\(error)")) }
                settled.signal()
            }
        }
        serving.withLock { $0 = task }
        guard settled.wait(timeoutMs: timeoutMs), let result = outcome.current else {
            throw .timedOut(host: host, port: port)
        }
        return try result.get()
    }

    public func stop() {
        stopped.signal()
        serving.current?.cancel()
    }

    /// Each check's result from the last finished round (no check runs here).
    public func readiness() -> [(String, Bool)] { latest.current }

    private func router() -> Router<BasicRequestContext> {
        // HEAD answers as GET does, without the body.
        let router = Router(options: .autoGenerateHeadEndpoints)
        router.get("/health/live") { _, _ in Self.response(.ok, "{\"status\":\"live\"}\n", "application/json") }
        router.get("/health/ready") { [self] _, _ in
            let results = readiness()
            let ready = results.allSatisfy(\.1)
            var body = "{\"status\":\"\(ready ? "ready" : "not ready")\",\"checks\":{"
            body += results.map { "\(JSONText.quoted($0.0)):\($0.1)" }.joined(separator: ",")
            body += "},\"alarms\":{"
            body += alarms().map { "\(JSONText.quoted($0.0)):\($0.1)" }.joined(separator: ",")
            body += "}}\n"
            return Self.response(ready ? .ok : .serviceUnavailable, body, "application/json")
        }
        router.get("/metrics") { [self] _, _ in
            Self.response(.ok, metrics.metrics.render(), "text/plain; version=0.0.4")
        }
        return router
    }

    private static func response(_ status: HTTPResponse.Status, _ body: String, _ type: String) -> Response {
        Response(
            status: status, headers: [.contentType: type], body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }

    /// One round of checks, on the readiness thread.
    private func checkReadiness() {
        let results = checks.map { ($0.name, $0.run()) }
        latest.withLock { $0 = results }
        metrics.ready.record(results.allSatisfy(\.1) ? 1 : 0)
    }
}
