import CoreMetrics

/// Where a transient failure was retried: the `stage` label of `billing_retries_total`.
public enum RetryStage: String, CaseIterable, Sendable {
    /// The outbox relay's read or mark round trip.
    case relay
    /// Claiming newly assigned partitions (reading their committed offsets).
    case claim
    /// A batch attempt that failed before it could be split (connection lost, serialization).
    case attempt
    /// One message applied on its own.
    case message
    /// A whole batch.
    case batch
    /// Re-reading a partition after librdkafka reported its offset out of range.
    case offsetReset = "offset_reset"
    /// Recording a log that started over.
    case logRestart = "log_restart"
    /// Seeking a partition to its committed offset.
    case seek
}

/// The worker runtime's metric families, declared at start, and handles on their series.
///
/// Labels come only from closed sets: the topics the worker consumes (its configuration), the
/// retry stages, and the partitions it is assigned (lag and stall gauges, present while assigned).
public struct RuntimeMetrics: Sendable {
    public let metrics: Metrics
    let consumed: [String: Counter]
    let deadLettered: [String: Counter]
    let retries: [RetryStage: Counter]
    let processed: Counter
    let duplicates: Counter
    let stale: Counter
    let consumerErrors: Counter
    let fencedBatches: Counter
    let offsetGaps: Counter
    let outboxPublished: Counter
    let outboxTableRead: Counter
    let outboxDeliveryFailures: Counter
    let outboxBacklog: Gauge
    let ready: Gauge
    let batchDuration: Timer
    let commitLatency: Timer

    public static let consumerLag = "billing_consumer_lag"
    public static let partitionStalled = "billing_partition_stalled"
    public static let heapAllocated = "billing_heap_allocated_bytes"
    public static let heapResident = "billing_heap_resident_bytes"

    /// Every family the runtime records, for the topics it consumes.
    public static func families(topics: [String]) -> [MetricFamily] {
        let byTopic = MetricFamily.each("topic", topics)
        return [
            .counter("billing_messages_consumed_total", "Messages read from Kafka, by topic.", labels: byTopic),
            .counter("billing_messages_processed_total", "Messages applied and committed."),
            .counter("billing_messages_duplicate_total", "Messages skipped as already applied (same event id)."),
            .counter(
                "billing_messages_stale_total", "Messages below the committed offset (redelivered), skipped."),
            .counter(
                "billing_messages_dead_lettered_total",
                "Messages rejected permanently, by topic (the reason is in the dead-letter record and the log).",
                labels: byTopic),
            .counter(
                "billing_retries_total", "Transient failures retried, by stage.",
                labels: MetricFamily.each("stage", RetryStage.allCases.map(\.rawValue))),
            .counter(
                "billing_consumer_errors_total",
                "Consumer errors reported by librdkafka (the code is in the log line)."),
            .counter(
                "billing_fenced_batches_total", "Batches dropped because another replica took the partition."),
            .counter(
                "billing_offset_gaps_total",
                "Offset jumps recorded: messages lost before they were read, or a log that started over."),
            .counter(
                "billing_outbox_published_total", "Outbox events acknowledged by Kafka (their rows marked sent)."),
            .counter(
                "billing_outbox_table_read_total",
                "Outbox events the relay read back from PostgreSQL (other replicas' rows, rows left from before a "
                    + "restart or a failed delivery) rather than taking them in memory from this process's loops."),
            .counter(
                "billing_outbox_delivery_failures_total", "Outbox deliveries that failed and will be resent."),
            .gauge("billing_outbox_backlog", "Outbox events not yet sent."),
            .gauge("billing_ready", "1 when the database and a broker answered the last readiness check."),
            .gauge(heapAllocated, "Bytes in live allocations (jemalloc)."),
            .gauge(
                heapResident,
                "Bytes jemalloc keeps resident: live allocations, freed pages not yet returned, its metadata."),
            MetricFamily(
                .gauge, consumerLag, "Messages in the partition after the committed offset, per assigned partition.",
                series: .whileAssigned(labelNames: ["topic", "partition"])),
            MetricFamily(
                .gauge, partitionStalled,
                "1 when messages wait in the assigned partition and it has not advanced for WORKER_STALL_AFTER_MS.",
                series: .whileAssigned(labelNames: ["topic", "partition"])),
            .histogram("billing_batch_duration_seconds", "Time to apply and commit one batch."),
            .histogram("billing_commit_latency_seconds", "From a message's produce timestamp to its commit."),
        ]
    }

    /// Declares the runtime's families (and `serviceFamilies`, the handler's own) on `metrics`.
    public init(metrics: Metrics, topics: [String], serviceFamilies: [MetricFamily] = []) {
        metrics.declare(Self.families(topics: topics) + serviceFamilies)
        self.metrics = metrics
        var consumed: [String: Counter] = [:]
        var deadLettered: [String: Counter] = [:]
        for topic in topics {
            consumed[topic] = metrics.counter("billing_messages_consumed_total", [("topic", topic)])
            deadLettered[topic] = metrics.counter("billing_messages_dead_lettered_total", [("topic", topic)])
        }
        self.consumed = consumed
        self.deadLettered = deadLettered
        retries = Dictionary(
            uniqueKeysWithValues: RetryStage.allCases.map {
                ($0, metrics.counter("billing_retries_total", [("stage", $0.rawValue)]))
            })
        processed = metrics.counter("billing_messages_processed_total")
        duplicates = metrics.counter("billing_messages_duplicate_total")
        stale = metrics.counter("billing_messages_stale_total")
        consumerErrors = metrics.counter("billing_consumer_errors_total")
        fencedBatches = metrics.counter("billing_fenced_batches_total")
        offsetGaps = metrics.counter("billing_offset_gaps_total")
        outboxPublished = metrics.counter("billing_outbox_published_total")
        outboxTableRead = metrics.counter("billing_outbox_table_read_total")
        outboxDeliveryFailures = metrics.counter("billing_outbox_delivery_failures_total")
        outboxBacklog = metrics.gauge("billing_outbox_backlog")
        ready = metrics.gauge("billing_ready")
        batchDuration = metrics.timer("billing_batch_duration_seconds")
        commitLatency = metrics.timer("billing_commit_latency_seconds")
    }

    func retried(_ stage: RetryStage) { retries[stage]?.increment() }
}
