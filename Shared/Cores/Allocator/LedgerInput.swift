import BillingContracts
import BillingDomain
import FoundationEssentials

/// One message on the allocator's topics, decoded and checked for shape (not yet against the
/// ledger: that happens inside the batch transaction, with the accounts locked).
public enum LedgerInput: Sendable {
    case payment(Booked<PaymentIdentified, MoneyFields>)
    case unidentified(Booked<PaymentUnidentified, MoneyFields>)
    case reversal(Booked<PaymentReversed, MoneyFields>)
    case bankFee(Booked<BankFee, MoneyFields>)
    case document(Booked<DocumentPosted, DocumentFields>)
    case command(LedgerCommand)

    /// The account number the message is about, if it names one.
    public var accountNumbers: [String] {
        switch self {
        case .payment(let payment): return [payment.account]
        case .unidentified, .bankFee: return []
        case .reversal(let reversal): return reversal.account.map { [$0] } ?? []
        case .document(let document): return [document.account]
        case .command(let command): return command.accountNumbers
        }
    }
}

/// An input as it came (`body`, whose fields read through: `payment.paymentId`) and its fields
/// parsed into domain values once, when it was decoded (`fields`): the batch books these and never
/// parses the text again.
@dynamicMemberLookup
public struct Booked<Body: Sendable, Fields: Sendable>: Sendable {
    public let body: Body
    public let fields: Fields

    public init(body: Body, fields: Fields) {
        self.body = body
        self.fields = fields
    }

    public subscript<Value>(dynamicMember path: KeyPath<Body, Value>) -> Value { body[keyPath: path] }
}

/// A payment's, a reversal's or a fee's money: the amount in its currency, its day, and the
/// ledger account of the channel it came through.
public struct MoneyFields: Sendable {
    public let amount: Money
    public let on: LocalDate
    public let channel: LedgerAccount

    public init(amount: Money, on: LocalDate, channel: LedgerAccount) {
        self.amount = amount
        self.on = on
        self.channel = channel
    }
}

/// A posted document's kind, amounts and dates.
public struct DocumentFields: Sendable {
    public let kind: DocumentKind
    public let net: Money
    public let tax: Money
    public let total: Money
    public let postedOn: LocalDate
    public let dueOn: LocalDate?
}

/// An operator command: its id (the CloudEvents id), its kind, and its body.
public struct LedgerCommand: Sendable {
    /// The commands on `billing.ledger.commands`, one a CloudEvents type (`LedgerTypes.commands`).
    public enum Kind: EventTypeKind {
        case accountOpen, accountUpdate, accountSuspend, accountReactivate, accountTerminate
        case paymentRecord, refund, refundsExported, refundPaid, transfer, writeOff

        /// The kind of a CloudEvents type; nil for a type that is no ledger command.
        public var type: String {
            switch self {
            case .accountOpen: return LedgerTypes.accountOpen
            case .accountUpdate: return LedgerTypes.accountUpdate
            case .accountSuspend: return LedgerTypes.accountSuspend
            case .accountReactivate: return LedgerTypes.accountReactivate
            case .accountTerminate: return LedgerTypes.accountTerminate
            case .paymentRecord: return LedgerTypes.paymentRecord
            case .refund: return LedgerTypes.refund
            case .refundsExported: return LedgerTypes.refundsExported
            case .refundPaid: return LedgerTypes.refundPaid
            case .transfer: return LedgerTypes.transfer
            case .writeOff: return LedgerTypes.writeOff
            }
        }
    }

    public enum Body: Sendable {
        case settings(AccountSettingsCommand)
        case state(AccountStateCommand)
        case money(MoneyCommand)
        case payout(RefundPayoutCommand)
    }

    public let id: String
    public let kind: Kind
    public let body: Body

    public init(id: String, kind: Kind, body: Body) {
        self.id = id
        self.kind = kind
        self.body = body
    }

    /// The CloudEvents type, as command outcomes record it.
    public var type: String { kind.type }

