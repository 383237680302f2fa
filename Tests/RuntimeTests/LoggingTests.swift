import BillingKafka
import BillingSupport
import Logging
import Testing

@Suite("log lines through swift-log")
struct LoggingTests {
    @Test("a line is one JSON object: ts, level, service, msg, then the logger's and the call's metadata")
    func lineFormat() {
        let record = LogRecord(
            epochMs: 1_779_271_200_123, level: .warning, service: "allocator", message: "batch \"late\"\n",
            fields: [
                ("instance", .string("h-1")), ("partition", .of(3)), ("fenced", .of(true)),
                ("topics", .array([.string("a"), .string("b")])),
            ])
        #expect(
            record.line
                == #"{"ts":"2026-05-20T10:00:00.123Z","level":"warn","service":"allocator","msg":"batch \"late\"\n","#
                + #""instance":"h-1","partition":3,"fenced":true,"topics":["a","b"]}"#)
    }

    @Test("records can be captured; levels below the logger's are dropped; the call's metadata wins")
    func capture() {
        let capture = LogCapture()
        var logger = JSONLogHandler.logger(service: "invoicer", level: .info, capture: capture)
        logger[metadataKey: "instance"] = "h-2"
        logger[metadataKey: "stage"] = "batch"
        logger.debug("not kept")
        logger.info("posted", metadata: ["count": .of(12), "stage": "relay"])
        let records = capture.all
        #expect(records.count == 1)
        #expect(records.first?.message == "posted")
        #expect(records.first?["count"] == "12")
        #expect(records.first?["instance"] == "h-2")
        #expect(records.first?["stage"] == "relay")
        #expect(records.first?.line.contains(#""count":12"#) == true)
    }

    @Test("LOG_LEVEL takes swift-log's level names and warn")
    func levelNames() {
        #expect(Logger.Level.byName["warn"] == .warning)
        #expect(Logger.Level.byName["warning"] == .warning)
        #expect(Logger.Level.byName["trace"] == .trace)
        #expect(Logger.Level.byName["loud"] == nil)
    }

    @Test("librdkafka's own log lines arrive through the client's logger", .timeLimit(.minutes(1)))
    func librdkafkaRouted() throws {
        let capture = LogCapture()
        let logger = JSONLogHandler.logger(service: "test", level: .debug, capture: capture)
        // Nothing listens on port 1: librdkafka logs its failed connections (and, with `debug`, more).
        let configuration = KafkaConfiguration(["bootstrap.servers": "127.0.0.1:1", "debug": "broker"])
        let producer = try KafkaProducer(configuration: configuration, logger: logger)
        let deadline = monotonicMs() + 20_000
        while monotonicMs() < deadline, !capture.all.contains(where: { $0.message == "librdkafka" }) {
            sleepThread(milliseconds: 50)
        }
        producer.close(timeoutMs: 2_000)
        let line = capture.all.first { $0.message == "librdkafka" }
        #expect(line != nil, "a librdkafka record was captured")
        #expect(line?["facility"]?.isEmpty == false)
    }
}
