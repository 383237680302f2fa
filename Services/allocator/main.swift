import BillingContracts
import BillingRuntime

// allocator: the owner of accounts receivable, the ledger and allocation.
// This build routes no event types yet: every message on its topics is dead-lettered with the
// reason "event type … is not handled on this topic" (never dropped, never blocking a partition).
WorkerMain.run(service: Services.allocator, defaults: .init(opsPort: 9102)) { _ in
    RoutedEventHandler<Never>(router: EventRouter([:])) { _, _ in }
}
