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
    ///
    /// With `--idempotency-key` the command id is the key's: a command already carried out under
    /// it is not sent again. Its first outcome is printed when the body is the same, and the call is
    /// refused when the key was used for another command.
    @discardableResult
    func send<Body: Encodable>(
        type: String, key: String, body: Body, wait: WaitOptions, output: OutputOptions, printsOutcome: Bool = true
    ) throws -> CommandOutcome? {
        let commandID = try wait.commandID()
        let data = ContractJSON.encode(body)
        if wait.idempotencyKey != nil, let first = try recordedOutcome(commandID, type: type, body: data) {
            return try report(first, type: type, printsOutcome: printsOutcome, output: output)
        }
        let event = CloudEvent(
            id: commandID, type: type, source: "billing/billing-ctl", time: UTCClock.timestamp(), subject: key,
            data: data)
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
                "kafka: command not delivered to \(topicName): \(String(describing: result.first))"
                    + (wait.idempotencyKey == nil ? "" : "; run it again with the same --idempotency-key"))
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
        let outcome = try awaitOutcome(
            commandID, type: type, body: data, timeoutSeconds: wait.waitTimeoutSeconds,
            retryHint: wait.idempotencyKey != nil)
        return try report(outcome, type: type, printsOutcome: printsOutcome, output: output)
    }

    /// Prints an outcome as `--wait` does; a refusal throws (exit 1).
    private func report(_ outcome: CommandOutcome, type: String, printsOutcome: Bool, output: OutputOptions) throws
        -> CommandOutcome
    {
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

    /// The outcome recorded for `commandID`, or the reason it was dead-lettered; nil when neither
    /// exists yet. Refuses (exit 1) when the command recorded under the id is not this one: another
    /// type, or another body (an idempotency key used twice for different commands).
    func recordedOutcome(_ commandID: String, type: String, body: [UInt8], connection: PGConnection? = nil) throws
        -> CommandOutcome?
    {
        let owned = connection == nil ? try connectDatabase() : nil
        defer { owned?.close() }
        guard let connection = connection ?? owned else { return nil }
        let rows = try connection.query(
            """
            SELECT command_type, account_number, status, reason_code, reason, result::text,
                command_body IS NULL OR command_body = $2::bytea AS same_body
            FROM \(outcomes) WHERE command_id = $1
            """, [commandID, body])
        if let row = rows.rows.first {
            let recordedType = try row.string("command_type")
            guard recordedType == type, try row.string("same_body") == "t" else {
                throw CtlFailure.refused(
                    "command id \(commandID) was used before for another command (\(recordedType), other content); "
                        + "use a new --idempotency-key [idempotency_key_reused]")
            }
            let result = try ContractJSON.decoder().decode(
                [String: String].self, from: Data(try row.string("result").utf8))
            return CommandOutcome(
                commandId: commandID, commandType: recordedType,
                account: try row.optionalString("account_number"), status: try row.string("status"),
                reasonCode: try row.optionalString("reason_code"), reason: try row.optionalString("reason"),
                result: result)
        }
        // A command the worker could not even read is dead-lettered with the reason, not answered.
        let dead = try connection.query(
            """
            SELECT reason_code, reason, payload = $2::bytea FROM \(deadLetters) WHERE event_id = $1
            ORDER BY id LIMIT 1
            """, [commandID, body])
        if let row = dead.rows.first {
            guard try row.string(2) == "t" else {
                throw CtlFailure.refused(
                    "command id \(commandID) was used before for another command (dead-lettered, other content); "
                        + "use a new --idempotency-key [idempotency_key_reused]")
            }
            return CommandOutcome(
                commandId: commandID, commandType: "", account: nil, status: "refused",
                reasonCode: try row.string(0), reason: "dead-lettered: \(try row.string(1))")
        }
        return nil
    }

    /// Polls the outcome table (and the service's dead letters) until the command's row appears or the time is up (exit 3).
    func awaitOutcome(
        _ commandID: String, type: String, body: [UInt8], timeoutSeconds: Int, retryHint: Bool = false
    ) throws -> CommandOutcome {
        let connection = try connectDatabase()
        defer { connection.close() }
        let startedMs = monotonicMs()
        let deadline = startedMs + Int64(timeoutSeconds) * 1_000
        var announced = false
        while true {
            if let outcome = try recordedOutcome(commandID, type: type, body: body, connection: connection) {
                return outcome
            }
            if monotonicMs() >= deadline {
                throw CtlFailure.unavailable(
                    "no outcome for command \(commandID) after \(timeoutSeconds) s: is the \(topic.consumers.joined(separator: ", ")) worker running?"
                        + (retryHint ? " Run it again with the same --idempotency-key to wait again; it is carried out once." : "")
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
