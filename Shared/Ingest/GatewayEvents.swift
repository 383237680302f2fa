import BillingDomain
import FoundationEssentials

/// A Stripe-style gateway event, read only after its signature has been checked on the raw bytes.
/// Amounts are integers in minor units, as the gateway sends them; nothing goes through floating point.
public struct GatewayEvent: Sendable, Equatable, Decodable {
    public struct EventData: Sendable, Equatable, Decodable {
        public let object: GatewayObject
    }

    public let id: String
    public let type: String
    public let created: Int64
    public let data: EventData

    /// The event in `body`: a JSON object, or (old API exports) an array holding exactly one.
    public static func parse(_ body: [UInt8]) throws(StatementFileError) -> GatewayEvent {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            if body.first(where: { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }) == UInt8(ascii: "[") {
                let events = try decoder.decode([GatewayEvent].self, from: Data(body))
                guard events.count == 1 else {
                    throw StatementFileError("invalid_event", "an array of \(events.count) events, not one", at: "body")
                }
                return events[0]
            }
            return try decoder.decode(GatewayEvent.self, from: Data(body))
        } catch let error as StatementFileError {
            throw error
        } catch {
            throw StatementFileError("invalid_event", "not a gateway event: \(error)", at: "body")
        }
    }
}

/// The fields of the event's object that money depends on (payment intent, charge, dispute).
public struct GatewayObject: Sendable, Equatable, Decodable {
    public struct Refunds: Sendable, Equatable, Decodable {
        public let data: [Refund]
    }

    public struct Refund: Sendable, Equatable, Decodable {
        public let id: String
        public let amount: Int64
        public let currency: String
        public let created: Int64?
        public let metadata: [String: String]?
    }

    public struct BalanceTransaction: Sendable, Equatable, Decodable {
        public let amount: Int64
        public let fee: Int64?
        public let currency: String?
    }

    public struct BillingDetails: Sendable, Equatable, Decodable {
        public let name: String?
    }

    public let id: String
    public let object: String
    public let amount: Int64?
    public let amountReceived: Int64?
    public let currency: String?
    public let metadata: [String: String]?
    public let charge: String?
    public let paymentIntent: String?
    public let amountRefunded: Int64?
    public let refunds: Refunds?
    public let balanceTransactions: [BalanceTransaction]?
    public let reason: String?
    public let status: String?
    public let billingDetails: BillingDetails?
    public let description: String?

    enum CodingKeys: String, CodingKey {
        case id, object, amount, amountReceived, currency, metadata, charge, paymentIntent, amountRefunded, refunds
        case balanceTransactions, reason, status, billingDetails, description
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        object = try container.decode(String.self, forKey: .object)
        amount = try container.decodeIfPresent(Int64.self, forKey: .amount)
        amountReceived = try container.decodeIfPresent(Int64.self, forKey: .amountReceived)
        currency = try container.decodeIfPresent(String.self, forKey: .currency)
        // Metadata values are strings; anything else in them is ignored rather than misread.
        metadata = (try? container.decodeIfPresent([String: String].self, forKey: .metadata)) ?? nil
        // `charge` and `payment_intent` are ids, or expanded objects with an id.
        charge = Self.id(container, .charge)
        paymentIntent = Self.id(container, .paymentIntent)
        amountRefunded = try container.decodeIfPresent(Int64.self, forKey: .amountRefunded)
        refunds = try? container.decodeIfPresent(Refunds.self, forKey: .refunds)
        balanceTransactions = try? container.decodeIfPresent([BalanceTransaction].self, forKey: .balanceTransactions)
        reason = try? container.decodeIfPresent(String.self, forKey: .reason)
        status = try? container.decodeIfPresent(String.self, forKey: .status)
        billingDetails = try? container.decodeIfPresent(BillingDetails.self, forKey: .billingDetails)
        description = try? container.decodeIfPresent(String.self, forKey: .description)
    }

    private struct Identified: Decodable { let id: String }

    private static func id(_ container: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) -> String? {
        if let text = try? container.decodeIfPresent(String.self, forKey: key) { return text }
        return (try? container.decodeIfPresent(Identified.self, forKey: key))?.id
    }
}

/// What a gateway event means for the books.
public enum GatewayMovement: Sendable, Equatable {
    /// Money received for a client (to identify): a payment intent that succeeded, a legacy
    /// charge, or the funds of a lost dispute given back.
    case payment(paymentID: String, amountMinor: Int64, currency: String, receivedOn: String, clues: PaymentClues)
    /// Money taken back from a received payment: a refund through the gateway, or a dispute's
    /// funds withdrawn (chargeback).
    case reversal(
        reversalID: String, paymentID: String, amountMinor: Int64, currency: String, on: String, reason: String)
    /// A refund the system asked for (its id in the refund's metadata) seen paid by the gateway.
    case refundPaid(refundID: String, paidOn: String, reference: String)
    /// The gateway's fee for the event (reported; not booked by this build).
    case fee(amountMinor: Int64, currency: String)
    /// Nothing moves (an inquiry, a charge whose payment intent is booked instead), and why.
    case nothing(String)
}

