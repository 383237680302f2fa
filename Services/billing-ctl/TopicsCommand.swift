import ArgumentParser
import BillingContracts
import BillingKafka
import BillingSupport

struct TopicsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topics",
        abstract: "Print the topic contract: names, partitions, keys, producers and consumers.",
        discussion: """
            With --check, also asks the brokers (KAFKA_BOOTSTRAP_SERVERS) whether every topic exists with
            its partition count; exits 1 when one is missing or differs, 3 when no broker answers.
            """)

    @OptionGroup var output: OutputOptions

    @Flag(help: "Compare the contract with the topics the brokers have.")
    var check = false

    struct Row: Encodable {
        let name: String
        let partitions: Int
        let key: String
        let producers: [String]
        let consumers: [String]
        let summary: String
        let brokerPartitions: Int?
        let ok: Bool?

        enum CodingKeys: String, CodingKey {
            case name, partitions, key, producers, consumers, summary
            case brokerPartitions = "broker_partitions"
            case ok
        }
    }

    func run() throws {
        var actual: [String: Int]?
        if check {
            let environment = ProcessEnvironment.current()
            let producer = try KafkaProducer(configuration: try KafkaConfiguration.fromEnvironment(environment))
            defer { producer.close(timeoutMs: 2_000) }
            do {
                actual = Dictionary(
                    try producer.topics(timeoutMs: 10_000).filter { $0.errorName == nil }.map {
                        ($0.name, $0.partitionCount)
                    },
                    uniquingKeysWith: { first, _ in first })
            } catch {
                throw CtlFailure.unavailable("no broker answered: \(error)")
            }
        }
        let rows = Topics.all.map { topic in
            let found = actual?[topic.name]
            return Row(
                name: topic.name, partitions: topic.partitionCount, key: topic.key, producers: topic.producers,
                consumers: topic.consumers, summary: topic.summary, brokerPartitions: found,
                ok: actual == nil ? nil : found == topic.partitionCount)
        }
        if output.json {
            try printJSON(rows)
        } else {
            var header = ["TOPIC", "PARTITIONS", "KEY", "PRODUCERS", "CONSUMERS"]
            if check { header.insert("ON BROKER", at: 2) }
            printTable(
                header,
                rows.map { row in
                    var cells = [
                        row.name, String(row.partitions), row.key, row.producers.joined(separator: ", "),
                        row.consumers.isEmpty ? "-" : row.consumers.joined(separator: ", "),
                    ]
                    if check { cells.insert(row.brokerPartitions.map(String.init) ?? "missing", at: 2) }
                    return cells
                })
        }
        if check, rows.contains(where: { $0.ok == false }) {
            let bad = rows.filter { $0.ok == false }.map(\.name).joined(separator: ", ")
            throw CtlFailure.refused("topics missing or with other partition counts: \(bad)")
        }
    }
}