    public var origin: CommandOrigin {
        switch body {
        case .settings(let command): return command.origin
        case .state(let command): return command.origin
        case .money(let command): return command.origin
        case .payout(let command): return command.origin
        }
    }

    /// The account the command is about (the first of `accountNumbers`).
    public var account: String? { accountNumbers.first }

    public var accountNumbers: [String] {
        switch body {
        case .settings(let command): return [command.number]
        case .state(let command): return [command.number] + (command.transferTo.map { [$0] } ?? [])
        case .money(let command): return [command.account] + (command.toAccount.map { [$0] } ?? [])
        case .payout: return []
        }
    }
}

/// Decodes and shape-checks the allocator's inputs. Anything refused here can never succeed and
/// is dead-lettered with the reason.
public enum LedgerInputDecoder {
    public typealias Decode = @Sendable (CloudEvent) throws(MessageRejection) -> LedgerInput

    /// Every input the allocator takes, by CloudEvents type: events from other services and the
    /// operator commands.
    public static let routes: [String: Decode] = eventRoutes.merging(commandRoutes) { event, _ in event }

    /// Operator commands: every type in `LedgerTypes.commands`, decoded by `command`.
    static let commandRoutes: [String: Decode] = Dictionary(
        uniqueKeysWithValues: LedgerTypes.commands.map { ($0, decodeCommand) })

    static let decodeCommand: Decode = { event throws(MessageRejection) in
        try command(event)
    }

    /// A command's body: its shape follows from the type; its meaning is checked later, in the batch.
    public static func command(_ event: CloudEvent) throws(MessageRejection) -> LedgerInput {
        guard let kind = LedgerCommand.Kind(type: event.type) else {
            throw MessageRejection(EnvelopeError.unknownType(event.type))
        }
        let shape: LedgerCommand.Body
        switch kind {
        case .accountOpen, .accountUpdate:
            shape = .settings(try body(event))
        case .accountSuspend, .accountReactivate, .accountTerminate:
            shape = .state(try body(event))
        case .paymentRecord, .refund, .transfer, .writeOff:
            shape = .money(try body(event))
        case .refundsExported, .refundPaid:
            shape = .payout(try body(event))
        }
        return .command(LedgerCommand(id: event.id, kind: kind, body: shape))
    }

