import BillingContracts
import BillingKafka
import BillingPostgres
import BillingSchema
import BillingSupport
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// Starts a worker in order and stops it in reverse order on SIGTERM/SIGINT, within bounds.
///
/// Start: configuration (exit 2 with one line naming the variable) → migrations → outbox relay
/// (with its producer) and one consumer per worker loop (`WORKER_CONCURRENCY`) → ops endpoint →
/// threads. Stop: the loop finishes or abandons
/// its batch, the consumer leaves its group, the relay marks what was acknowledged and closes its
/// producer, all within
/// `WORKER_SHUTDOWN_TIMEOUT_MS`; the process exits 0.
public enum WorkerMain {
    public static func run<Handler: WorkerHandler>(
        service: ServiceDescriptor, defaults: WorkerConfiguration.Defaults,
        makeHandler: (WorkerConfiguration) throws -> Handler
    ) -> Never {
        TerminationSignals.block()
        let environment = ProcessEnvironment.current()
        HeapAllocator.configure(environment: environment)
        let configuration: WorkerConfiguration
        let logger: Logger
        let handler: Handler
        do {
            configuration = try WorkerConfiguration(service: service, defaults: defaults, environment: environment)
            // Libraries' loggers write through the same handler.
            logger = JSONLogHandler.bootstrap(service: service.name, level: configuration.logLevel)
            handler = try makeHandler(configuration)
        } catch {
            failStart("\(service.name): \(error)", code: 2)
        }
        logger.info(
            "starting",
            metadata: [
                "instance": .string(configuration.instanceID), "schema": .string(service.schema),
                "allocator": .string(HeapAllocator.name),
            ])

        let stop = Locked(false)
        prepareSchema(configuration, logger: logger)

        // Every series is declared here, before anything records or an ops request can read it.
        let metrics = RuntimeMetrics(
            metrics: Metrics(), topics: configuration.topics, serviceFamilies: Handler.metricFamilies)
        let relay: OutboxRelay
        let loops: [WorkerLoop<Handler>]
        do {
            // Up to two rounds' worth of events wait in memory; beyond that, by id (see OutboxHandoff).
            let handoff = OutboxHandoff(
                token: configuration.instanceID, eventCapacity: 2 * configuration.outboxBatchCountMax)
            relay = try OutboxRelay(
                configuration: configuration, metrics: metrics, logger: logger, stop: stop, handoff: handoff)
            loops = try (0..<configuration.concurrency).map { index in
                var own = configuration
                // Each loop claims partitions under a name of its own, so fencing tells them apart.
                if configuration.concurrency > 1 { own.instanceID = "\(configuration.instanceID)#\(index + 1)" }
                let loop = WorkerLoop(
                    configuration: own, handler: handler, metrics: metrics, logger: logger, stop: stop,
                    handoff: handoff)
                try loop.makeConsumer()
                return loop
            }
        } catch {
            failStart("\(service.name): Kafka client configuration: \(error)", code: 2)
        }
        addCollectors(metrics, loops: loops)
        let ops = startOps(configuration, metrics: metrics, relay: relay, loops: loops, logger: logger)
        let relayThread = DedicatedThread.start(name: "outbox-relay") { relay.run() }
        let loopThreads = loops.enumerated().map { index, loop in
            DedicatedThread.start(name: "worker-loop-\(index + 1)") { loop.run() }
        }

        let signal = waitForStop(
            configuration, loops: loops, loopThreads: loopThreads, relayThread: relayThread, stop: stop, logger: logger)
        ops.stop()
        logger.info("stopped")
        exit(signal == nil ? 1 : 0)
    }

    /// Gauges read when `/metrics` is scraped: the heap, and each owned partition's lag and stall.
    private static func addCollectors<Handler: WorkerHandler>(_ metrics: RuntimeMetrics, loops: [WorkerLoop<Handler>]) {
        metrics.metrics.addCollector {
            guard let heap = HeapAllocator.statistics() else { return [] }
            return [
                .init(RuntimeMetrics.heapAllocated, heap.allocatedBytes),
                .init(RuntimeMetrics.heapResident, heap.residentBytes),
            ]
        }
        metrics.metrics.addCollector {
            loops.flatMap { loop in
                loop.partitionStates().flatMap { state in
                    let labels = [("topic", state.partition.topic), ("partition", String(state.partition.partition))]
                    return [
                        Metrics.CollectedValue(RuntimeMetrics.consumerLag, labels, state.lag),
                        Metrics.CollectedValue(RuntimeMetrics.partitionStalled, labels, state.stalled ? 1 : 0),
                    ]
                }
            }
        }
    }

