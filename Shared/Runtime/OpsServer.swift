import BillingSupport
import NIOCore
import NIOHTTP1
import NIOPosix

/// The ops HTTP endpoint of a worker: `/health/live`, `/health/ready`, `/metrics` (GET and HEAD).
///
/// Served by SwiftNIO's HTTP/1 server pipeline (NIOHTTP1 parses and writes HTTP; this file only
/// routes three paths) on one event loop thread of its own, so any number of probes and scrapes
/// are answered side by side and a slow or silent client holds only its own connection (idle
/// connections are closed after `idleTimeoutMs`); IPv4 and IPv6 addresses both work.
///
/// Not Hummingbird, which gateway-relay uses: Hummingbird links all of Foundation and ICU, and in
/// the workers that cost 17 MiB of resident memory per process (an idle allocator measured 41 MiB
/// with it, 24 MiB before it) for three GET routes.
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
    private let serving = Locked<Channel?>(nil)
    /// One event loop thread is plenty for probes and scrapes; NIO's singleton group would start
    /// one per core beside the worker's own threads.
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

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
        let (host, port, idle) = (host, requestedPort, idleTimeoutMs)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(IdleStateHandler(allTimeout: .milliseconds(idle)))
                    try sync.configureHTTPServerPipeline(withErrorHandling: true)
                    try sync.addHandler(OpsRequestHandler(respond: { [self] method, path in answer(method, path) }))
                }
            }
        let bound = bootstrap.bind(host: host, port: port)
        let settled = CompletionSignal()
        let outcome = Locked<Result<Channel, any Error>?>(nil)
        bound.whenComplete { result in
            outcome.withLock { $0 = result }
            settled.signal()
        }
        guard settled.wait(timeoutMs: timeoutMs), let result = outcome.current else {
            throw .timedOut(host: host, port: port)
        }
        switch result {
        case .success(let channel):
            serving.withLock { $0 = channel }
            return channel.localAddress?.port ?? port
        case .failure(let error):
            throw .failed(host: host, port: port, "\(error)")
        }
    }

    public func stop() {
        stopped.signal()
        if let channel = serving.current { _ = try? channel.close().wait() }
        try? group.syncShutdownGracefully()
    }

    /// Each check's result from the last finished round (no check runs here).
    public func readiness() -> [(String, Bool)] { latest.current }

    /// The answer to one request (HEAD is answered as GET, without the body).
    private func answer(_ method: HTTPMethod, _ path: String) -> OpsRequestHandler.Answer {
        guard method == .GET || method == .HEAD else {
            return (.methodNotAllowed, "{\"error\":\"only GET and HEAD\"}\n", "application/json")
        }
        switch path.split(separator: "?", maxSplits: 1).first.map(String.init) ?? path {
        case "/health/live":
            return (.ok, "{\"status\":\"live\"}\n", "application/json")
        case "/health/ready":
            let results = readiness()
            let ready = results.allSatisfy(\.1)
            var body = "{\"status\":\"\(ready ? "ready" : "not ready")\",\"checks\":{"
            body += results.map { "\(JSONText.quoted($0.0)):\($0.1)" }.joined(separator: ",")
            body += "},\"alarms\":{"
            body += alarms().map { "\(JSONText.quoted($0.0)):\($0.1)" }.joined(separator: ",")
            body += "}}\n"
            return (ready ? .ok : .serviceUnavailable, body, "application/json")
        case "/metrics":
            return (.ok, metrics.metrics.render(), "text/plain; version=0.0.4")
        default:
            return (.notFound, "{\"error\":\"not found\"}\n", "application/json")
        }
    }

    /// One round of checks, on the readiness thread.
    private func checkReadiness() {
        let results = checks.map { ($0.name, $0.run()) }
        latest.withLock { $0 = results }
        metrics.ready.record(results.allSatisfy(\.1) ? 1 : 0)
    }
}

/// Answers each request on a connection once it has been read whole; closes the connection after
/// the answer when the client asked for that, and when it stays silent past the idle bound.
private final class OpsRequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    typealias Answer = (status: HTTPResponseStatus, body: String, contentType: String)

    private let respond: @Sendable (HTTPMethod, String) -> Answer
    private var head: HTTPRequestHead?

    init(respond: @escaping @Sendable (HTTPMethod, String) -> Answer) {
        self.respond = respond
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body:
            break
        case .end:
            guard let head else { return }
            self.head = nil
            let answer = respond(head.method, head.uri)
            let body = context.channel.allocator.buffer(string: answer.body)
            var headers = HTTPHeaders([
                ("content-type", answer.contentType), ("content-length", String(body.readableBytes)),
            ])
            if !head.isKeepAlive { headers.add(name: "connection", value: "close") }
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: answer.status, headers: headers))),
                promise: nil)
            if head.method != .HEAD { context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil) }
            let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
            if !head.isKeepAlive {
                let bound = context.loopBound
                written.whenComplete { _ in bound.value.close(promise: nil) }
            }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}
