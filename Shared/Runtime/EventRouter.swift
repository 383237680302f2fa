import BillingContracts
import BillingKafka

/// Decodes CloudEvents by `ce_type` for handlers of event topics.
///
/// A message without valid CloudEvents headers, with a content type other than JSON, or with a
/// type this router does not know is rejected with a precise reason (and dead-lettered).
public struct EventRouter<Payload: Sendable>: Sendable {
    public typealias Decode = @Sendable (CloudEvent) throws(MessageRejection) -> Payload

    private let routes: [String: Decode]

    public init(_ routes: [String: Decode]) {
        self.routes = routes
    }

    public var types: [String] { routes.keys.sorted() }

    public func decode(_ message: KafkaMessage) throws(MessageRejection) -> (eventID: String?, payload: Payload) {
        let event: CloudEvent
        do {
            event = try CloudEvent.decode(header: { message.headers.text($0) }, value: message.value)
        } catch {
            throw MessageRejection(error)
        }
        guard let decode = routes[event.type] else {
            throw MessageRejection(EnvelopeError.unknownType(event.type))
        }
        return (event.id, try decode(event))
    }
}

/// A handler built from an `EventRouter` and a batch-apply function: the shape of every worker
/// whose topics carry CloudEvents.
public struct RoutedEventHandler<Payload: Sendable>: WorkerHandler {
    public typealias Apply = @Sendable ([DecodedMessage<Payload>], BatchContext) throws -> Void

    public let router: EventRouter<Payload>
    private let applyBatch: Apply

    public init(router: EventRouter<Payload>, apply: @escaping Apply) {
        self.router = router
        self.applyBatch = apply
    }

    public func decode(_ message: KafkaMessage) throws(MessageRejection) -> (eventID: String?, payload: Payload) {
        try router.decode(message)
    }

    public func apply(_ batch: [DecodedMessage<Payload>], in context: BatchContext) throws {
        try applyBatch(batch, context)
    }
}
