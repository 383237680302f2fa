import BillingContracts
import BillingKafka
import BillingSupport
import HTTPTypes
import Hummingbird
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// gateway-relay: takes a payment gateway's webhook POSTs and puts each on
/// `billing.gateway-events.raw` as it arrived: the raw body byte for byte (never parsed here: its
/// signature is checked on these bytes by payment-ingest before anything reads them), the
/// `Stripe-Signature` header, and the time it was received (`received_at_ms`), against which the
/// signature's freshness is judged however late the event is read. It answers 200 only once the
/// broker acknowledged the message, else 503, so the gateway sends it again; a body over the limit
/// gets 413. Stateless: run as many as needed behind the gateway's endpoint.
struct RelaySettings {
    let host: String
    let port: Int
    let path: String
    let bodyBytesMax: Int
    let topic: String
    let deliveryTimeoutMs: Int
    let kafka: KafkaConfiguration

    /// | variable | default | meaning |
    /// |---|---|---|
    /// | `GATEWAY_RELAY_HOST` | `127.0.0.1` | address to listen on (`0.0.0.0` in containers) |
    /// | `GATEWAY_RELAY_PORT` | 8088 | port (0 picks a free one, printed in the `listening` line) |
    /// | `GATEWAY_RELAY_PATH` | `/webhooks/stripe` | the path the gateway posts to |
    /// | `GATEWAY_RELAY_BODY_BYTES_MAX` | 1048576 | larger bodies are refused with 413 |
    /// | `GATEWAY_RELAY_DELIVERY_TIMEOUT_MS` | 10000 | longest wait for the broker's acknowledgement (then 503) |
    /// | `BILLING_TOPIC_SUFFIX` | empty | appended to `billing.gateway-events.raw` |
    /// | `KAFKA_BOOTSTRAP_SERVERS`, `KAFKA_*` | required | the brokers; librdkafka properties |
    static func fromEnvironment(_ environment: ProcessEnvironment) throws -> RelaySettings {
        let path = environment.string("GATEWAY_RELAY_PATH", default: "/webhooks/stripe")
        guard path.hasPrefix("/"), path.count > 1 else {
            throw ConfigurationError(variable: "GATEWAY_RELAY_PATH", problem: "must start with / and name a path")
        }
        return RelaySettings(
            host: environment.string("GATEWAY_RELAY_HOST", default: "127.0.0.1"),
            port: try environment.int("GATEWAY_RELAY_PORT", default: 8088, range: 0...65535),
            path: path,
            bodyBytesMax: try environment.int("GATEWAY_RELAY_BODY_BYTES_MAX", default: 1 << 20, range: 1...(32 << 20)),
            topic: Topics.gatewayEventsRaw.name + environment.string("BILLING_TOPIC_SUFFIX", default: ""),
            deliveryTimeoutMs: try environment.int(
                "GATEWAY_RELAY_DELIVERY_TIMEOUT_MS", default: 10_000, range: 100...120_000),
            kafka: try KafkaConfiguration.fromEnvironment(environment))
    }
}

/// The gateway's headers kept with the body (the signature, and what says what was sent).
let keptHeaders = ["Stripe-Signature", "Content-Type", "User-Agent"]

func relayResponse(_ status: HTTPResponse.Status, _ json: String) -> Response {
    Response(
        status: status, headers: [.contentType: "application/json"],
        body: ResponseBody(byteBuffer: ByteBuffer(string: json + "\n")))
}

@main
struct GatewayRelay {
    static let usage = """
        gateway-relay: takes a payment gateway's webhook POSTs and puts each on billing.gateway-events.raw
        as it arrived (raw body, Stripe-Signature, received_at_ms), answering 200 only once the broker
        acknowledged it, else 503 (the gateway sends it again); 413 for a body over the limit.
        GET /health/live and /health/ready on the same port. Stops on SIGTERM or SIGINT.

        Configuration (environment):
          GATEWAY_RELAY_HOST (127.0.0.1), GATEWAY_RELAY_PORT (8088; 0 picks one), GATEWAY_RELAY_PATH
          (/webhooks/stripe), GATEWAY_RELAY_BODY_BYTES_MAX (1048576), GATEWAY_RELAY_DELIVERY_TIMEOUT_MS
          (10000), BILLING_TOPIC_SUFFIX (empty), KAFKA_BOOTSTRAP_SERVERS (required) and any KAFKA_*
          librdkafka property, LOG_LEVEL (info).

        Exit codes: 0 stopped by a signal, 1 the server failed, 2 bad configuration.
        """

