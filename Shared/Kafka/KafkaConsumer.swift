import BillingSupport
import CRdKafka
import Logging

/// What one poll of the consumer produced.
public enum KafkaConsumerEvent: Sendable {
    case message(KafkaMessage)
    /// The wanted offset is outside the partition's log (`auto.offset.reset=error`): data was lost
    /// to retention or the offset is wrong. The partition stops until the application seeks.
    case offsetOutOfRange(TopicPartition, detail: String)
    /// Any other consumer error (broker down, unknown topic, ...); librdkafka keeps retrying.
    case error(KafkaError, TopicPartition?)
}

/// Decides where assigned partitions start, and hears when they are taken away.
///
/// - Important: Called on the thread that polls (or closes) the consumer, never concurrently
///   with that thread's own work.
public struct KafkaRebalanceHandlers: Sendable {
    /// Returns the offset to start each assigned partition from (absent: librdkafka's committed offset).
    public var assigned: @Sendable ([TopicPartition]) -> [TopicPartition: Int64]
    public var revoked: @Sendable ([TopicPartition]) -> Void

    public init(
        assigned: @escaping @Sendable ([TopicPartition]) -> [TopicPartition: Int64],
        revoked: @escaping @Sendable ([TopicPartition]) -> Void
    ) {
        self.assigned = assigned
        self.revoked = revoked
    }
}

/// A consumer-group consumer whose offsets are stored only when the application says so.
///
/// - Important: One thread polls; rebalance handlers run inside `poll` on that thread, so a batch
///   being processed on the polling thread is never interrupted by a rebalance.
public final class KafkaConsumer: @unchecked Sendable {
    private let client: OpaquePointer
    private let context: KafkaClientContext
    private var closed = false
    public private(set) var assignment: Set<TopicPartition> = []

    public init(
        configuration: KafkaConfiguration, groupID: String, handlers: KafkaRebalanceHandlers, logger: Logger? = nil
    ) throws {
        var settings = configuration.over(KafkaConfiguration.consumerDefaults)
        settings.properties["group.id"] = groupID
        let context = KafkaClientContext(logger: logger)
        self.context = context
        client = try makeClient(type: RD_KAFKA_CONSUMER, configuration: settings, context: context) { conf in
            rd_kafka_conf_set_rebalance_cb(conf) { client, error, partitions, opaque in
                guard let client, let partitions, let context = KafkaClientContext.from(opaque) else { return }
                if let rebalance = context.rebalanceCallback.current {
                    rebalance(client, error, partitions)
                } else {
                    KafkaClientContext.defaultRebalance(client, error, partitions)
                }
            }
        }
        // Errors and logs are served by consumer polls too.
        rd_kafka_poll_set_consumer(client)
        context.rebalanceCallback.withLock {
            $0 = { [unowned self] client, error, list in
                self.rebalance(client: client, error: error, list: list, handlers: handlers)
            }
        }
    }

    deinit {
        // The destroy below may outlive this object (it is abandoned after its bound): from here
        // on, rebalances take librdkafka's default path rather than calling into `self`.
        context.rebalanceCallback.withLock { $0 = nil }
        if !closed { _ = destroyBounded(client, context: context, timeoutMs: 5_000) }
    }

    private func rebalance(
        client: OpaquePointer, error: rd_kafka_resp_err_t, list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>,
        handlers: KafkaRebalanceHandlers
    ) {
        let partitions = Self.read(list)
        let cooperative = String(cString: rd_kafka_rebalance_protocol(client)) == "COOPERATIVE"
        switch error {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            let starts = handlers.assigned(partitions)
            for index in 0..<Int(list.pointee.cnt) {
                let element = list.pointee.elems[index]
                let partition = TopicPartition(topic: String(cString: element.topic), partition: element.partition)
                if let start = starts[partition] { list.pointee.elems[index].offset = start }
            }
            if let failure = Self.change(client, cooperative: cooperative, assign: list) {
                // Not assigned: nothing will be fetched for them, so they are not ours; the
                // group gives them out again at the next rebalance.
                context.logger?.error(
                    "assigning partitions failed",
                    metadata: ["error": .string(failure), "partitions": .string(partitions.map(\.description).joined(separator: ","))])
                handlers.revoked(partitions)
                return
            }
            assignment.formUnion(partitions)
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            handlers.revoked(partitions)
            if let failure = Self.change(client, cooperative: cooperative, unassign: list) {
                context.logger?.error("revoking partitions failed", metadata: ["error": .string(failure)])
            }
            assignment.subtract(partitions)
        default:
            context.logger?.error(
                "rebalance failed", metadata: ["code": .string(String(cString: rd_kafka_err2name(error)))])
            handlers.revoked(Array(assignment))
            let cleared = rd_kafka_assign(client, nil)
            if cleared != RD_KAFKA_RESP_ERR_NO_ERROR {
                context.logger?.error(
                    "clearing the assignment failed", metadata: ["code": .string(String(cString: rd_kafka_err2name(cleared)))])
            }
            assignment = []
        }
    }

