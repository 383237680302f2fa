import BillingContracts
import BillingIngest
import BillingKafka
import BillingRuntime
import BillingSupport
import PaymentIngestCore

/// payment-ingest: where money enters.
///
/// Consumes bank statement files (`billing.bank-statements.raw`: camt.052/053/054, MT940, CSV by
/// mapping), and its copies of accounts (`billing.accounts`) and documents (`billing.documents`)
/// for identification. Every file, statement and line is stored (the raw file with the parser
/// version); each booked line is deduplicated by its identity, identified, and published as an
/// identified payment (`billing.payments`, keyed by account), an unidentified one
/// (`billing.payments.unidentified`), a payment reversal, or a refund seen paid. Payment gateway
/// events (`billing.gateway-events.raw`, signature checked on the raw bytes), payment registries
/// (`billing.payment-registries.raw`) and cash desk commands (`billing.cash-desk.commands`) are
/// booked the same way.
struct IngestHandler: WorkerHandler {
    let decoder: IngestDecoder

    static let metricFamilies = [PaymentIngestMetrics.gatewayEventsDuplicate, PaymentIngestMetrics.gatewayEventsIgnored]

    func decode(_ message: KafkaMessage) throws(MessageRejection) -> (eventID: String?, payload: IngestInput) {
        (nil, try decoder.decode(message))
    }

    func apply(_ batch: [DecodedMessage<IngestInput>], in context: BatchContext) throws {
        try IngestBatch(context: context, settings: decoder.settings).apply(batch)
    }
}

/// payment-ingest's own counters (beside the runtime's).
enum PaymentIngestMetrics {
    static let gatewayEventsDuplicate = MetricFamily.counter(
        "billing_gateway_events_duplicate_total", "Gateway events received again (same event id); nothing booked.")
    /// Not labelled by event type: the type comes from the gateway, and labels come only from closed
    /// sets; the type is in the log line and the stored event.
    static let gatewayEventsIgnored = MetricFamily.counter(
        "billing_gateway_events_ignored_total", "Gateway events of a type payment-ingest does not handle.")
}

// Statement files are up to 32 MiB each: 4 per batch keeps a batch's memory bounded and still
// shares the transaction's cost (1 per batch: 9.4k lines/s; 4: 14.2k; 8: 13.5k, in ingest-bench).
WorkerMain.run(
    service: Services.paymentIngest, defaults: .init(opsPort: 9101, messageBytesMax: 32 << 20, pollBatchCountMax: 4)
) { _ in
    IngestHandler(decoder: IngestDecoder(settings: try IngestSettings.fromEnvironment(ProcessEnvironment.current())))
}
