import BillingContracts
import BillingKafka
import BillingPostgres
import BillingRuntime
import BillingSchema
import BillingSupport
import FoundationEssentials
import Testing

@Suite("headers packed for the outbox")
struct HeaderCodecTests {
    @Test("text, binary and empty header values survive a round trip in order")
    func roundTrip() {
        let headers = [
            KafkaHeader(name: "ce_id", text: "evt-1"),
            KafkaHeader(name: "binary", value: [0, 255, 10, 13]),
            KafkaHeader(name: "none", value: nil),
            KafkaHeader(name: "ce_id", text: "second with same name"),
            KafkaHeader(name: "empty", value: []),
        ]
        #expect(HeaderCodec.decode(HeaderCodec.encode(headers)) == headers)
    }

    @Test("truncated bytes are refused, not misread")
    func truncated() {
        let encoded = HeaderCodec.encode([KafkaHeader(name: "ce_type", text: "billing.x")])
        #expect(HeaderCodec.decode(Array(encoded.dropLast())) == nil)
        #expect(HeaderCodec.decode([0]) == nil)
    }
}

@Suite("PostgreSQL array parameters")
struct PGArrayTests {
    @Test("text arrays quote every element and escape quotes and backslashes")
    func strings() {
        #expect(PGArray.strings(["a", "b\"c", "d\\e", "{x,y}"]) == .text(#"{"a","b\"c","d\\e","{x,y}"}"#))
        #expect(PGArray.strings([String?.none, "n"]) == .text(#"{NULL,"n"}"#))
        #expect(PGArray.strings([String]()) == .text("{}"))
    }

    @Test("integer arrays in text form, bytea arrays in the binary array format")
    func integersAndBytes() {
        #expect(PGArray.integers([Int64(-1), 0, Int64.max]) == .text("{-1,0,9223372036854775807}"))
        let header: [UInt8] = [0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 17, 0, 0, 0, 2, 0, 0, 0, 1]
        #expect(
            PGArray.byteStrings([[0x0a, 0xff], nil]) == .bytes(header + [0, 0, 0, 2, 0x0a, 0xff, 255, 255, 255, 255]))
        #expect(PGArray.byteStrings([[UInt8]?]()) == .bytes([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 17]))
    }

    @Test("hex decoding accepts PostgreSQL's bytea text form and refuses anything else")
    func hex() {
        #expect(Hex.decode("\\x00ff10") == [0x00, 0xff, 0x10])
        #expect(Hex.decode("abc") == nil)
        #expect(Hex.decode("\\xzz") == nil)
        #expect(Hex.encode([1, 171]) == "01ab")
    }
}

@Suite("metrics in Prometheus text")
struct MetricsTests {
    let families: [MetricFamily] = [
        .counter("jobs_total", "Jobs done, by kind.", labels: MetricFamily.each("kind", ["a", "b"])),
        .gauge("depth", "Queue depth."),
        .histogram("latency_seconds", "Time per job."),
        MetricFamily(.gauge, "lag", "Lag per partition.", series: .whileAssigned(labelNames: ["partition"])),
    ]

    @Test("every declared series is listed with HELP, TYPE and zero before anything is recorded")
    func declaredAtZero() {
        let text = Metrics(families).render()
        #expect(text.contains("# HELP jobs_total Jobs done, by kind.\n# TYPE jobs_total counter\n"))
        #expect(text.contains("jobs_total{kind=\"a\"} 0\n"))
        #expect(text.contains("jobs_total{kind=\"b\"} 0\n"))
        #expect(text.contains("# TYPE depth gauge\n"))
        #expect(text.contains("depth 0"))
        #expect(text.contains("# TYPE latency_seconds histogram\n"))
        #expect(text.contains("latency_seconds_count 0\n"))
        // A family whose series come later still says what it is.
        #expect(text.contains("# HELP lag Lag per partition.\n# TYPE lag gauge\n"))
    }

    @Test("a timer's buckets are cumulative, exact decimal seconds, and count every observation")
    func histogram() {
        let metrics = Metrics(families)
        let timer = metrics.timer("latency_seconds")
        timer.recordMicroseconds(400)
        timer.recordMicroseconds(90_000)
        timer.recordMicroseconds(60_000_000)
        let text = metrics.render()
        #expect(text.contains("latency_seconds_bucket{le=\"0.0005\"} 1\n"))
        #expect(text.contains("latency_seconds_bucket{le=\"0.09\"} 2\n"))
        #expect(text.contains("latency_seconds_bucket{le=\"30.0\"} 2\n"))
        #expect(text.contains("latency_seconds_bucket{le=\"+Inf\"} 3\n"))
        #expect(text.contains("latency_seconds_count 3\n"))
        #expect(text.contains("latency_seconds_sum 60.0904\n"))
    }

