import BillingContracts
import BillingRuntime

// suspense-resolver: matches or moves money nobody could identify.
// This build routes no event types yet: every message on its topics is dead-lettered with the
// reason "event type … is not handled on this topic" (never dropped, never blocking a partition).
WorkerMain.run(service: Services.suspenseResolver, defaults: .init(opsPort: 9105)) { _ in
    RoutedEventHandler<Never>(router: EventRouter([:])) { _, _ in }
}
