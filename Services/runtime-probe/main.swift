import BillingContracts
import BillingKafka
import BillingPostgres
import BillingRuntime
import BillingSupport
import FoundationEssentials
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// The runtime's self-test worker: for each `billing.probe.message.v1` event it writes one row to
/// `probe.applied` and publishes one `billing.probe.applied.v1` event through the outbox.
/// Integration tests kill it at random and count rows; the runtime benchmark measures it.
///
/// Extra configuration: `PROBE_OUTPUT_TOPIC` (default `billing.probe.out`), and
/// `PROBE_FAULTS_ENABLED` (default `false`): when `true`, a message's `"fault"` makes applying it
/// fail every time (`"error"`) or end the process as a crash would (`"crash"`), for the tests of
/// messages that never succeed. Without it the field is refused like any unknown input.
struct ProbeMessage: Codable, Sendable {
    let runID: String
    let seq: Int64
    let fault: String?

    enum CodingKeys: String, CodingKey {
        case runID = "run_id"
        case seq, fault
    }
}

struct ProbeFault: Error, CustomStringConvertible {
    let seq: Int64
    var description: String { "probe fault: message \(seq) always fails" }
}

struct ProbeHandler: WorkerHandler {
    static let messageType = "billing.probe.message.v1"
    static let appliedType = "billing.probe.applied.v1"
    let outputTopic: String
    let source: String
    let router: EventRouter<ProbeMessage>
    let faultsEnabled: Bool

    init(outputTopic: String, source: String, faultsEnabled: Bool = false) {
        self.outputTopic = outputTopic
        self.source = source
        self.faultsEnabled = faultsEnabled
        router = EventRouter([
            Self.messageType: { event throws(MessageRejection) in
                let message: ProbeMessage
                do {
                    message = try JSONDecoder().decode(ProbeMessage.self, from: Data(event.data))
                } catch {
                    throw MessageRejection(
                        EnvelopeError.invalidPayload("expected {\"run_id\": text, \"seq\": integer}"))
                }
                guard faultsEnabled || message.fault == nil else {
                    throw MessageRejection(
                        EnvelopeError.invalidPayload("\"fault\" is taken only with PROBE_FAULTS_ENABLED=true"))
                }
                return message
            }
        ])
    }

    func decode(_ message: KafkaMessage) throws(MessageRejection) -> (eventID: String?, payload: ProbeMessage) {
        try router.decode(message)
    }

    func apply(_ batch: [DecodedMessage<ProbeMessage>], in context: BatchContext) throws {
        for decoded in batch {
            switch decoded.payload.fault {
            case "crash":
                context.logger.warning("probe fault: crashing", metadata: ["seq": .of(decoded.payload.seq)])
                _exit(70)
            case .some:
                throw ProbeFault(seq: decoded.payload.seq)
            case nil:
                break
            }
        }
        try context.connection.query(
            """
            INSERT INTO probe.applied (run_id, message_seq, topic, partition, "offset", produced_at)
            SELECT v.run_id, v.seq, v.topic, v.partition, v.off,
                   CASE WHEN v.ms IS NULL THEN NULL ELSE timestamptz 'epoch' + v.ms * interval '1 millisecond' END
            FROM unnest($1::text[], $2::bigint[], $3::text[], $4::int[], $5::bigint[], $6::bigint[])
                AS v(run_id, seq, topic, partition, off, ms)
            """,
            [
                PGArray.strings(batch.map(\.payload.runID)), PGArray.integers(batch.map(\.payload.seq)),
                PGArray.strings(batch.map(\.message.topic)), PGArray.integers(batch.map(\.message.partition)),
                PGArray.integers(batch.map(\.message.offset)),
                PGArray.strings(batch.map { $0.message.timestampMs.map(String.init) }),
            ])
        for decoded in batch {
            let body = "{\"run_id\":\(JSONText.quoted(decoded.payload.runID)),\"seq\":\(decoded.payload.seq)}"
            context.publish(
                topic: outputTopic, key: decoded.message.key.map { String(decoding: $0, as: UTF8.self) },
                event: CloudEvent(
                    id: "applied-\(decoded.eventID ?? UUID().uuidString)", type: Self.appliedType, source: source,
                    time: UTCClock.timestamp(), data: Array(body.utf8)))
        }
    }
}

WorkerMain.run(service: Services.runtimeProbe, defaults: .init(opsPort: 9109)) { configuration in
    let environment = ProcessEnvironment.current()
    return ProbeHandler(
        outputTopic: environment.string("PROBE_OUTPUT_TOPIC", default: Topics.probeOut.name),
        source: configuration.service.eventSource,
        faultsEnabled: try environment.bool("PROBE_FAULTS_ENABLED", default: false))
}