    @Test("counters add integers; collected series come and go with what they describe")
    func countersAndCollectors() {
        let metrics = Metrics(families)
        metrics.counter("jobs_total", [("kind", "b")]).increment(by: 3)
        let assigned = Locked<[String]>(["0", "1"])
        metrics.addCollector { assigned.current.map { Metrics.CollectedValue("lag", [("partition", $0)], 7) } }
        var text = metrics.render()
        #expect(text.contains("jobs_total{kind=\"b\"} 3\n"))
        #expect(text.contains("lag{partition=\"0\"} 7"))
        #expect(text.contains("lag{partition=\"1\"} 7"))
        assigned.withLock { $0 = ["1"] }
        text = metrics.render()
        #expect(!text.contains("lag{partition=\"0\"}"))
        #expect(text.contains("lag{partition=\"1\"} 7"))
        assigned.withLock { $0 = [] }
        text = metrics.render()
        #expect(!text.contains("lag{"))
        #expect(text.contains("# TYPE lag gauge\n"))
    }

    @Test("the runtime declares one series per consumed topic and per retry stage")
    func runtimeFamilies() {
        let runtime = RuntimeMetrics(metrics: Metrics(), topics: ["t.one", "t.two"])
        let text = runtime.metrics.render()
        #expect(text.contains("billing_messages_consumed_total{topic=\"t.one\"} 0\n"))
        #expect(text.contains("billing_messages_dead_lettered_total{topic=\"t.two\"} 0\n"))
        for stage in RetryStage.allCases {
            #expect(text.contains("billing_retries_total{stage=\"\(stage.rawValue)\"} 0\n"))
        }
        #expect(text.contains("billing_offset_gaps_total 0\n"))
        #expect(text.contains("# TYPE billing_consumer_lag gauge\n"))
    }
}

@Suite("backoff never spins")
struct BackoffTests {
    @Test("every delay is at least half the floor and never above the cap")
    func bounds() {
        var backoff = Backoff(initialMs: 100, maxMs: 5_000)
        var delays: [Int] = []
        for _ in 0..<40 { delays.append(backoff.nextDelayMs()) }
        #expect(delays.allSatisfy { $0 >= 50 && $0 <= 5_000 })
        #expect(delays.suffix(10).allSatisfy { $0 >= 2_500 })
    }
}

@Suite("CloudEvents envelope")
struct CloudEventTests {
    func headers(_ values: [String: String]) -> (String) -> String? { { values[$0] } }

    let valid = [
        "ce_specversion": "1.0", "ce_id": "e-1", "ce_type": "billing.probe.message.v1", "ce_source": "test",
        "content-type": "application/json; charset=utf-8",
    ]

    @Test("new event ids are distinct version 4 UUIDs in lower case")
    func newIDs() {
        let ids = (0..<1_000).map { _ in CloudEvent.newID() }
        #expect(Set(ids).count == ids.count)
        for id in ids {
            let parsed = UUID(uuidString: id)
            #expect(parsed?.uuidString.lowercased() == id, "\(id)")
            let characters = Array(id)
            #expect(characters[14] == "4", "version nibble of \(id)")
            #expect("89ab".contains(characters[19]), "variant of \(id)")
        }
    }

    @Test("a complete binary-mode event decodes")
    func decodes() throws {
        let event = try CloudEvent.decode(header: headers(valid), value: Array("{}".utf8))
        #expect(event.id == "e-1")
        #expect(event.type == "billing.probe.message.v1")
    }

    @Test(
        "each missing or wrong attribute is named in the error",
        arguments: [
            ("ce_id", nil, EnvelopeError.missingHeader("ce_id")),
            ("ce_type", nil, EnvelopeError.missingHeader("ce_type")),
            ("ce_specversion", "0.3", EnvelopeError.unsupportedSpecVersion("0.3")),
            ("content-type", "text/xml", EnvelopeError.wrongContentType("text/xml")),
        ] as [(String, String?, EnvelopeError)])
    func refuses(header: String, value: String?, expected: EnvelopeError) {
        var values = valid
        values[header] = value
        #expect(throws: expected) { try CloudEvent.decode(header: headers(values), value: []) }
    }

