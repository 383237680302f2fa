import BillingSupport
import CRdKafka

/// librdkafka properties for one client, with the project's defaults and the `KAFKA_` pass-through.
///
/// Every environment variable `KAFKA_NAME_PARTS` becomes the librdkafka property `name.parts`
/// (lower-cased, `_` → `.`), so TLS and SASL are configured exactly as librdkafka documents:
/// `KAFKA_SECURITY_PROTOCOL=sasl_ssl`, `KAFKA_SASL_MECHANISMS=SCRAM-SHA-512`, `KAFKA_SASL_USERNAME=…`.
/// Pass-through values override the defaults below. Property values are never logged.
public struct KafkaConfiguration: Sendable {
    public var properties: [String: String]

    public init(_ properties: [String: String] = [:]) {
        self.properties = properties
    }

    /// `KAFKA_*` variables as librdkafka properties. `KAFKA_BOOTSTRAP_SERVERS` is required.
    public static func fromEnvironment(_ environment: ProcessEnvironment) throws -> KafkaConfiguration {
        _ = try environment.required("KAFKA_BOOTSTRAP_SERVERS")
        var properties: [String: String] = [:]
        for (name, value) in environment.withPrefix("KAFKA_") {
            properties[name.lowercased().replacingUnderscoresWithDots()] = value
        }
        return KafkaConfiguration(properties)
    }

    /// Producer defaults: idempotent, acks=all, the Java-compatible partitioner, and a buffer far
    /// below librdkafka's 1 GiB default so a stalled broker cannot grow the process without bound.
    public static let producerDefaults: [String: String] = [
        "enable.idempotence": "true",
        "acks": "all",
        "partitioner": "murmur2_random",
        "queue.buffering.max.kbytes": "16384",
        "queue.buffering.max.messages": "100000",
        "linger.ms": "5",
        "message.timeout.ms": "120000",
        "socket.keepalive.enable": "true",
    ]

    /// Consumer defaults: offsets are stored by the application only after its database COMMIT
    /// (`enable.auto.offset.store=false`) and committed in the background; retention loss is an
    /// error, never a silent jump (`auto.offset.reset=error`); the prefetch queue is capped.
    /// `fetch.wait.max.ms` is short because a broker that does not answer a waiting fetch when data
    /// arrives (librdkafka's mock cluster) otherwise adds up to 500 ms to every idle partition's
    /// next message; against a real cluster it only costs a few more idle fetch requests.
    public static let consumerDefaults: [String: String] = [
        "fetch.wait.max.ms": "50",
        "enable.auto.commit": "true",
        "enable.auto.offset.store": "false",
        "auto.offset.reset": "error",
        "queued.max.messages.kbytes": "8192",
        "queued.min.messages": "10000",
        "fetch.max.bytes": "8388608",
        "socket.keepalive.enable": "true",
    ]

    /// This configuration over `defaults` (own values win).
    public func over(_ defaults: [String: String]) -> KafkaConfiguration {
        KafkaConfiguration(defaults.merging(properties) { _, own in own })
    }

    func makeNative() throws -> OpaquePointer {
        guard let conf = rd_kafka_conf_new() else { throw KafkaError(configuration: "out of memory") }
        var errorText = [CChar](repeating: 0, count: 512)
        for (name, value) in properties.sorted(by: { $0.key < $1.key }) {
            let result = rd_kafka_conf_set(conf, name, value, &errorText, errorText.count)
            guard result == RD_KAFKA_CONF_OK else {
                rd_kafka_conf_destroy(conf)
                let reason = String(decoding: errorText.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                throw KafkaError(configuration: "property \(name): \(reason)")
            }
        }
        return conf
    }
}

extension String {
    fileprivate func replacingUnderscoresWithDots() -> String {
        String(map { $0 == "_" ? "." : $0 })
    }
}