    static func main() async {
        if CommandLine.arguments.dropFirst().contains(where: { $0 == "--help" || $0 == "-h" }) {
            print(usage)
            return
        }
        TerminationSignals.ignoreBrokenPipe()
        let environment = ProcessEnvironment.current()
        let logger = JSONLogHandler.bootstrap(
            service: "gateway-relay",
            level: (try? environment.choice("LOG_LEVEL", default: .info, Logger.Level.byName)) ?? .info)
        let settings: RelaySettings
        let relay: RelayProducer
        do {
            settings = try RelaySettings.fromEnvironment(environment)
            relay = RelayProducer(producer: try KafkaProducer(configuration: settings.kafka, logger: logger))
        } catch {
            writeStandardError("gateway-relay: \(error)")
            exit(2)
        }
        let router = Router()
        router.post(RouterPath(settings.path)) { request, _ -> Response in
            await relayWebhook(request, settings: settings, relay: relay, logger: logger)
        }
        router.get("/health/live") { _, _ in relayResponse(.ok, #"{"status":"live"}"#) }
        router.get("/health/ready") { _, _ in
            relay.isBrokerReachable(timeoutMs: 1_000)
                ? relayResponse(.ok, #"{"status":"ready","checks":{"kafka":true}}"#)
                : relayResponse(.serviceUnavailable, #"{"status":"not ready","checks":{"kafka":false}}"#)
        }
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "gateway-relay"),
            onServerRunning: { channel in
                logger.info(
                    "listening",
                    metadata: [
                        "host": .string(settings.host), "port": .of(channel.localAddress?.port ?? settings.port),
                        "path": .string(settings.path), "topic": .string(settings.topic),
                    ])
            })
        var failed = false
        do {
            try await app.runService()
        } catch {
            logger.error("server failed", metadata: ["error": .string("\(error)")])
            failed = true
        }
        relay.close(timeoutMs: 5_000)
        logger.info("stopped")
        if failed { exit(1) }
    }

    /// One webhook: its raw bytes and the headers a signature check needs go to the topic as
    /// they came; the gateway hears 200 only once the broker has them.
    static func relayWebhook(
        _ request: Request, settings: RelaySettings, relay: RelayProducer, logger: Logger
    ) async -> Response {
        let receivedAtMs = wallClockMs()
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: settings.bodyBytesMax)
        } catch {
            return relayResponse(
                .contentTooLarge, #"{"error":"the body is over \#(settings.bodyBytesMax) bytes"}"#)
        }
        var headers = [KafkaHeader(name: GatewayEventHeaders.receivedAtMs, text: String(receivedAtMs))]
        for name in keptHeaders {
            guard let field = HTTPField.Name(name), let value = request.headers[field] else { continue }
            headers.append(KafkaHeader(name: name, text: value))
        }
        let message = KafkaOutgoingMessage(
            topic: settings.topic, key: nil, value: Array(buffer: body), headers: headers)
        let result = await relay.deliver(message, timeoutMs: settings.deliveryTimeoutMs)
        guard case .delivered(let partition, let offset) = result else {
            logger.warning(
                "webhook not acknowledged by the broker; answered 503",
                metadata: ["bytes": .of(body.readableBytes), "result": .string("\(result)")])
            var response = relayResponse(.serviceUnavailable, #"{"error":"not stored; send it again"}"#)
            response.headers[.retryAfter] = "5"
            return response
        }
        logger.info(
            "webhook relayed",
            metadata: ["bytes": .of(body.readableBytes), "partition": .of(partition), "offset": .of(offset)])
        return relayResponse(.ok, #"{"received":true}"#)
    }
}
