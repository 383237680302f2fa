import BillingContracts
import BillingRuntime

// invoicer: the owner of financial documents and their legal numbering.
// This build routes no event types yet: every message on its topics is dead-lettered with the
// reason "event type … is not handled on this topic" (never dropped, never blocking a partition).
WorkerMain.run(service: Services.invoicer, defaults: .init(opsPort: 9103)) { _ in
    RoutedEventHandler<Never>(router: EventRouter([:])) { _, _ in }
}
