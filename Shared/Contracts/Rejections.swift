import BillingDomain
import FoundationEssentials

// What a service says when it cannot take an input: a rejection of the message itself
// (dead-lettered) or a refusal of an operator command by a business rule (recorded as the
// command's outcome). Both are values of the contract: their codes are stable and appear in
// dead-letter headers, metrics and `billing-ctl` output.

/// Why a message can never be processed. Permanent by definition: the message is recorded with
/// this reason in PostgreSQL, copied to `billing.dead-letter`, and its partition moves on.
public struct MessageRejection: Error, Sendable, CustomStringConvertible, Equatable {
    /// Short stable code for metrics, headers and queries (`invalid_json`, `unknown_type`, ...).
    public let code: String
    /// What is wrong, in words an operator understands. Never contains secrets.
    public let reason: String

    public init(code: String, reason: String) {
        self.code = code
        self.reason = reason
    }

    public init(_ envelope: EnvelopeError) {
        self.init(code: envelope.code, reason: envelope.description)
    }

    public var description: String { "\(code): \(reason)" }
}

/// An operator command refused by a business rule: recorded as the command's outcome (`refused`,
/// with this code and reason), nothing posted or changed, and the worker carries on. The one
/// refusal type of every command-handling service.
public struct Refusal: Error, Sendable, Equatable, CustomStringConvertible {
    /// Short stable code (`insufficient_credit`, `invalid_state`, ...).
    public let code: String
    /// What rule the command broke, in words an operator understands.
    public let reason: String

    public init(code: String, reason: String) {
        self.code = code
        self.reason = reason
    }

    public init(_ code: String, _ reason: String) { self.init(code: code, reason: reason) }

    public init(_ error: DomainError) { self.init(code: error.code, reason: error.description) }

    public var description: String { "\(code): \(reason)" }
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

/// A closed set of CloudEvents types (a service's commands): each case names its type, and a type
/// names at most one case.
public protocol EventTypeKind: Sendable, CaseIterable {
    var type: String { get }
}

extension EventTypeKind {
    /// The case of a CloudEvents type; nil for a type outside the set.
    public init?(type: String) {
        guard let kind = Self.allCases.first(where: { $0.type == type }) else { return nil }
        self = kind
    }
}
