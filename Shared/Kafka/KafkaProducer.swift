import BillingSupport
import CRdKafka
import Logging

/// The outcome of producing one message.
public enum KafkaDeliveryResult: Sendable {
    case delivered(partition: Int32, offset: Int64)
    case failed(KafkaError)
    /// No delivery report arrived within the wait; the message may still be delivered later.
    case pending

    public var isDelivered: Bool {
        if case .delivered = self { return true }
        return false
    }
}

/// One produced message's delivery report, filled in by the C callback on the thread that polls.
///
/// - Important: Read it only on the producer's thread (the one calling `send`, `poll` or `flush`).
public final class KafkaDeliveryTicket: @unchecked Sendable {
    public fileprivate(set) var result: KafkaDeliveryResult = .pending

    public var isPending: Bool {
        if case .pending = result { return true }
        return false
    }
}

/// An idempotent producer (`enable.idempotence=true`, `acks=all`, `partitioner=murmur2_random`).
///
/// - Important: One thread at a time: `send` blocks while it waits for delivery reports, and the
///   reports are served on the calling thread. Never call it from Swift's cooperative pool.
public final class KafkaProducer: @unchecked Sendable {
    private let client: OpaquePointer
    private let context: KafkaClientContext
    private var closed = false

    public init(configuration: KafkaConfiguration, logger: Logger? = nil) throws {
        context = KafkaClientContext(logger: logger)
        client = try makeClient(
            type: RD_KAFKA_PRODUCER, configuration: configuration.over(KafkaConfiguration.producerDefaults),
            context: context
        ) { conf in
            rd_kafka_conf_set_dr_msg_cb(conf) { _, message, _ in
                guard let message, let opaque = message.pointee._private else { return }
                let receipt = Unmanaged<KafkaDeliveryTicket>.fromOpaque(opaque).takeRetainedValue()
                if message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR {
                    receipt.result = .delivered(partition: message.pointee.partition, offset: message.pointee.offset)
                } else {
                    receipt.result = .failed(KafkaError(code: message.pointee.err))
                }
            }
        }
    }

    deinit {
        if !closed { _ = destroyBounded(client, context: context, timeoutMs: 5_000) }
    }

    /// Produces `messages` in order and waits up to `timeoutMs` in all for their delivery reports.
    ///
    /// Messages with the same key go to the same partition and, with idempotence, arrive in order.
    /// Throws only when librdkafka raised a fatal error (the producer must then be recreated);
    /// per-message failures and timeouts are in the returned results.
    public func send(_ messages: [KafkaOutgoingMessage], timeoutMs: Int) throws -> [KafkaDeliveryResult] {
        let deadline = monotonicMs() + Int64(timeoutMs)
        let tickets = messages.map { enqueue($0, deadlineMs: deadline) }
        while tickets.contains(where: \.isPending) {
            let remaining = deadline - monotonicMs()
            if remaining <= 0 { break }
            rd_kafka_flush(client, Int32(min(remaining, 200)))
        }
        try throwIfFatal()
        return tickets.map(\.result)
    }

    /// Hands one message to librdkafka (which copies it) and returns its ticket.
    /// When the local queue is full, serves delivery reports until there is room or `deadlineMs`.
    public func enqueue(_ message: KafkaOutgoingMessage, deadlineMs: Int64) -> KafkaDeliveryTicket {
        let ticket = KafkaDeliveryTicket()
        while true {
            let error = enqueue(message, receipt: ticket)
            if error == RD_KAFKA_RESP_ERR_NO_ERROR { break }
            if error == RD_KAFKA_RESP_ERR__QUEUE_FULL, monotonicMs() < deadlineMs {
                rd_kafka_poll(client, 50)
                continue
            }
            ticket.result = .failed(KafkaError(code: error))
            break
        }
        return ticket
    }

    /// Serves delivery reports for up to `timeoutMs`.
    public func poll(timeoutMs: Int32) throws {
        rd_kafka_poll(client, timeoutMs)
        try throwIfFatal()
    }