    @Test("the router refuses a type it does not know, with the type in the reason")
    func unknownType() {
        let router = EventRouter<Int>(["billing.known.v1": { _ in 1 }])
        let message = KafkaMessage(
            topic: "t", partition: 0, offset: 0, key: nil, value: Array("{}".utf8),
            headers: valid.map { KafkaHeader(name: $0.key, text: $0.value) }, timestampMs: nil)
        #expect(throws: MessageRejection(EnvelopeError.unknownType("billing.probe.message.v1"))) {
            _ = try router.decode(message)
        }
    }
}

@Suite("configuration from the environment")
struct ConfigurationTests {
    let base = ["DATABASE_URL": "postgresql://x@127.0.0.1/db", "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092"]

    @Test("KAFKA_ variables pass through as librdkafka properties")
    func kafkaPassThrough() throws {
        var values = base
        values["KAFKA_SECURITY_PROTOCOL"] = "sasl_ssl"
        values["KAFKA_SASL_MECHANISMS"] = "SCRAM-SHA-512"
        let configuration = try KafkaConfiguration.fromEnvironment(ProcessEnvironment(values))
        #expect(configuration.properties["bootstrap.servers"] == "127.0.0.1:9092")
        #expect(configuration.properties["security.protocol"] == "sasl_ssl")
        #expect(configuration.properties["sasl.mechanisms"] == "SCRAM-SHA-512")
    }

    @Test("the producer's buffer is capped far below librdkafka's 1 GiB default, and settings can override it")
    func producerCap() {
        let configuration = KafkaConfiguration(["linger.ms": "1"]).over(KafkaConfiguration.producerDefaults)
        #expect(Int(configuration.properties["queue.buffering.max.kbytes"]!)! <= 65_536)
        #expect(configuration.properties["enable.idempotence"] == "true")
        #expect(configuration.properties["acks"] == "all")
        #expect(configuration.properties["partitioner"] == "murmur2_random")
        #expect(configuration.properties["linger.ms"] == "1")
    }

    @Test("a missing required variable is named")
    func missing() {
        #expect(throws: ConfigurationError(variable: "DATABASE_URL", problem: "is required but not set")) {
            _ = try WorkerConfiguration(
                service: Services.allocator, defaults: .init(opsPort: 1),
                environment: ProcessEnvironment(["KAFKA_BOOTSTRAP_SERVERS": "x"]))
        }
    }

    @Test("a malformed number names the variable and the allowed range")
    func malformed() {
        var values = base
        values["WORKER_POLL_BATCH_COUNT_MAX"] = "lots"
        #expect(
            throws: ConfigurationError(
                variable: "WORKER_POLL_BATCH_COUNT_MAX", problem: "must be a whole number, got 'lots'")
        ) {
            _ = try WorkerConfiguration(
                service: Services.allocator, defaults: .init(opsPort: 1), environment: ProcessEnvironment(values))
        }
        values["WORKER_POLL_BATCH_COUNT_MAX"] = "0"
        #expect(
            throws: ConfigurationError(
                variable: "WORKER_POLL_BATCH_COUNT_MAX", problem: "must be between 1 and 10000, got 0")
        ) {
            _ = try WorkerConfiguration(
                service: Services.allocator, defaults: .init(opsPort: 1), environment: ProcessEnvironment(values))
        }
    }

    @Test("values of secret-looking variables are never echoed")
    func secretsRedacted() {
        let environment = ProcessEnvironment(["KAFKA_SASL_PASSWORD_RETRIES": "hunter2"])
        do {
            _ = try environment.int("KAFKA_SASL_PASSWORD_RETRIES", default: 1, range: 1...5)
            Issue.record("expected an error")
        } catch {
            #expect(!"\(error)".contains("hunter2"))
        }
    }
}

@Suite("topic contract and schema")
struct ContractTests {
    @Test("topic names are unique and every consumed topic is in the contract")
    func topics() {
        #expect(Set(Topics.all.map(\.name)).count == Topics.all.count)
        for service in Services.all {
            for topic in service.consumedTopics {
                #expect(Topics.named(topic) != nil, "\(service.name) consumes \(topic)")
            }
        }
        #expect(Set(Services.all.map(\.schema)).count == Services.all.count)
    }