    /// Events from other services, checked for shape: identities, positive amounts, known currencies, dates.
    static let eventRoutes: [String: Decode] = [
        LedgerTypes.paymentIdentified: { event throws(MessageRejection) in
            // The busiest input: the flat fast path when the body is plain, JSONDecoder otherwise.
            let payment: PaymentIdentified
            if let plain = PaymentIdentified(flatJSON: event.data) {
                payment = plain
            } else {
                payment = try body(event, as: PaymentIdentified.self)
            }
            let fields = MoneyFields(
                amount: try checkAmount(payment.amountMinor, payment.currency),
                on: try checkDate(payment.receivedOn, "received_on"), channel: try checkChannel(payment.channel))
            try checkIdentity(payment.paymentId, "payment_id")
            try checkAccount(payment.account)
            return .payment(Booked(body: payment, fields: fields))
        },
        LedgerTypes.paymentUnidentified: { event throws(MessageRejection) in
            let payment = try body(event, as: PaymentUnidentified.self)
            let fields = MoneyFields(
                amount: try checkAmount(payment.amountMinor, payment.currency),
                on: try checkDate(payment.receivedOn, "received_on"), channel: try checkChannel(payment.channel))
            try checkIdentity(payment.paymentId, "payment_id")
            return .unidentified(Booked(body: payment, fields: fields))
        },
        LedgerTypes.bankFee: { event throws(MessageRejection) in
            let fee = try body(event, as: BankFee.self)
            let fields = MoneyFields(
                amount: try checkAmount(fee.amountMinor, fee.currency), on: try checkDate(fee.bookedOn, "booked_on"),
                channel: try checkChannel(fee.channel))
            try checkIdentity(fee.feeId, "fee_id")
            guard fee.channel != "suspense", !fee.channel.hasPrefix("desk:") else {
                throw invalid("a fee leaves a bank or gateway channel, not \(fee.channel)")
            }
            return .bankFee(Booked(body: fee, fields: fields))
        },
        LedgerTypes.paymentReversed: { event throws(MessageRejection) in
            let reversal = try body(event, as: PaymentReversed.self)
            try checkIdentity(reversal.reversalId, "reversal_id")
            try checkIdentity(reversal.paymentId, "payment_id")
            if let account = reversal.account { try checkAccount(account) }
            return .reversal(try booked(reversal))
        },
        LedgerTypes.documentPosted: { event throws(MessageRejection) in
            let document = try body(event, as: DocumentPosted.self)
            guard let kind = DocumentKind(rawValue: document.kind), [.invoice, .creditNote, .invoiceCancellation].contains(kind)
            else {
                throw invalid("kind '\(document.kind)' is not invoice, credit-note or invoice-cancellation")
            }
            let total = try checkAmount(document.totalMinor, document.currency)
            guard document.netMinor >= 0, document.taxMinor >= 0,
                document.netMinor.addingReportingOverflow(document.taxMinor) == (document.totalMinor, false)
            else {
                throw invalid("total_minor \(document.totalMinor) is not net_minor + tax_minor")
            }
            let fields = DocumentFields(
                kind: kind, net: Money(minor: document.netMinor, currency: total.currency),
                tax: Money(minor: document.taxMinor, currency: total.currency), total: total,
                postedOn: try checkDate(document.postedOn, "posted_on"),
                dueOn: try document.dueOn.map { due throws(MessageRejection) in try checkDate(due, "due_on") })
            try checkIdentity(document.documentId, "document_id")
            try checkAccount(document.account)
            if kind == .invoiceCancellation, document.relatedDocumentId == nil {
                throw invalid("an invoice cancellation needs related_document_id (the invoice it cancels)")
            }
            return .document(Booked(body: document, fields: fields))
        },
    ]

    static func body<T: Decodable>(_ event: CloudEvent, as type: T.Type = T.self) throws(MessageRejection) -> T {
        try EventBody.decode(event, as: type)
    }

    static func invalid(_ problem: String) -> MessageRejection { EventBody.invalid(problem) }

    /// A reversal's money, parsed: for one read from the topic and for one parked in the ledger alike.
    public static func booked(_ reversal: PaymentReversed) throws(MessageRejection) -> Booked<PaymentReversed, MoneyFields> {
        Booked(
            body: reversal,
            fields: MoneyFields(
                amount: try checkAmount(reversal.amountMinor, reversal.currency),
                on: try checkDate(reversal.reversedOn, "reversed_on"), channel: try checkChannel(reversal.channel)))
    }

    public static func checkAmount(_ minor: Int64, _ currency: String) throws(MessageRejection) -> Money {
        let parsed: Currency
        do {
            parsed = try Currency(code: currency)
        } catch {
            throw MessageRejection(code: error.code, reason: error.description)
        }
        guard minor > 0 else {
            throw MessageRejection(code: "invalid_amount", reason: "amount \(minor) must be positive")
        }
        return Money(minor: minor, currency: parsed)
    }

    static func checkDate(_ text: String, _ field: String) throws(MessageRejection) -> LocalDate {
        do {
            return try LocalDate.parse(text)
        } catch {
            throw invalid("\(field): \(error.description)")
        }
    }

    static func checkIdentity(_ text: String, _ field: String) throws(MessageRejection) {
        guard (1...200).contains(text.utf8.count) else { throw invalid("\(field) must be 1 to 200 bytes") }
    }

    static func checkAccount(_ number: String) throws(MessageRejection) {
        guard (1...40).contains(number.count) else { throw invalid("account '\(number)' is not an account number") }
    }

    static func checkChannel(_ channel: String) throws(MessageRejection) -> LedgerAccount {
        do {
            return try LedgerAccount.forPaymentChannel(channel)
        } catch {
            throw invalid(error.description)
        }
    }
}
