import ArgumentParser
import BillingContracts
import BillingKafka
import BillingPostgres
import BillingRuntime
import BillingSupport
import FoundationEssentials

/// Who asks and why: every command that moves money or changes an account names both.
struct OriginOptions: ParsableArguments {
    @Option(name: .long, help: "Who asks for this (default: $BILLING_OPERATOR, else $USER).")
    var requestedBy: String?

    @Option(name: .long, help: "Why, in words for the audit trail.")
    var note: String?

    func origin(defaultNote: String) -> CommandOrigin {
        let environment = ProcessEnvironment.current()
        let who = requestedBy ?? environment.optional("BILLING_OPERATOR") ?? environment.optional("USER")
        return CommandOrigin(requestedBy: who ?? "operator", note: note ?? defaultNote)
    }
}

/// Sends a command as a CloudEvent (its id is the command id) and, with `--wait`, waits for the
/// outcome the handling worker records in PostgreSQL, prints it, and exits 0 (done) or 1 (refused).
struct CommandSender {
    let topic: TopicContract
    /// The topic name used: the contract's, unless the environment names another (tests, staging).
    let topicName: String
    /// The handling service's schema, where it records outcomes (`command_outcomes`) and the
    /// commands it could not read (`dead_letters`).
    let schema: String

    var outcomes: String { "\(schema).command_outcomes" }
    var deadLetters: String { "\(schema).dead_letters" }

    /// Commands for `topic`, sent to the topic `variable` names (tests, staging) or else the
    /// contract's, with outcomes read from `schema.command_outcomes`.
    static func to(_ topic: TopicContract, variable: String, schema: String) -> CommandSender {
        CommandSender(
            topic: topic, topicName: ProcessEnvironment.current().string(variable, default: topic.name), schema: schema)
    }

    /// Ledger commands go to `BILLING_LEDGER_COMMANDS_TOPIC` (default `billing.ledger.commands`).
    static var ledger: CommandSender {
        to(Topics.ledgerCommands, variable: "BILLING_LEDGER_COMMANDS_TOPIC", schema: "ledger")
    }

    /// Document commands go to `BILLING_DOCUMENT_COMMANDS_TOPIC` (default `billing.document.commands`).
    static var documents: CommandSender {
        to(Topics.documentCommands, variable: "BILLING_DOCUMENT_COMMANDS_TOPIC", schema: "documents")
    }

    /// Sends the command; with `--wait`, returns its outcome once done (a refusal throws, exit 1).
    @discardableResult
    func send<Body: Encodable>(
        type: String, key: String, body: Body, wait: WaitOptions, output: OutputOptions, printsOutcome: Bool = true
    ) throws -> CommandOutcome? {
        let commandID = UUID().uuidString.lowercased()
        let event = CloudEvent(
            id: commandID, type: type, source: "billing/billing-ctl", time: Logger.timestamp(), subject: key,
            data: ContractJSON.encode(body))
        let message = KafkaOutgoingMessage(topic: topicName, key: key, event: event)
        let environment = ProcessEnvironment.current()
        let producer: KafkaProducer
        do {
            producer = try KafkaProducer(configuration: try KafkaConfiguration.fromEnvironment(environment))
        } catch let error as ConfigurationError {
            throw CtlFailure.usage(error.description)
        }
        defer { _ = producer.close(timeoutMs: 2_000) }
        let result = try producer.send([message], timeoutMs: 15_000)
        guard let delivery = result.first, delivery.isDelivered else {
            throw CtlFailure.unavailable(
                "kafka: command not delivered to \(topicName): \(String(describing: result.first))")
        }
        guard wait.wait else {
            if !printsOutcome {
                writeStandardError("sent \(type) as command \(commandID)")
            } else if output.json {
                try printContractJSON(["command_id": commandID, "command_type": type, "status": "sent"])
            } else {
                print("sent \(type) as command \(commandID) (use --wait to see its outcome)")
            }
            return nil
        }
        let outcome = try awaitOutcome(commandID, timeoutSeconds: wait.waitTimeoutSeconds)
        if !printsOutcome {
            if outcome.status == "done" { writeStandardError("done: \(type)") }
        } else if output.json {
            try printContractJSON(outcome)
        } else if outcome.status == "done" {
            let details = outcome.result.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            print((["done:", type] + details).joined(separator: " "))
        }
        if outcome.status != "done" {
            throw CtlFailure.refused("\(outcome.reason ?? "no reason given") [\(outcome.reasonCode ?? "refused")]")
        }
        return outcome
    }

    /// Polls the outcome table (and the service's dead letters) until the command's row appears or the time is up (exit 3).
    func awaitOutcome(_ commandID: String, timeoutSeconds: Int) throws -> CommandOutcome {
        let connection = try connectDatabase()
        defer { connection.close() }
        let startedMs = monotonicMs()
        let deadline = startedMs + Int64(timeoutSeconds) * 1_000
        var announced = false
        while true {
            let rows = try connection.query(
                """
                SELECT command_type, account_number, status, reason_code, reason, result::text
                FROM \(outcomes) WHERE command_id = $1
                """, [commandID])
            if let row = rows.rows.first {
                let result = try ContractJSON.decoder().decode(
                    [String: String].self, from: Data(try row.string("result").utf8))
                return CommandOutcome(
                    commandId: commandID, commandType: try row.string("command_type"),
                    account: try row.optionalString("account_number"), status: try row.string("status"),
                    reasonCode: try row.optionalString("reason_code"), reason: try row.optionalString("reason"),
                    result: result)
            }
            // A command the worker could not even read is dead-lettered with the reason, not answered.
            let dead = try connection.query(
                "SELECT reason_code, reason FROM \(deadLetters) WHERE event_id = $1 LIMIT 1", [commandID])
            if let row = dead.rows.first {
                return CommandOutcome(
                    commandId: commandID, commandType: "", account: nil, status: "refused",
                    reasonCode: try row.string(0), reason: "dead-lettered: \(try row.string(1))")
            }
            if monotonicMs() >= deadline {
                throw CtlFailure.unavailable(
                    "no outcome for command \(commandID) after \(timeoutSeconds) s: is the \(topic.consumers.joined(separator: ", ")) worker running?"
                )
            }
            if !announced, monotonicMs() - startedMs > 3_000 {
                writeStandardError("waiting for the outcome of command \(commandID)…")
                announced = true
            }
            sleepThread(milliseconds: 100)
        }
    }
}

/// Prints a contract value as indented JSON with snake_case keys.
func printContractJSON<T: Encodable>(_ value: T) throws {
    let encoder = ContractJSON.encoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}
