import BillingContracts
import BillingKafka
import FoundationEssentials

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

/// Decodes an event's JSON body into a contract type, turning decoding errors into rejections
/// that name the field in the sender's words (`field due_on has the wrong type`).
public enum EventBody {
    public static func decode<T: Decodable>(_ event: CloudEvent, as type: T.Type = T.self) throws(MessageRejection)
        -> T
    {
        try mapped { try ContractJSON.decoder().decode(T.self, from: Data(event.data)) }
    }

    /// As `decode`, and unknown fields are refused (`unknown field due_date`).
    public static func decodeStrict<T: StrictContract>(_ event: CloudEvent, as type: T.Type = T.self)
        throws(MessageRejection) -> T
    {
        try mapped { try ContractJSON.decodeStrict(T.self, from: Data(event.data)) }
    }

    public static func invalid(_ problem: String) -> MessageRejection {
        MessageRejection(EnvelopeError.invalidPayload(problem))
    }

    private static func mapped<T>(_ body: () throws -> T) throws(MessageRejection) -> T {
        do {
            return try body()
        } catch DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty {
            throw MessageRejection(EnvelopeError.invalidJSON("\(context.debugDescription)"))
        } catch DecodingError.dataCorrupted(let context) {
            throw invalid(context.debugDescription)
        } catch let DecodingError.keyNotFound(key, context) {
            throw invalid("field \(path(context.codingPath + [key])) is missing")
        } catch let DecodingError.typeMismatch(_, context) {
            throw invalid("field \(path(context.codingPath)) has the wrong type")
        } catch let DecodingError.valueNotFound(_, context) {
            throw invalid("field \(path(context.codingPath)) is null")
        } catch {
            throw invalid("\(error)")
        }
    }

    /// `lines[2].unitPrice` → `lines.2.unit_price`.
    static func path(_ keys: [any CodingKey]) -> String {
        keys.map { key in key.intValue.map(String.init) ?? ContractJSON.snakeCase(key.stringValue) }
            .joined(separator: ".")
    }
}
