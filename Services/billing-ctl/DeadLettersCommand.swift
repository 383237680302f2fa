import ArgumentParser
import BillingContracts
import BillingPostgres
import BillingRuntime

struct DeadLettersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead-letters",
        abstract: "Messages no worker could process, with the recorded reasons.",
        subcommands: [List.self, Show.self])

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
                headers[header.name] = header.text ?? header.value.map { "0x" + PGHex.encode($0) } ?? ""
            }
            let detail = Detail(
                letter: try DeadLettersCommand.summary(row, service: service),
                eventID: try row.optionalString("event_id"),
                key: try row.optionalBytes("message_key").map { String(decoding: $0, as: UTF8.self) }, headers: headers,
                payload: text ?? PGHex.encode(payload), payloadEncoding: text == nil ? "hex" : "utf-8",
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
