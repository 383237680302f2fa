import BillingSupport
import CRdKafka
import Logging

/// State shared with librdkafka's C callbacks through the client's opaque pointer.
///
/// - Important: Callbacks run on librdkafka's threads (log, error) or on the thread that polls
///   (rebalance, delivery reports); everything here is either immutable or behind a lock.
final class KafkaClientContext: @unchecked Sendable {
    let logger: Logger?
    typealias Rebalance = @Sendable (
        OpaquePointer, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>
    ) -> Void
    /// Set by the consumer; called from `rd_kafka_consumer_poll` on the polling thread, and from
    /// `rd_kafka_destroy` while the consumer closes. Cleared when the consumer goes away, after
    /// which librdkafka's default assignment handling applies (see `defaultRebalance`).
    let rebalanceCallback = Locked<Rebalance?>(nil)

    init(logger: Logger?) {
        self.logger = logger
    }

    /// Installs the log and error callbacks and makes this context the client's opaque.
    func install(on conf: OpaquePointer) {
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(self).toOpaque())
        rd_kafka_conf_set_log_cb(conf) { client, level, facility, text in
            guard let client, let context = KafkaClientContext.from(rd_kafka_opaque(client)),
                let logger = context.logger
            else { return }
            logger.log(
                level: librdkafkaLevel(level), "librdkafka",
                metadata: [
                    "facility": .string(facility.map { String(cString: $0) } ?? ""),
                    "detail": .string(text.map { String(cString: $0) } ?? ""),
                ])
        }
        rd_kafka_conf_set_error_cb(conf) { client, code, reason, opaque in
            guard let context = KafkaClientContext.from(opaque) else { return }
            let error = rd_kafka_resp_err_t(rawValue: code)
            context.logger?.warning(
                "kafka client error",
                metadata: [
                    "code": .string(String(cString: rd_kafka_err2name(error))),
                    "reason": .string(reason.map { String(cString: $0) } ?? ""),
                    "fatal": .of(error == RD_KAFKA_RESP_ERR__FATAL),
                ])
        }
    }

    /// What librdkafka does without a rebalance callback: take what is assigned, drop what is revoked.
    static func defaultRebalance(
        _ client: OpaquePointer, _ error: rd_kafka_resp_err_t, _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>
    ) {
        let cooperative = String(cString: rd_kafka_rebalance_protocol(client)) == "COOPERATIVE"
        let assigning = error == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS
        if cooperative {
            let failure = assigning ? rd_kafka_incremental_assign(client, list) : rd_kafka_incremental_unassign(client, list)
            if let failure { rd_kafka_error_destroy(failure) }
        } else {
            _ = rd_kafka_assign(client, assigning ? list : nil)
        }
    }

    static func from(_ opaque: UnsafeMutableRawPointer?) -> KafkaClientContext? {
        guard let opaque else { return nil }
        return Unmanaged<KafkaClientContext>.fromOpaque(opaque).takeUnretainedValue()
    }
}

/// swift-log's level for a librdkafka (syslog) level: 0-2 critical, 3 error, 4 warning, 5 notice,
/// 6 info, 7 debug.
func librdkafkaLevel(_ level: Int32) -> Logger.Level {
    switch level {
    case ...2: return .critical
    case 3: return .error
    case 4: return .warning
    case 5: return .notice
    case 6: return .info
    default: return .debug
    }
}

/// Copies a C error buffer into a String.
func cString(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Creates a client of `type`; the configuration object is consumed by librdkafka on success.
func makeClient(
    type: rd_kafka_type_t, configuration: KafkaConfiguration, context: KafkaClientContext,
    configure: (OpaquePointer) -> Void = { _ in }
) throws -> OpaquePointer {
    let conf = try configuration.makeNative()
    context.install(on: conf)
    configure(conf)
    var errorText = [CChar](repeating: 0, count: 512)
    guard let client = rd_kafka_new(type, conf, &errorText, errorText.count) else {
        rd_kafka_conf_destroy(conf)
        throw KafkaError(configuration: cString(errorText))
    }
    return client
}

/// Destroys a client on a thread of its own, waiting at most `timeoutMs`.
///
/// librdkafka 2.0.2 can hang in `rd_kafka_destroy` after a broker restart; a process that is
/// shutting down must not wait on it without bound. Returns false when it was abandoned. The
/// destroying thread holds `context` until `rd_kafka_destroy` has returned, so the callbacks
/// librdkafka still makes during an abandoned destroy (logs, errors, the last rebalance) never
/// reach freed memory, even after the Swift client object is gone.
func destroyBounded(_ client: OpaquePointer, context: KafkaClientContext, timeoutMs: Int) -> Bool {
    nonisolated(unsafe) let handle = client
    return DedicatedThread.runBounded(name: "rdkafka-destroy", timeoutMs: timeoutMs) {
        withExtendedLifetime(context) { rd_kafka_destroy(handle) }
    }
}

/// Metadata about the cluster's topics.
public struct KafkaTopicMetadata: Sendable {
    public let name: String
    public let partitionCount: Int
    public let errorName: String?
}

/// Fetches topic metadata with a bounded wait; throws when no broker answers in time.
func fetchMetadata(_ client: OpaquePointer, timeoutMs: Int32) throws -> [KafkaTopicMetadata] {
    var metadata: UnsafePointer<rd_kafka_metadata>?
    let error = rd_kafka_metadata(client, 1, nil, &metadata, timeoutMs)
    guard error == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else { throw KafkaError(code: error) }
    defer { rd_kafka_metadata_destroy(metadata) }
    var topics: [KafkaTopicMetadata] = []
    for index in 0..<Int(metadata.pointee.topic_cnt) {
        let topic = metadata.pointee.topics[index]
        topics.append(
            KafkaTopicMetadata(
                name: String(cString: topic.topic), partitionCount: Int(topic.partition_cnt),
                errorName: topic.err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : String(cString: rd_kafka_err2name(topic.err))
            ))
    }
    return topics
}
