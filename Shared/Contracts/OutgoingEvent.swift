import FoundationEssentials

/// An event a service's decisions say to publish: its topic, key, CloudEvents type and JSON body.
/// The worker gives it an id, its source and the batch's time when it hands it to the outbox.
public struct OutgoingEvent: Sendable {
    /// The CloudEvents id when the event must keep one across retries (a command whose id is its
    /// idempotency key); nil for a fresh id.
    public let id: String?
    public let topic: String
    public let key: String
    public let type: String
    public let data: [UInt8]

    public init<T: Encodable>(topic: String, key: String, type: String, _ body: T, id: String? = nil) {
        self.id = id
        self.topic = topic
        self.key = key
        self.type = type
        self.data = ContractJSON.encode(body)
    }

    /// The body decoded as `T` (for readers and tests).
    public func body<T: Decodable>(as type: T.Type) throws -> T {
        try ContractJSON.decoder().decode(T.self, from: Data(data))
    }
}
