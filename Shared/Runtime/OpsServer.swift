import BillingSupport

/// The ops HTTP endpoint of a worker: `/health/live`, `/health/ready`, `/metrics`.
///
/// Runs on its own thread. Readiness checks are supplied by the worker and cached briefly so a
/// burst of probes does not turn into a burst of database and broker round trips.
public final class OpsServer: @unchecked Sendable {
    public struct Check: Sendable {
        public let name: String
        public let run: @Sendable () -> Bool

        public init(name: String, run: @escaping @Sendable () -> Bool) {
            self.name = name
            self.run = run
        }
    }

    private let server: TCPServer
    private let metrics: Metrics
    private let checks: [Check]
    /// Alarms shown beside the checks (name → a JSON value). They never make the worker unready:
    /// an alarm is for people (an offset gap, a stalled partition), not a reason to stop serving.
    private let alarms: @Sendable () -> [(String, String)]
    private let cacheMs: Int64
    private let cache = Locked<(atMs: Int64, results: [(String, Bool)])?>(nil)

    public var port: Int { server.port }

    public init(
        host: String, port: Int, metrics: Metrics, checks: [Check], cacheMs: Int64 = 1_000,
        alarms: @escaping @Sendable () -> [(String, String)] = { [] }
    ) throws {
        server = try TCPServer(host: host, port: port)
        self.metrics = metrics
        self.checks = checks
        self.alarms = alarms
        self.cacheMs = cacheMs
    }

    public func start() {
        server.start(name: "ops-http") { [self] connection in
            guard let request = connection.read(until: Array("\r\n\r\n".utf8), byteCountMax: 8_192) else { return }
            let requestLine = String(decoding: request.prefix { $0 != UInt8(ascii: "\r") }, as: UTF8.self)
            let parts = requestLine.split(separator: " ")
            guard parts.count >= 2, parts[0] == "GET" || parts[0] == "HEAD" else {
                respond(connection, status: "405 Method Not Allowed", body: "only GET\n")
                return
            }
            let path = String(parts[1].prefix { $0 != "?" })
            switch path {
            case "/health/live":
                respond(connection, status: "200 OK", body: "{\"status\":\"live\"}\n", type: "application/json")
            case "/health/ready":
                let results = readiness()
                let ready = results.allSatisfy(\.1)
                var body = "{\"status\":\"\(ready ? "ready" : "not ready")\",\"checks\":{"
                body += results.map { "\(JSONText.quoted($0.0)):\($0.1)" }.joined(separator: ",")
                body += "},\"alarms\":{"
                body += alarms().map { "\(JSONText.quoted($0.0)):\($0.1)" }.joined(separator: ",")
                body += "}}\n"
                respond(
                    connection, status: ready ? "200 OK" : "503 Service Unavailable", body: body,
                    type: "application/json")
            case "/metrics":
                respond(
                    connection, status: "200 OK", body: metrics.render(), type: "text/plain; version=0.0.4")
            default:
                respond(connection, status: "404 Not Found", body: "not found\n")
            }
        }
    }

    public func stop() { server.stop() }

    /// Each check's result, recomputed at most once per `cacheMs`.
    public func readiness() -> [(String, Bool)] {
        let now = monotonicMs()
        if let cached = cache.current, now - cached.atMs < cacheMs { return cached.results }
        let results = checks.map { ($0.name, $0.run()) }
        cache.withLock { $0 = (now, results) }
        metrics.set("billing_ready", results.allSatisfy(\.1) ? 1 : 0)
        return results
    }

    private func respond(_ connection: TCPConnection, status: String, body: String, type: String = "text/plain") {
        let bytes = Array(body.utf8)
        connection.write(
            "HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(bytes.count)\r\nConnection: close\r\n\r\n"
        )
        connection.write(bytes)
    }
}
