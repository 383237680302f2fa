import ArgumentParser
import BillingContracts
import BillingSupport
import CRdKafka

#if canImport(Glibc)
    import Glibc
#endif

/// Hosts librdkafka's built-in mock cluster in a long-lived process on loopback, so every
/// developer, test and newcomer talks the real Kafka protocol without a JVM.
@main
struct DevKafka: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev-kafka",
        abstract: "A development Kafka broker: librdkafka's mock cluster on 127.0.0.1.",
        discussion: """
            Creates the project's topics with their partition counts (the mock has no CreateTopics API),
            prints the bootstrap address and writes it to --bootstrap-file, and accepts fault-injection
            commands on a loopback control port while it runs (see `dev-kafka ctl help`).

            Limits of the mock (librdkafka 2.0.2): about 5 MiB retained per partition (older messages
            are dropped; consumers configured with auto.offset.reset=error notice), aborted
            transactions are visible to read_committed consumers, a group's first join takes ~3 s.
            Not for production.
            """,
        subcommands: [Serve.self, Control.self],
        defaultSubcommand: Serve.self)
}

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Run the mock cluster until SIGTERM or SIGINT (the default).")

    @Option(help: "Number of mock brokers (ids 1...N).")
    var brokers: Int = 1

    @Option(help: "File to write the bootstrap address to (written once the cluster is ready).")
    var bootstrapFile: String?

    @Option(help: "Loopback port for fault-injection commands (0 picks a free one).")
    var controlPort: Int = 0

    @Option(help: "File to write the control port to.")
    var controlFile: String?

    @Flag(help: "Create no topics (by default, every topic of the contract).")
    var noTopics = false

    mutating func run() throws {
        TerminationSignals.block()
        guard (1...9).contains(brokers) else {
            throw ValidationError("--brokers must be between 1 and 9")
        }
        let cluster = try MockCluster(brokerCount: brokers)
        if !noTopics {
            for topic in Topics.all {
                try cluster.createTopic(topic.name, partitions: topic.partitionCount)
            }
        }
        let control = try TCPServer(port: controlPort)
        let commands = ControlCommands(cluster: cluster, brokerCount: brokers)
        control.start(name: "dev-kafka-control") { connection in
            guard let request = connection.read(until: [UInt8(ascii: "\n")], byteCountMax: 4096) else { return }
            let line = String(decoding: request, as: UTF8.self).trimmingWhitespace()
            connection.write(commands.execute(line) + "\n")
        }
        if let controlFile { try writeAtomically(controlFile, "\(control.port)\n") }
        if let bootstrapFile { try writeAtomically(bootstrapFile, cluster.bootstrapServers + "\n") }
        print("dev-kafka ready: bootstrap \(cluster.bootstrapServers), control 127.0.0.1:\(control.port)")
        fflush(nil)
        while TerminationSignals.wait(timeoutMs: 1_000) == nil {}
        print("dev-kafka stopping")
        control.stop()
        cluster.destroy(timeoutMs: 3_000)
    }
}

struct Control: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ctl",
        abstract: "Send a fault-injection command to a running dev-kafka.",
        discussion: ControlCommands.help)

    @Option(help: "Control port (default: $DEV_KAFKA_CONTROL_PORT).")
    var port: Int?

    @Argument(help: "The command and its arguments, e.g. `broker-down all`.")
    var words: [String]

    mutating func run() throws {
        guard let port = port ?? ProcessEnvironment.current().optional("DEV_KAFKA_CONTROL_PORT").flatMap({ Int($0) })
        else {
            throw ValidationError("no control port: pass --port or set DEV_KAFKA_CONTROL_PORT")
        }
        guard let reply = tcpExchange(port: port, request: Array((words.joined(separator: " ") + "\n").utf8)) else {
            print("dev-kafka is not answering on 127.0.0.1:\(port)")
            throw ExitCode(3)
        }
        let text = String(decoding: reply, as: UTF8.self)
        print(text, terminator: "")
        if !text.hasPrefix("ok") { throw ExitCode(1) }
    }
}

/// The mock cluster and the rd_kafka_t it lives on.
final class MockCluster: @unchecked Sendable {
    private let client: OpaquePointer
    let cluster: OpaquePointer
    let bootstrapServers: String

    init(brokerCount: Int) throws {
        let conf = rd_kafka_conf_new()!
        var errorText = [CChar](repeating: 0, count: 512)
        // The hosting client only keeps the cluster's books; it never connects anywhere.
        rd_kafka_conf_set(conf, "log_level", "3", &errorText, errorText.count)
        guard let client = rd_kafka_new(RD_KAFKA_PRODUCER, conf, &errorText, errorText.count) else {
            throw ValidationError("could not create the hosting client")
        }
        guard let cluster = rd_kafka_mock_cluster_new(client, Int32(brokerCount)) else {
            rd_kafka_destroy(client)
            throw ValidationError("could not create the mock cluster")
        }
        self.client = client
        self.cluster = cluster
        self.bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
    }