    /// Hands one message to librdkafka (which copies it). The receipt is retained until its report.
    private func enqueue(_ message: KafkaOutgoingMessage, receipt: KafkaDeliveryTicket) -> rd_kafka_resp_err_t {
        let headers = rd_kafka_headers_new(message.headers.count)!
        for header in message.headers {
            if let value = header.value {
                value.withUnsafeBytes { bytes in
                    _ = rd_kafka_header_add(headers, header.name, -1, bytes.baseAddress, bytes.count)
                }
            } else {
                _ = rd_kafka_header_add(headers, header.name, -1, nil, 0)
            }
        }
        let opaque = Unmanaged.passRetained(receipt).toOpaque()
        let error: rd_kafka_resp_err_t = message.topic.withCString { topic in
            message.value.withUnsafeBytes { value in
                withOptionalBytes(message.key) { keyPointer, keyCount in
                    var values = [rd_kafka_vu_t](repeating: rd_kafka_vu_t(), count: message.partition == nil ? 6 : 7)
                    values[0].vtype = RD_KAFKA_VTYPE_TOPIC
                    values[0].u.cstr = topic
                    values[1].vtype = RD_KAFKA_VTYPE_VALUE
                    values[1].u.mem.ptr = UnsafeMutableRawPointer(mutating: value.baseAddress)
                    values[1].u.mem.size = value.count
                    values[2].vtype = RD_KAFKA_VTYPE_KEY
                    values[2].u.mem.ptr = UnsafeMutableRawPointer(mutating: keyPointer)
                    values[2].u.mem.size = keyCount
                    values[3].vtype = RD_KAFKA_VTYPE_HEADERS
                    values[3].u.headers = headers
                    values[4].vtype = RD_KAFKA_VTYPE_OPAQUE
                    values[4].u.ptr = opaque
                    values[5].vtype = RD_KAFKA_VTYPE_MSGFLAGS
                    values[5].u.i = RD_KAFKA_MSG_F_COPY
                    if let partition = message.partition {
                        values[6].vtype = RD_KAFKA_VTYPE_PARTITION
                        values[6].u.i32 = partition
                    }
                    guard let failure = rd_kafka_produceva(client, values, values.count) else {
                        return RD_KAFKA_RESP_ERR_NO_ERROR
                    }
                    defer { rd_kafka_error_destroy(failure) }
                    return rd_kafka_error_code(failure)
                }
            }
        }
        if error != RD_KAFKA_RESP_ERR_NO_ERROR {
            // Not enqueued: librdkafka owns neither the headers nor the receipt.
            rd_kafka_headers_destroy(headers)
            Unmanaged<KafkaDeliveryTicket>.fromOpaque(opaque).release()
        }
        return error
    }

    private func throwIfFatal() throws {
        var text = [CChar](repeating: 0, count: 512)
        let fatal = rd_kafka_fatal_error(client, &text, text.count)
        if fatal != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(code: fatal, message: cString(text), isFatal: true)
        }
    }

    /// Topic metadata from the cluster, waiting at most `timeoutMs`.
    public func topics(timeoutMs: Int32) throws -> [KafkaTopicMetadata] {
        try fetchMetadata(client, timeoutMs: timeoutMs)
    }

    /// Whether a broker answered a metadata request within `timeoutMs`.
    public func isBrokerReachable(timeoutMs: Int32) -> Bool {
        (try? fetchMetadata(client, timeoutMs: timeoutMs)) != nil
    }

    /// Flushes what is queued (bounded) and destroys the client (bounded). Returns false if either timed out.
    @discardableResult
    public func close(timeoutMs: Int) -> Bool {
        guard !closed else { return true }
        closed = true
        let flushed = rd_kafka_flush(client, Int32(timeoutMs / 2)) == RD_KAFKA_RESP_ERR_NO_ERROR
        return destroyBounded(client, context: context, timeoutMs: timeoutMs / 2) && flushed
    }
}

private func withOptionalBytes<R>(_ bytes: [UInt8]?, _ body: (UnsafeRawPointer?, Int) -> R) -> R {
    guard let bytes else { return body(nil, 0) }
    return bytes.withUnsafeBytes { body($0.baseAddress, $0.count) }
}
