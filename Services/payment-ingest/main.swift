import BillingContracts
import BillingRuntime

// payment-ingest: where money enters (bank statements, gateway webhooks, registries, cash desks).
// This build routes no event types yet: every message on its topics is dead-lettered with the
// reason "event type … is not handled on this topic" (never dropped, never blocking a partition).
WorkerMain.run(service: Services.paymentIngest, defaults: .init(opsPort: 9101, messageBytesMax: 32 << 20)) { _ in
    RoutedEventHandler<Never>(router: EventRouter([:])) { _, _ in }
}
