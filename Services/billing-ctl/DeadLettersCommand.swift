import ArgumentParser
import BillingContracts
import BillingKafka
import BillingPostgres
import BillingRuntime
import BillingSupport

struct DeadLettersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead-letters",
        abstract: "Messages no worker could process, with the recorded reasons.",
        subcommands: [List.self, Show.self, Redrive.self])

    /// A dead letter's id as operators see it: `<schema>-<number>`, e.g. `ledger-42`.
    struct LetterID {
        let schema: String
        let number: Int64

        init?(_ text: String) {
            guard let dash = text.lastIndex(of: "-"), let number = Int64(text[text.index(after: dash)...]),
                Services.all.contains(where: { $0.schema == String(text[..<dash]) })
            else { return nil }
            schema = String(text[..<dash])
            self.number = number
        }
    }

    struct Summary: Encodable {
        let id: String
        let service: String
        let topic: String
        let partition: Int
        let offset: Int64
        let reasonCode: String
        let reason: String
        let recordedAt: String

        enum CodingKeys: String, CodingKey {
            case id, service, topic, partition, offset, reason
            case reasonCode = "reason_code"
            case recordedAt = "recorded_at"
        }
    }

    static let summaryColumns = """
        id, source_topic, source_partition, source_offset, reason_code, reason,
        to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS recorded_at
        """

    static func summary(_ row: PGRow, service: ServiceDescriptor) throws -> Summary {
        Summary(
            id: "\(service.schema)-\(try row.int64("id"))", service: service.name,
            topic: try row.string("source_topic"),
            partition: try row.int("source_partition"), offset: try row.int64("source_offset"),
            reasonCode: try row.string("reason_code"), reason: try row.string("reason"),
            recordedAt: try row.string("recorded_at"))
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List dead letters, newest first.")

        @OptionGroup var output: OutputOptions

        @Option(help: "Only this service's (e.g. allocator).")
        var service: String?

        @Option(help: "At most this many (1-10000).")
        var limit: Int = 50

        func validate() throws {
            guard (1...10_000).contains(limit) else { throw ValidationError("--limit must be between 1 and 10000") }
            if let service, !Services.all.contains(where: { $0.name == service }) {
                throw ValidationError(
                    "unknown service '\(service)'; one of \(Services.all.map(\.name).joined(separator: ", "))")
            }
        }

        func run() throws {
            let connection = try connectDatabase()
            defer { connection.close() }
            var letters: [Summary] = []
            for descriptor in Services.all where service == nil || descriptor.name == service {
                let rows = try connection.query(
                    "SELECT \(DeadLettersCommand.summaryColumns) FROM \(descriptor.schema).dead_letters ORDER BY id DESC LIMIT $1",
                    [limit])
                letters += try rows.rows.map { try DeadLettersCommand.summary($0, service: descriptor) }
            }
            letters.sort { $0.recordedAt > $1.recordedAt }
            letters = Array(letters.prefix(limit))
            if output.json {
                try printJSON(letters)
            } else if letters.isEmpty {
                print("no dead letters")
            } else {
                printTable(
                    ["ID", "RECORDED", "TOPIC", "PARTITION/OFFSET", "REASON"],
                    letters.map {
                        [
                            $0.id, $0.recordedAt, $0.topic, "\($0.partition)/\($0.offset)",
                            "\($0.reasonCode): \($0.reason)",
                        ]
                    })
            }
        }
    }

    struct Redrive: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send dead letters back to the topic they came from, once the cause is fixed.",
            discussion: """
                Each chosen dead letter is produced again to its source topic with its original key, value
                and headers, and marked redriven (who, when) in its service's dead_letters table; the
                worker then reads it as new input (it is dead-lettered again, as a new letter, if it still
                fails). Choose letters by id, or all of one service's letters with --reason-code.
                Letters redriven before are skipped unless --again is given.

                Exit codes: 0 every chosen letter sent, 1 some could not be (named), 2 usage,
                3 Kafka or the database unavailable.
                """)

        @OptionGroup var output: OutputOptions

        @Argument(help: "Ids from `dead-letters list`, e.g. ledger-42.")
        var ids: [String] = []

        @Option(help: "With --reason-code: the service whose letters to send (e.g. payment-ingest).")
        var service: String?

        @Option(help: "With --service: every letter of this reason code (e.g. signature_expired).")
        var reasonCode: String?

        @Flag(help: "Send letters that were redriven before as well.")
        var again = false

        @Option(help: "Who asks for this (default: $BILLING_OPERATOR, else $USER).")
        var requestedBy: String?

        struct Sent: Encodable {
            enum Status: String, Encodable { case sent, skipped, refused }
            let id: String
            let topic: String
            let status: Status
            let partition: Int32?
            let offset: Int64?
            let reason: String?

            static func refused(_ id: String, topic: String = "", _ reason: String) -> Sent {
                Sent(id: id, topic: topic, status: .refused, partition: nil, offset: nil, reason: reason)
            }
        }

        func validate() throws {
            guard !ids.isEmpty || (service != nil && reasonCode != nil) else {
                throw ValidationError("name dead letters by id, or give --service and --reason-code")
            }
            guard ids.isEmpty || (service == nil && reasonCode == nil) else {
                throw ValidationError("ids and --service/--reason-code exclude each other")
            }
            for id in ids where LetterID(id) == nil {
                throw ValidationError("'\(id)' is not a dead-letter id like ledger-42")
            }
            if let service, !Services.all.contains(where: { $0.name == service }) {
                throw ValidationError(
                    "unknown service '\(service)'; one of \(Services.all.map(\.name).joined(separator: ", "))")
            }
        }

        func run() throws {
            let environment = ProcessEnvironment.current()
            let who = requestedBy ?? environment.optional("BILLING_OPERATOR") ?? environment.optional("USER") ?? "operator"
            let connection = try connectDatabase()
            defer { connection.close() }
            let chosen = try chosenLetters(connection)
            let producer: KafkaProducer
            do {
                producer = try KafkaProducer(
                    configuration: try KafkaConfiguration.fromEnvironment(environment).over([
                        "message.max.bytes": String(64 << 20)
                    ]))
            } catch let error as ConfigurationError {
                throw CtlFailure.usage(error.description)
            }
            defer { _ = producer.close(timeoutMs: 2_000) }
            var results: [Sent] = []
            for (index, letter) in chosen.enumerated() {
                if chosen.count > 20, index % 20 == 0 {
                    writeStandardError("redriving \(index + 1)-\(min(index + 20, chosen.count)) of \(chosen.count)…")
                }
                do {
                    results.append(try redrive(letter, connection: connection, producer: producer, by: who))
                } catch let failure as CtlFailure {
                    let sent = results.filter { $0.status == .sent }.count
                    throw CtlFailure(message: "\(failure.message); \(sent) sent before it", exitCode: failure.exitCode)
                }
            }
            try report(results)
        }

        /// The letters named by id, or every letter of the service with the reason code.
        private func chosenLetters(_ connection: PGConnection) throws -> [(schema: String, number: Int64)] {
            if let service, let reasonCode, let descriptor = Services.all.first(where: { $0.name == service }) {
                let rows = try connection.query(
                    "SELECT id FROM \(descriptor.schema).dead_letters WHERE reason_code = $1 ORDER BY id", [reasonCode])
                return try rows.rows.map { (descriptor.schema, try $0.int64(0)) }
            }
            return ids.compactMap { LetterID($0).map { ($0.schema, $0.number) } }
        }

        /// Sends one letter back to its topic as it came and marks it redriven once Kafka has it.
        private func redrive(
            _ letter: (schema: String, number: Int64), connection: PGConnection, producer: KafkaProducer, by who: String
        ) throws -> Sent {
            let id = "\(letter.schema)-\(letter.number)"
            let rows = try connection.query(
                """
                SELECT source_topic, message_key, headers, payload, redriven_at IS NOT NULL AS redriven
                FROM \(letter.schema).dead_letters WHERE id = $1
                """, [letter.number])
            guard let row = rows.rows.first else { return .refused(id, "no such dead letter") }
            let topic = try row.string("source_topic")
            if try row.string("redriven") == "t", !again {
                return Sent(
                    id: id, topic: topic, status: .skipped, partition: nil, offset: nil,
                    reason: "redriven before (use --again)")
            }
            guard let headers = HeaderCodec.decode(try row.bytes("headers")) else {
                return .refused(id, topic: topic, "its stored headers cannot be read")
            }
            let message = KafkaOutgoingMessage(
                topic: topic, key: try row.optionalBytes("message_key"), value: try row.bytes("payload"),
                headers: headers)
            let delivery = try producer.send([message], timeoutMs: 15_000).first ?? .pending
            guard case .delivered(let partition, let offset) = delivery else {
                throw CtlFailure.unavailable("kafka: \(id) was not delivered to \(topic) (\(delivery))")
            }
            try connection.query(
                "UPDATE \(letter.schema).dead_letters SET redriven_at = now(), redriven_by = $2 WHERE id = $1",
                [letter.number, who])
            return Sent(id: id, topic: topic, status: .sent, partition: partition, offset: offset, reason: nil)
        }

        private func report(_ results: [Sent]) throws {
            if output.json {
                try printJSON(results)
            } else if results.isEmpty {
                print("no dead letters chosen")
            } else {
                for result in results {
                    switch result.status {
                    case .sent:
                        print(
                            "sent    \(result.id) to \(result.topic) partition \(result.partition ?? 0) offset \(result.offset ?? 0)")
                    case .skipped, .refused: print("\(result.status.rawValue) \(result.id): \(result.reason ?? "")")
                    }
                }
            }
            let failed = results.filter { $0.status == .refused }
            if !failed.isEmpty {
                throw CtlFailure.refused("\(failed.count) of \(results.count) not sent: \(failed.map(\.id).joined(separator: ", "))")
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one dead letter with its headers and payload.")

        @OptionGroup var output: OutputOptions

        @Argument(help: "The id from `dead-letters list`, e.g. ledger-42.")
        var id: String

        @Option(help: "Payload bytes to print at most (text mode).")
        var payloadBytesMax: Int = 4096

        struct Detail: Encodable {
            let letter: Summary
            let eventID: String?
            let key: String?
            let headers: [String: String]
            let payload: String
            let payloadEncoding: String
            let payloadBytes: Int

            enum CodingKeys: String, CodingKey {
                case letter = "dead_letter"
                case eventID = "event_id"
                case key, headers, payload
                case payloadEncoding = "payload_encoding"
                case payloadBytes = "payload_bytes"
            }
        }

        func validate() throws {
            guard LetterID(id) != nil else {
                throw ValidationError("'\(id)' is not a dead-letter id like ledger-42")
            }
        }

        func run() throws {
            let letterID = LetterID(id)!
            let service = Services.all.first { $0.schema == letterID.schema }!
            let connection = try connectDatabase()
            defer { connection.close() }
            let rows = try connection.query(
                "SELECT \(DeadLettersCommand.summaryColumns), event_id, message_key, headers, payload "
                    + "FROM \(letterID.schema).dead_letters WHERE id = $1",
                [letterID.number])
            guard let row = rows.rows.first else { throw CtlFailure.refused("no dead letter \(id)") }
            let payload = try row.bytes("payload")
            let text = String(validating: payload, as: UTF8.self)
            var headers: [String: String] = [:]
            for header in HeaderCodec.decode(try row.bytes("headers")) ?? [] {
                headers[header.name] = header.text ?? header.value.map { "0x" + Hex.encode($0) } ?? ""
            }
            let detail = Detail(
                letter: try DeadLettersCommand.summary(row, service: service),
                eventID: try row.optionalString("event_id"),
                key: try row.optionalBytes("message_key").map { String(decoding: $0, as: UTF8.self) }, headers: headers,
                payload: text ?? Hex.encode(payload), payloadEncoding: text == nil ? "hex" : "utf-8",
                payloadBytes: payload.count)
            if output.json {
                try printJSON(detail)
                return
            }
            let letter = detail.letter
            print("dead letter \(letter.id) (\(letter.service))")
            print("recorded:  \(letter.recordedAt)")
            print("source:    \(letter.topic) partition \(letter.partition) offset \(letter.offset)")
            print("reason:    \(letter.reasonCode): \(letter.reason)")
            if let eventID = detail.eventID { print("event id:  \(eventID)") }
            if let key = detail.key { print("key:       \(key)") }
            print("headers:")
            for (name, value) in headers.sorted(by: { $0.key < $1.key }) { print("  \(name): \(value)") }
            print("payload (\(detail.payloadBytes) bytes, \(detail.payloadEncoding)):")
            print(String(detail.payload.prefix(payloadBytesMax)))
        }
    }
}
