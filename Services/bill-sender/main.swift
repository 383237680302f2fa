import BillingContracts
import BillingRuntime

// bill-sender: delivers issued bills by each client's preferred channel.
// This build routes no event types yet: every message on its topics is dead-lettered with the
// reason "event type … is not handled on this topic" (never dropped, never blocking a partition).
WorkerMain.run(service: Services.billSender, defaults: .init(opsPort: 9104)) { _ in
    RoutedEventHandler<Never>(router: EventRouter([:])) { _, _ in }
}