/// Maps gateway events to movements. Payment ids are `GW-<payment intent id>` (or the charge id
/// for charges without an intent), so every event about one payment names the same payment.
public enum GatewayEventMapper {
    /// Event types this mapper understands; any other type is ignored with a log line and a metric.
    public static let handledTypes: Set<String> = [
        "payment_intent.succeeded", "charge.succeeded", "charge.refunded", "charge.dispute.created",
        "charge.dispute.funds_withdrawn", "charge.dispute.funds_reinstated",
    ]

    public static func movements(_ event: GatewayEvent, accountKeys: [String]) throws(StatementFileError)
        -> [GatewayMovement]
    {
        let object = event.data.object
        let day = LocalDate(daysSinceEpoch: Int(event.created / 86_400)).description
        func currency(_ code: String?) throws(StatementFileError) -> String {
            guard let code, let known = try? Currency(code: code.uppercased()) else {
                throw StatementFileError(
                    "unknown_currency", "currency '\(code ?? "none")' is not ISO 4217", at: event.id)
            }
            return known.code
        }
        func positive(_ amount: Int64?, _ what: String) throws(StatementFileError) -> Int64 {
            guard let amount, amount > 0 else {
                throw StatementFileError("invalid_amount", "\(what) is missing or not positive", at: event.id)
            }
            return amount
        }
        let paymentID = "GW-" + (object.paymentIntent ?? object.charge ?? object.id)
        switch event.type {
        case "payment_intent.succeeded":
            let metadata = object.metadata ?? [:]
            let stated = accountKeys.lazy.compactMap { metadata[$0] }.first
            return [
                .payment(
                    paymentID: "GW-" + object.id,
                    amountMinor: try positive(object.amountReceived ?? object.amount, "amount_received"),
                    currency: try currency(object.currency), receivedOn: day,
                    clues: PaymentClues(
                        texts: metadata.keys.sorted().map { metadata[$0]! } + [object.description].compactMap { $0 },
                        statedAccount: stated))
            ]
        case "charge.succeeded":
            guard object.paymentIntent == nil else {
                return [.nothing("the charge of payment intent \(object.paymentIntent!) is booked with the intent")]
            }
            let metadata = object.metadata ?? [:]
            return [
                .payment(
                    paymentID: "GW-" + object.id, amountMinor: try positive(object.amount, "amount"),
                    currency: try currency(object.currency), receivedOn: day,
                    clues: PaymentClues(
                        texts: metadata.keys.sorted().map { metadata[$0]! } + [object.description].compactMap { $0 },
                        statedAccount: accountKeys.lazy.compactMap { metadata[$0] }.first))
            ]
        case "charge.refunded":
            let refunds = object.refunds?.data ?? []
            guard !refunds.isEmpty else {
                return [.nothing("a refund event without its refunds listed; nothing booked")]
            }
            var movements: [GatewayMovement] = []
            for refund in refunds {
                let on = refund.created.map { LocalDate(daysSinceEpoch: Int($0 / 86_400)).description } ?? day
                if let asked = refund.metadata?["refund_id"] {
                    movements.append(.refundPaid(refundID: asked, paidOn: on, reference: refund.id))
                } else {
                    movements.append(
                        .reversal(
                            reversalID: "GW-" + refund.id, paymentID: paymentID,
                            amountMinor: try positive(refund.amount, "refund amount"),
                            currency: try currency(refund.currency), on: on, reason: "refund"))
                }
            }
            return movements
        case "charge.dispute.created", "charge.dispute.funds_withdrawn":
            let withdrawn = (object.balanceTransactions ?? []).filter { $0.amount < 0 }
            guard !withdrawn.isEmpty else {
                return [.nothing("dispute \(object.id) moved no money (an inquiry, or funds not yet withdrawn)")]
            }
            var movements: [GatewayMovement] = [
                .reversal(
                    reversalID: "GW-DW-" + object.id, paymentID: paymentID,
                    amountMinor: withdrawn.reduce(0) { $0 - $1.amount },
                    currency: try currency(withdrawn[0].currency ?? object.currency), on: day,
                    reason: "chargeback" + (object.reason.map { ": \($0)" } ?? ""))
            ]
            let fees = withdrawn.reduce(Int64(0)) { $0 + ($1.fee ?? 0) }
            if fees > 0 {
                movements.append(
                    .fee(amountMinor: fees, currency: try currency(withdrawn[0].currency ?? object.currency)))
            }
            return movements
        case "charge.dispute.funds_reinstated":
            let reinstated = (object.balanceTransactions ?? []).filter { $0.amount > 0 }
            guard !reinstated.isEmpty else { return [.nothing("dispute \(object.id) reinstated no funds")] }
            return [
                .payment(
                    paymentID: "GW-DR-" + object.id, amountMinor: reinstated.reduce(0) { $0 + $1.amount },
                    currency: try currency(reinstated[0].currency ?? object.currency), receivedOn: day,
                    clues: PaymentClues(texts: [paymentID]))
            ]
        default:
            return [.nothing("event type \(event.type) is not handled")]
        }
    }
}