    func createTopic(_ name: String, partitions: Int) throws {
        let error = rd_kafka_mock_topic_create(cluster, name, Int32(partitions), 1)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw ValidationError("creating \(name): \(String(cString: rd_kafka_err2str(error)))")
        }
    }

    func destroy(timeoutMs: Int) {
        nonisolated(unsafe) let cluster = self.cluster
        nonisolated(unsafe) let client = self.client
        _ = DedicatedThread.runBounded(name: "mock-destroy", timeoutMs: timeoutMs) {
            rd_kafka_mock_cluster_destroy(cluster)
            rd_kafka_destroy(client)
        }
    }
}

/// Parses and runs control commands; every reply starts with `ok` or `error`.
struct ControlCommands: Sendable {
    let cluster: MockCluster
    let brokerCount: Int
    let downBrokers = Locked(Set<Int32>())

    static let help = """
        Commands:
          status                              brokers, bootstrap address, brokers down
          broker-down ID|all                  disconnect a broker and refuse new connections
          broker-up ID|all                    accept connections again
          request-errors API_KEY ERROR COUNT  fail the next COUNT requests of a Kafka API key
                                              (e.g. 0 = Produce, 1 = Fetch) with an error code
                                              (e.g. 6 NOT_LEADER, -195 transport: disconnects)
          clear-errors API_KEY                forget queued request errors for an API key
          rtt ID|all MILLISECONDS             add latency to a broker's responses
          create-topic NAME PARTITIONS        create a topic (tests use their own)
        """

    init(cluster: MockCluster, brokerCount: Int) {
        self.cluster = cluster
        self.brokerCount = brokerCount
    }

    func execute(_ line: String) -> String {
        let words = line.split(separator: " ").map(String.init)
        guard let command = words.first else { return "error empty command" }
        let arguments = Array(words.dropFirst())
        switch (command, arguments.count) {
        case ("help", _):
            return "ok\n" + Self.help
        case ("status", 0):
            let down = downBrokers.current.sorted().map(String.init).joined(separator: ",")
            return
                "ok brokers=\(brokerCount) bootstrap=\(cluster.bootstrapServers) down=\(down.isEmpty ? "none" : down)"
        case ("broker-down", 1), ("broker-up", 1):
            guard let ids = brokers(arguments[0]) else { return "error unknown broker '\(arguments[0])'" }
            for id in ids {
                let error =
                    command == "broker-down"
                    ? rd_kafka_mock_broker_set_down(cluster.cluster, id)
                    : rd_kafka_mock_broker_set_up(cluster.cluster, id)
                if error != RD_KAFKA_RESP_ERR_NO_ERROR { return "error \(String(cString: rd_kafka_err2str(error)))" }
                downBrokers.withLock { if command == "broker-down" { $0.insert(id) } else { $0.remove(id) } }
            }
            return "ok \(command) \(arguments[0])"
        case ("request-errors", 3):
            guard let apiKey = Int16(arguments[0]), let code = Int32(arguments[1]), let count = Int(arguments[2]),
                count > 0, count <= 10_000
            else { return "error usage: request-errors API_KEY ERROR COUNT" }
            let errors = [rd_kafka_resp_err_t](repeating: rd_kafka_resp_err_t(rawValue: code), count: count)
            rd_kafka_mock_push_request_errors_array(cluster.cluster, apiKey, count, errors)
            return "ok \(count) errors queued for API key \(apiKey)"
        case ("clear-errors", 1):
            guard let apiKey = Int16(arguments[0]) else { return "error usage: clear-errors API_KEY" }
            rd_kafka_mock_clear_request_errors(cluster.cluster, apiKey)
            return "ok cleared API key \(apiKey)"
        case ("rtt", 2):
            guard let ids = brokers(arguments[0]), let milliseconds = Int32(arguments[1]), milliseconds >= 0 else {
                return "error usage: rtt ID|all MILLISECONDS"
            }
            for id in ids { _ = rd_kafka_mock_broker_set_rtt(cluster.cluster, id, milliseconds) }
            return "ok rtt \(milliseconds) ms on \(arguments[0])"
        case ("create-topic", 2):
            guard let partitions = Int(arguments[1]), (1...256).contains(partitions) else {
                return "error usage: create-topic NAME PARTITIONS (1-256)"
            }
            do {
                try cluster.createTopic(arguments[0], partitions: partitions)
                return "ok created \(arguments[0]) with \(partitions) partitions"
            } catch {
                return "error \(error)"
            }
        default:
            return "error unknown command or wrong arguments: '\(line)' (try help)"
        }
    }

    private func brokers(_ word: String) -> [Int32]? {
        if word == "all" { return (1...Int32(brokerCount)).map { $0 } }
        guard let id = Int32(word), (1...Int32(brokerCount)).contains(id) else { return nil }
        return [id]
    }
}

private func writeAtomically(_ path: String, _ text: String) throws {
    let temporary = path + ".tmp"
    guard let file = fopen(temporary, "w") else { throw ValidationError("cannot write \(path)") }
    fputs(text, file)
    fclose(file)
    guard rename(temporary, path) == 0 else { throw ValidationError("cannot write \(path)") }
}

extension String {
    fileprivate func trimmingWhitespace() -> String {
        var text = Substring(self)
        while let first = text.first, first.isWhitespace { text.removeFirst() }
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return String(text)
    }
}