    @Test("the topic table's consumers are exactly the services that subscribe to each topic")
    func consumersAgree() {
        for topic in Topics.all {
            let subscribed = Set(Services.all.filter { $0.consumedTopics.contains(topic.name) }.map(\.name))
            let named = Set(topic.consumers.filter { name in Services.all.contains { $0.name == name } })
            #expect(subscribed == named, "\(topic.name)")
        }
    }

    @Test("migrations are in increasing order and their checksums are stable")
    func migrations() {
        let migrator = Migrator()
        #expect(migrator.latestVersion == SchemaMigrations.all.last?.version)
        let migration = Migration(version: 1, name: "n", sql: "SELECT 1")
        #expect(migration.checksum == Migration(version: 1, name: "other", sql: "SELECT 1").checksum)
        #expect(migration.checksum != Migration(version: 1, name: "n", sql: "SELECT 2").checksum)
    }
}

@Suite("contract JSON writer")
struct ContractJSONWriterTests {
    static func foundation<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try ContractJSON.encoder().encode(value), as: UTF8.self)
    }

    static func writer<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try ContractJSONWriter.encode(value), as: UTF8.self)
    }

    @Test("writes what Foundation's contract encoder writes, byte for byte")
    func sameBytes() throws {
        let awkward = "quote \" backslash \\ slash / tab \t newline \n bell \u{07} é €"
        let payment = PaymentIdentified(
            paymentId: "P-1", account: "A-1", amountMinor: -42, currency: "EUR", channel: "bank:DE89",
            receivedOn: "2026-05-10", reference: awkward, namedItems: ["INV-1", "INV-2"])
        #expect(try Self.writer(payment) == Self.foundation(payment))
        let bare = PaymentIdentified(
            paymentId: "P-2", account: "A-1", amountMinor: Int64.max, currency: "EUR", channel: "manual",
            receivedOn: "2026-05-10")
        #expect(try Self.writer(bare) == Self.foundation(bare))
        let balance = BalanceChanged(
            account: "A-1", currency: "EUR", previousMinor: 0, balanceMinor: Int64.min,
            movements: [.init(kind: "payment", document: "P-1", amountMinor: -42)])
        #expect(try Self.writer(balance) == Self.foundation(balance))
        let outcome = CommandOutcome(
            commandId: "c-1", commandType: "billing.ledger.refund.v1", account: nil, status: "done",
            result: ["refundId": "R-1", "snake_key": awkward, "Upper": "x"])
        #expect(try Self.writer(outcome) == Self.foundation(outcome))
        let document = DocumentPosted(
            documentId: "d-1", kind: "invoice", account: "A-1", number: "INV-2026-000001", reference: nil,
            currency: "EUR", netMinor: 100, taxMinor: 20, totalMinor: 120, postedOn: "2026-05-20",
            dueOn: "2026-06-15")
        #expect(try Self.writer(document) == Self.foundation(document))
        #expect(try Self.writer([String]()) == Self.foundation([String]()))
    }

    @Test("integers of every width, their limits, zero and minus one are written as Foundation writes them")
    func integers() throws {
        struct Widths: Encodable {
            let int: [Int]
            let int8: [Int8]
            let int16: [Int16]
            let int32: [Int32]
            let int64: [Int64]
            let uint: [UInt]
            let uint8: [UInt8]
            let uint64: [UInt64]
            let single: Int64
            let lowerCamelKey: Int
        }
        let value = Widths(
            int: [0, -1, 7, Int.min, Int.max], int8: [Int8.min, Int8.max, -10], int16: [Int16.min, 100],
            int32: [Int32.min, Int32.max, -1_000_000], int64: [Int64.min, Int64.max, 4_620, -4_620],
            uint: [0, UInt.max], uint8: [0, 255, 10], uint64: [UInt64.max, 1_000_000_000_000], single: -9_000,
            lowerCamelKey: 10)
        #expect(try Self.writer(value) == Self.foundation(value))
    }

    @Test("events that write their own JSON write what the writer and Foundation write, byte for byte")
    func directWriters() throws {
        let texts = [
            "", "A-1001", "INV-2026-000001", "Zoë Müller", "日本語", "💶", "a/b", "quote \" back \\ slash",
            "tab\t nl\n cr\r bs\u{08} ff\u{0C} bell\u{07} nul\u{0} del\u{7f}",
        ]
        let integers: [Int64] = [0, 1, -1, 9, -10, 4_620, -4_620, Int64.max, Int64.min, 1_000_000_000_000]
        var state: UInt64 = 0x2545_F491_4F6C_DD1D
        func pick<T>(_ values: [T]) -> T {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return values[Int((state >> 33) % UInt64(values.count))]
        }
        func check<T: DirectJSONWritable>(_ value: T) throws {
            let direct = String(decoding: ContractJSON.encode(value), as: UTF8.self)
            #expect(direct == (try Self.writer(value)))
            #expect(direct == (try Self.foundation(value)))
        }
        for count in 0..<300 {
            try check(
                BalanceChanged(
                    account: pick(texts), currency: pick(texts), previousMinor: pick(integers),
                    balanceMinor: pick(integers),
                    movements: (0..<(count % 4)).map { _ in
                        .init(kind: pick(texts), document: pick(texts), amountMinor: pick(integers))
                    }))
            try check(
                AllocationsChanged(
                    account: pick(texts), currency: pick(texts),
                    allocations: (0..<(count % 4)).map { _ in
                        .init(credit: pick(texts), debit: pick(texts), amountMinor: pick(integers), reason: pick(texts))
                    }))
            try check(
                DebitStateChanged(
                    account: pick(texts), document: pick(texts), number: count % 3 == 0 ? nil : pick(texts),
                    kind: pick(texts), state: pick(texts), totalMinor: pick(integers), openMinor: pick(integers)))
        }
    }

    @Test("a floating-point value is refused")
    func floatsRefused() {
        struct Price: Encodable { let amount: Double }
        #expect(throws: EncodingError.self) { try ContractJSONWriter.encode(Price(amount: 1.5)) }
    }
}

