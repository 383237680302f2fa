import BillingContracts
import BillingKafka
import BillingRuntime
import BillingSupport
import Foundation
import Testing

extension Integration {
    @Suite("bad input")
    struct BadInput {
        @Test(
            "malformed messages are dead-lettered with a reason, in PostgreSQL and on billing.dead-letter, and the partition moves on",
            .timeLimit(.minutes(3)))
        func malformedMessages() throws {
            let stack = try TestStack.fromEnvironment()
            let database = try TestDatabase.create(stack)
            defer { database.drop() }
            let traffic = try ProbeTraffic.make(stack, database, partitions: 1)
            let worker = try traffic.startWorker(["WORKER_MESSAGE_BYTES_MAX": "2048"])
            let producer = try KafkaProducer(configuration: stack.kafka)
            defer { producer.close(timeoutMs: 5_000) }

            func event(_ type: String, id: String, contentType: String = "application/json", body: String)
                -> KafkaOutgoingMessage
            {
                let event = CloudEvent(
                    id: id, type: type, source: "tests", time: UTCClock.timestamp(), contentType: contentType,
                    data: Array(body.utf8))
                return KafkaOutgoingMessage(topic: traffic.inputTopic, key: "k", event: event)
            }
            let probe = "billing.probe.message.v1"
            let bad: [(KafkaOutgoingMessage, String)] = [
                (event(probe, id: "bad-json", body: "{not json"), "invalid_payload"),
                (event(probe, id: "bad-type", contentType: "text/plain", body: "{}"), "wrong_content_type"),
                (event("billing.unknown.v1", id: "bad-unknown", body: "{}"), "unknown_type"),
                (KafkaOutgoingMessage(topic: traffic.inputTopic, key: nil, value: Array("raw".utf8)), "missing_header"),
                (
                    event(
                        probe, id: "bad-big", body: "{\"run_id\":\"\(String(repeating: "x", count: 5_000))\",\"seq\":1}"
                    ), "oversized"
                ),
                (event(probe, id: "bad-schema", body: "{\"run_id\": 5}"), "invalid_payload"),
                // A NUL byte, which PostgreSQL text cannot hold, in the event id and in the reason.
                (event(probe, id: "bad-\u{0}-id", body: "{not json"), "invalid_payload"),
                (event("billing.\u{0}.v1", id: "bad-nul-type", body: "{}"), "unknown_type"),
            ]
            // Valid messages before, between and after the bad ones, all on one partition.
            var outgoing: [KafkaOutgoingMessage] = [traffic.message(seq: 0)]
            for (index, entry) in bad.enumerated() {
                outgoing.append(entry.0)
                outgoing.append(traffic.message(seq: Int64(index + 1)))
            }
            let results = try producer.send(outgoing, timeoutMs: 30_000)
            #expect(results.allSatisfy { $0.isDelivered })

            try eventually(timeoutMs: 60_000, "valid messages applied") {
                try traffic.appliedCount() == Int64(bad.count + 1)
            }
            try eventually(timeoutMs: 30_000, "dead letters recorded") {
                try database.scalar("SELECT count(*) FROM probe.dead_letters") == Int64(bad.count)
            }
            let recorded = try database.query(
                "SELECT reason_code, reason, source_offset FROM probe.dead_letters ORDER BY source_offset")
            #expect(try recorded.rows.map { try $0.string("reason_code") } == bad.map(\.1))
            #expect(try recorded.rows.map { try $0.string("reason") }.allSatisfy { !$0.isEmpty })

            try eventually(timeoutMs: 30_000, "dead-letter copies published") {
                try database.scalar("SELECT count(*) FROM probe.outbox WHERE sent_at IS NULL") == 0
            }
            let copies = try traffic.readAll(Topics.deadLetter.name).filter {
                $0.headers.text(DeadLetterHeaders.sourceTopic) == traffic.inputTopic
            }
            #expect(copies.count == bad.count)
            #expect(Set(copies.compactMap { $0.headers.text(DeadLetterHeaders.reasonCode) }) == Set(bad.map(\.1)))
            #expect(copies.allSatisfy { $0.headers.text(DeadLetterHeaders.reason)?.isEmpty == false })
            // PostgreSQL keeps a NUL as U+FFFD; the copy on the topic keeps the original bytes.
            #expect(
                try database.scalar("SELECT count(*) FROM probe.dead_letters WHERE event_id = $1", ["bad-\u{FFFD}-id"])
                    == 1)
            #expect(copies.contains { $0.headers.text("ce_id") == "bad-\u{0}-id" })
            let raw = copies.first { $0.headers.text(DeadLetterHeaders.reasonCode) == "missing_header" }
            #expect(raw?.value == Array("raw".utf8), "the copy carries the original bytes")
            let big = copies.first { $0.headers.text(DeadLetterHeaders.reasonCode) == "oversized" }
            #expect(big?.value.isEmpty == true, "an oversized message's copy goes without its value")
            #expect(big?.headers.text(DeadLetterHeaders.valueOmittedBytes).flatMap { Int($0) } ?? 0 > 2_048)
            #expect(
                try database.scalar(
                    "SELECT octet_length(payload) FROM probe.dead_letters WHERE reason_code = 'oversized'") > 2_048,
                "the dead_letters row keeps every byte")
            #expect(worker.isRunning, "the worker never crashed")
            #expect(
                try traffic.recordedOffsets() == (try traffic.inputEndOffsets()),
                "the partition moved past every bad message")

            // billing-ctl shows them to operators.
            let listed = try runProcess(
                "\(stack.binDirectory)/billing-ctl", ["dead-letters", "list", "--service", "runtime-probe", "--json"],
                environment: ["DATABASE_URL": database.ownerURL])
            #expect(listed.status == 0)
            let letters = try JSONDecoder().decode([[String: AnyCodable]].self, from: Data(listed.output.utf8))
            #expect(letters.count == bad.count)
            let firstID = letters.first?["id"]?.text ?? ""
            let shown = try runProcess(
                "\(stack.binDirectory)/billing-ctl", ["dead-letters", "show", firstID],
                environment: ["DATABASE_URL": database.ownerURL])
            #expect(shown.status == 0)
            #expect(shown.output.contains("reason:"))
            #expect(worker.terminate() == 0)
        }

        @Test("a missing or malformed environment variable stops a worker at start with one line naming it")
        func badEnvironment() throws {
            let stack = try TestStack.fromEnvironment()
            let missing = try runProcess(
                "\(stack.binDirectory)/allocator", [],
                environment: ["DATABASE_URL": "", "KAFKA_BOOTSTRAP_SERVERS": stack.bootstrapServers])
            #expect(missing.status == 2)
            #expect(
                missing.output.trimmingCharacters(in: .whitespacesAndNewlines)
                    == "allocator: configuration error: DATABASE_URL is required but not set")
            let malformed = try runProcess(
                "\(stack.binDirectory)/allocator", [],
                environment: [
                    "DATABASE_URL": stack.ownerURL, "KAFKA_BOOTSTRAP_SERVERS": stack.bootstrapServers,
                    "OPS_PORT": "http",
                ])
            #expect(malformed.status == 2)
            #expect(malformed.output.contains("OPS_PORT must be a whole number"))
            #expect(malformed.output.split(separator: "\n").count == 1)
        }
    }
}

/// Just enough of "any JSON value" to read command output in tests.
struct AnyCodable: Decodable {
    let text: String?

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let string = try? container.decode(String.self) {
            text = string
        } else if let number = try? container.decode(Int64.self) {
            text = String(number)
        } else {
            text = nil
        }
    }
}