    /// Assigns (`assign`) or unassigns (`unassign`) `list` by the group's protocol; librdkafka's
    /// error text when it refused.
    private static func change(
        _ client: OpaquePointer, cooperative: Bool, assign: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>? = nil,
        unassign: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>? = nil
    ) -> String? {
        if cooperative {
            let failure = assign.map { rd_kafka_incremental_assign(client, $0) } ?? rd_kafka_incremental_unassign(client, unassign)
            guard let failure else { return nil }
            defer { rd_kafka_error_destroy(failure) }
            return String(cString: rd_kafka_error_string(failure))
        }
        let code = rd_kafka_assign(client, assign)
        return code == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : String(cString: rd_kafka_err2name(code))
    }

    public func subscribe(topics: [String]) throws {
        let list = rd_kafka_topic_partition_list_new(Int32(topics.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for topic in topics {
            rd_kafka_topic_partition_list_add(list, topic, RD_KAFKA_PARTITION_UA)
        }
        let error = rd_kafka_subscribe(client, list)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(code: error) }
    }

    /// Waits up to `timeoutMs` for the first event, then takes what is already queued, up to `countMax`.
    /// Messages of partitions revoked during the poll are never returned.
    public func poll(countMax: Int, timeoutMs: Int32) -> [KafkaConsumerEvent] {
        var events: [KafkaConsumerEvent] = []
        var wait = timeoutMs
        while events.count < countMax {
            guard let message = rd_kafka_consumer_poll(client, wait) else { break }
            defer { rd_kafka_message_destroy(message) }
            wait = 0
            events.append(Self.event(from: message))
        }
        return events.filter {
            if case .message(let message) = $0 { return assignment.contains(message.topicPartition) }
            return true
        }
    }

    private static func event(from message: UnsafeMutablePointer<rd_kafka_message_t>) -> KafkaConsumerEvent {
        let record = message.pointee
        let topicPartition = record.rkt.map {
            TopicPartition(topic: String(cString: rd_kafka_topic_name($0)), partition: record.partition)
        }
        guard record.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            let detail = rd_kafka_message_errstr(message).map { String(cString: $0) } ?? ""
            if record.err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET, let topicPartition {
                return .offsetOutOfRange(topicPartition, detail: detail)
            }
            return .error(KafkaError(code: record.err, message: detail), topicPartition)
        }
        let value = record.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: record.len)) } ?? []
        let key = record.key.map { Array(UnsafeRawBufferPointer(start: $0, count: record.key_len)) }
        var headers: [KafkaHeader] = []
        var headerList: OpaquePointer?
        if rd_kafka_message_headers(message, &headerList) == RD_KAFKA_RESP_ERR_NO_ERROR, let headerList {
            var index = 0
            var name: UnsafePointer<CChar>?
            var valuePointer: UnsafeRawPointer?
            var size = 0
            while rd_kafka_header_get_all(headerList, index, &name, &valuePointer, &size) == RD_KAFKA_RESP_ERR_NO_ERROR
            {
                let bytes = valuePointer.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) }
                headers.append(KafkaHeader(name: name.map { String(cString: $0) } ?? "", value: bytes))
                index += 1
            }
        }
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(message, &timestampType)
        return .message(
            KafkaMessage(
                topic: topicPartition?.topic ?? "", partition: record.partition, offset: record.offset, key: key,
                value: value, headers: headers,
                timestampMs: timestampType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : timestamp))
    }

    /// Stores next-offsets for the background commit; call only after the database COMMIT.
    /// Partitions no longer assigned are skipped (the database, not Kafka, is the record of progress).
    public func storeOffsets(_ nextOffsets: [TopicPartition: Int64]) {
        let owned = nextOffsets.filter { assignment.contains($0.key) }
        guard !owned.isEmpty else { return }
        let list = Self.makeList(owned)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        _ = rd_kafka_offsets_store(client, list)
    }

    /// Moves a partition's fetch position (e.g. past a retention gap that was recorded).
    public func seek(_ partition: TopicPartition, to offset: Int64, timeoutMs: Int32) throws {
        let list = Self.makeList([partition: offset])
        defer { rd_kafka_topic_partition_list_destroy(list) }
        if let failure = rd_kafka_seek_partitions(client, list, timeoutMs) {
            defer { rd_kafka_error_destroy(failure) }
            throw KafkaError(code: rd_kafka_error_code(failure))
        }
        // Each partition's own outcome is in the list (e.g. `_STATE` for one not being fetched).
        let error = list.pointee.elems[0].err
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(code: error) }
    }

    /// Starts fetching `partition` again at `offset` after it stopped on an offset out of range.
    ///
    /// With `auto.offset.reset=error` such a partition is left in a fetch state where `seek` does
    /// not apply (librdkafka reports `_STATE` for it), so the partition is assigned again at the
    /// offset wanted. Under the eager protocol the whole assignment is given again: every other
    /// partition at `others[partition]` (the application's next offset), or where it stands now.
    public func restartFetch(
        _ partition: TopicPartition, at offset: Int64, others: [TopicPartition: Int64]
    ) throws {
        guard assignment.contains(partition) else { return }
        if String(cString: rd_kafka_rebalance_protocol(client)) == "COOPERATIVE" {
            let single = Self.makeList([partition: offset])
            defer { rd_kafka_topic_partition_list_destroy(single) }
            if let failure = rd_kafka_incremental_unassign(client, single) {
                defer { rd_kafka_error_destroy(failure) }
                throw KafkaError(code: rd_kafka_error_code(failure))
            }
            if let failure = rd_kafka_incremental_assign(client, single) {
                defer { rd_kafka_error_destroy(failure) }
                throw KafkaError(code: rd_kafka_error_code(failure))
            }
            return
        }
        var starts: [TopicPartition: Int64] = [:]
        let current = Self.makeList(Dictionary(uniqueKeysWithValues: assignment.map { ($0, Int64(RD_KAFKA_OFFSET_INVALID)) }))
        defer { rd_kafka_topic_partition_list_destroy(current) }
        _ = rd_kafka_position(client, current)
        for index in 0..<Int(current.pointee.cnt) {
            let element = current.pointee.elems[index]
            let each = TopicPartition(topic: String(cString: element.topic), partition: element.partition)
            starts[each] = others[each] ?? element.offset
        }
        starts[partition] = offset
        let list = Self.makeList(starts)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        let error = rd_kafka_assign(client, list)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(code: error) }
    }

    /// Low and high watermarks as last seen in fetch responses (no network call); nil if unknown.
    public func cachedWatermarks(_ partition: TopicPartition) -> (low: Int64, high: Int64)? {
        var low: Int64 = -1
        var high: Int64 = -1
        let error = rd_kafka_get_watermark_offsets(client, partition.topic, partition.partition, &low, &high)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR, high >= 0 else { return nil }
        return (low, high)
    }

    /// Low and high watermarks asked of the broker, waiting at most `timeoutMs`.
    public func queryWatermarks(_ partition: TopicPartition, timeoutMs: Int32) throws -> (low: Int64, high: Int64) {
        var low: Int64 = -1
        var high: Int64 = -1
        let error = rd_kafka_query_watermark_offsets(
            client, partition.topic, partition.partition, &low, &high, timeoutMs)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(code: error) }
        return (low, high)
    }

    /// Topic metadata from the cluster, waiting at most `timeoutMs`.
    public func topics(timeoutMs: Int32) throws -> [KafkaTopicMetadata] {
        try fetchMetadata(client, timeoutMs: timeoutMs)
    }

    /// Leaves the group (committing stored offsets) and destroys the client, each within a bound.
    /// Returns false when either had to be abandoned.
    @discardableResult
    public func close(timeoutMs: Int) -> Bool {
        guard !closed else { return true }
        closed = true
        nonisolated(unsafe) let handle = client
        let left = DedicatedThread.runBounded(name: "rdkafka-close", timeoutMs: timeoutMs / 2) {
            _ = rd_kafka_consumer_close(handle)
        }
        guard left else { return false }  // destroy would hang the same way; leave it to process exit
        return destroyBounded(client, context: context, timeoutMs: timeoutMs / 2)
    }

    private static func read(_ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> [TopicPartition] {
        (0..<Int(list.pointee.cnt)).map {
            let element = list.pointee.elems[$0]
            return TopicPartition(topic: String(cString: element.topic), partition: element.partition)
        }
    }

    private static func makeList(_ offsets: [TopicPartition: Int64]) -> UnsafeMutablePointer<
        rd_kafka_topic_partition_list_t
    > {
        let list = rd_kafka_topic_partition_list_new(Int32(offsets.count))!
        for (partition, offset) in offsets {
            rd_kafka_topic_partition_list_add(list, partition.topic, partition.partition).pointee.offset = offset
        }
        return list
    }
}