@Suite("strict command bodies")
struct StrictContractTests {
    func decode(_ json: String) throws -> DocumentCreateCommand {
        try ContractJSON.decodeStrict(DocumentCreateCommand.self, from: Data(json.utf8))
    }

    @Test("known fields decode; an unknown field at any depth is named and refused")
    func unknownFields() throws {
        let good = """
            {"origin": {"requested_by": "ops"}, "kind": "invoice", "account": "A-1",
             "lines": [{"description": "x", "quantity": "1", "unit_price": "1.00", "tax_rate": "0"}], "due_on": "2026-06-01"}
            """
        #expect(try decode(good).dueOn == "2026-06-01")
        for (json, field) in [
            (good.replacing("\"due_on\"", with: "\"due_date\""), "due_date"),
            (good.replacing("\"tax_rate\"", with: "\"vat\""), "vat"),
            (good.replacing("\"requested_by\": \"ops\"", with: "\"requested_by\": \"ops\", \"who\": 1"), "who"),
        ] {
            do {
                _ = try decode(json)
                Issue.record("\(field) was accepted")
            } catch DecodingError.dataCorrupted(let context) {
                #expect(context.debugDescription == "unknown field \(field)")
            }
        }
    }
}

@Suite("PostgreSQL errors in logs and reasons")
struct PGErrorDescriptionTests {
    @Test("an integrity or data error is described by SQLSTATE and schema names, never the server's text with values")
    func leavesOutValues() {
        let duplicate = PGError(
            kind: .server, sqlState: "23505", message: "duplicate key value violates unique constraint \"doc_number\"",
            detail: "Key (number)=(INV-2026-000042) already exists.", constraint: "doc_number", table: "documents")
        let text = duplicate.describe(includingValues: false)
        #expect(text.contains("23505") && text.contains("integrity constraint violation"))
        #expect(text.contains("constraint doc_number") && text.contains("table documents"))
        #expect(!text.contains("INV-2026-000042") && !text.contains("Key ("))
        let syntax = PGError(
            kind: .server, sqlState: "22P02", message: "invalid input syntax for type bigint: \"A-1001 secret\"")
        #expect(!syntax.describe(includingValues: false).contains("secret"))
    }

    @Test("messages that name only schema objects and states are kept; the debug setting keeps everything")
    func keepsNamesAndDebug() {
        let conflict = PGError(
            kind: .server, sqlState: "40001", message: "could not serialize access due to concurrent update")
        #expect(conflict.describe(includingValues: false).contains("could not serialize access"))
        let lost = PGError(kind: .connection, message: "connection to server at 127.0.0.1 port 5432 failed")
        #expect(lost.describe(includingValues: false).contains("port 5432 failed"))
        let duplicate = PGError(
            kind: .server, sqlState: "23505", message: "duplicate key", detail: "Key (number)=(INV-1) already exists.")
        #expect(duplicate.describe(includingValues: true).contains("Key (number)=(INV-1)"))
    }
}