    /// The ops endpoint: liveness reads state, readiness is computed on its own thread, `/metrics`
    /// the registry. Exits with 2 when its address cannot be bound.
    private static func startOps<Handler: WorkerHandler>(
        _ configuration: WorkerConfiguration, metrics: RuntimeMetrics, relay: OutboxRelay, loops: [WorkerLoop<Handler>],
        logger: Logger
    ) -> OpsServer {
        // Readiness runs only on the ops server's readiness thread, which is this client's one user.
        let health = PGClient(
            conninfo: configuration.databaseURL, applicationName: "\(configuration.service.name)-health", ioTimeoutMs: 2_000,
            limits: configuration.sessionLimits)
        let ops = OpsServer(
            host: configuration.opsHost, port: configuration.opsPort, metrics: metrics,
            checks: [
                OpsServer.Check(name: "database") { (try? health.query("SELECT 1")) != nil },
                OpsServer.Check(name: "kafka") { relay.isBrokerReachable(timeoutMs: 1_000) },
            ],
            alarms: {
                let gaps = loops.map(\.gapAlarm.current)
                let count = gaps.reduce(0) { $0 + $1.count }
                let last = gaps.compactMap(\.last).max()
                let stalled = loops.flatMap { $0.partitionStates().filter(\.stalled) }.map { state in
                    JSONText.quoted(
                        "\(state.partition) lag \(state.lag), no progress for \(state.idleMs / 1_000) s")
                }
                return [
                    (
                        "offset_gaps",
                        "{\"count\":\(count),\"last\":\(last.map(JSONText.quoted) ?? "null")}"
                    ),
                    ("stalled_partitions", "[" + stalled.joined(separator: ",") + "]"),
                ]
            })
        let opsPort: Int
        do {
            opsPort = try ops.start()
        } catch {
            failStart("\(configuration.service.name): OPS_HOST/OPS_PORT: \(error)", code: 2)
        }
        logger.info("ops endpoint listening", metadata: ["host": .string(configuration.opsHost), "port": .of(opsPort)])
        return ops
    }

    /// Waits for SIGTERM/SIGINT (or a loop that ended), then stops the loops, their consumers and
    /// the relay within `WORKER_SHUTDOWN_TIMEOUT_MS`. Returns the signal, nil when a loop ended.
    private static func waitForStop<Handler: WorkerHandler>(
        _ configuration: WorkerConfiguration, loops: [WorkerLoop<Handler>], loopThreads: [DedicatedThread],
        relayThread: DedicatedThread, stop: Locked<Bool>, logger: Logger
    ) -> Int32? {
        var signal: Int32?
        while signal == nil, !loopThreads.contains(where: \.finished.isSignalled) {
            signal = TerminationSignals.wait(timeoutMs: 500)
        }
        logger.info("stopping", metadata: ["signal": .of(signal ?? 0)])
        let deadline = monotonicMs() + Int64(configuration.shutdownTimeoutMs)
        stop.withLock { $0 = true }
        func remaining() -> Int { max(100, Int(deadline - monotonicMs())) }
        for thread in loopThreads where !thread.join(timeoutMs: remaining()) {
            logger.warning("worker loop did not stop in time")
        }
        for loop in loops where !loop.consumer.close(timeoutMs: remaining()) {
            logger.warning("consumer close abandoned after its time bound")
        }
        if !relayThread.join(timeoutMs: remaining()) { logger.warning("outbox relay did not stop in time") }
        return signal
    }

    /// Applies pending migrations (or checks the version), waiting for the database up to the start-up bound.
    private static func prepareSchema(_ configuration: WorkerConfiguration, logger: Logger) {
        let migrator = Migrator()
        let deadline = monotonicMs() + Int64(configuration.startupTimeoutMs)
        var backoff = Backoff(initialMs: 200, maxMs: 5_000)
        while true {
            do {
                if configuration.migrateOnStart {
                    let connection = try PGConnection(
                        conninfo: configuration.migrationDatabaseURL,
                        applicationName: "\(configuration.service.name)-migrate")
                    defer { connection.close() }
                    let report = try migrator.migrate(connection) { migration in
                        logger.info(
                            "applying migration", metadata: ["version": .of(migration.version), "name": .string(migration.name)])
                    }
                    logger.info("schema ready", metadata: ["version": .of(report.versionAfter)])
                } else {
                    let connection = try PGConnection(
                        conninfo: configuration.databaseURL, applicationName: "\(configuration.service.name)-check")
                    defer { connection.close() }
                    let version = try migrator.currentVersion(connection)
                    guard version >= migrator.latestVersion else {
                        failStart(
                            "\(configuration.service.name): database schema is at version \(version), this build needs "
                                + "\(migrator.latestVersion): run `billing-ctl migrate`", code: 2)
                    }
                }
                return
            } catch let error as PGError where error.isTransient {
                if monotonicMs() >= deadline {
                    failStart("\(configuration.service.name): database unavailable at start: \(error)", code: 3)
                }
                logger.warning("database unavailable at start; retrying", metadata: ["error": .string(error.description)])
                sleepThread(milliseconds: backoff.nextDelayMs())
            } catch {
                failStart("\(configuration.service.name): preparing the schema failed: \(error)", code: 2)
            }
        }
    }

    private static func failStart(_ line: String, code: Int32) -> Never {
        writeStandardError(line)
        exit(code)
    }
}
