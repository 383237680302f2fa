import BillingContracts
import BillingDomain
import BillingRuntime
import FoundationEssentials

/// One message on the allocator's topics, decoded and checked for shape (not yet against the
/// ledger: that happens inside the batch transaction, with the accounts locked).
enum LedgerInput: Sendable {
    case payment(PaymentIdentified)
    case unidentified(PaymentUnidentified)
    case reversal(PaymentReversed)
    case bankFee(BankFee)
    case document(DocumentPosted)
    case command(LedgerCommand)

    /// The account number the message is about, if it names one.
    var accountNumbers: [String] {
        switch self {
        case .payment(let payment): return [payment.account]
        case .unidentified, .bankFee: return []
        case .reversal(let reversal): return reversal.account.map { [$0] } ?? []
        case .document(let document): return [document.account]
        case .command(let command): return command.accountNumbers
        }
    }
}

/// An operator command: its id (the CloudEvents id), its type, and its body.
struct LedgerCommand: Sendable {
    enum Body: Sendable {
        case settings(AccountSettingsCommand)
        case state(AccountStateCommand)
        case money(MoneyCommand)
        case payout(RefundPayoutCommand)
    }

    let id: String
    let type: String
    let body: Body

    var origin: CommandOrigin {
        switch body {
        case .settings(let command): return command.origin
        case .state(let command): return command.origin
        case .money(let command): return command.origin
        case .payout(let command): return command.origin
        }
    }

    /// The account the command is about (the first of `accountNumbers`).
    var account: String? { accountNumbers.first }

    var accountNumbers: [String] {
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
enum LedgerInputDecoder {
    static let router = EventRouter<LedgerInput>(eventRoutes.merging(commandRoutes) { event, _ in event })

    /// Operator commands: every type in `LedgerTypes.commands`, decoded by `command`.
    static let commandRoutes: [String: EventRouter<LedgerInput>.Decode] = Dictionary(
        uniqueKeysWithValues: LedgerTypes.commands.map { ($0, decodeCommand) })

    static let decodeCommand: EventRouter<LedgerInput>.Decode = { event throws(MessageRejection) in
        try command(event)
    }

    /// A command's body: its shape follows from the type; its meaning is checked later, in the batch.
    static func command(_ event: CloudEvent) throws(MessageRejection) -> LedgerInput {
        let shape: LedgerCommand.Body
        switch event.type {
        case LedgerTypes.accountOpen, LedgerTypes.accountUpdate:
            shape = .settings(try body(event))
        case LedgerTypes.accountSuspend, LedgerTypes.accountReactivate, LedgerTypes.accountTerminate:
            shape = .state(try body(event))
        case LedgerTypes.paymentRecord, LedgerTypes.refund, LedgerTypes.transfer, LedgerTypes.writeOff:
            shape = .money(try body(event))
        case LedgerTypes.refundsExported, LedgerTypes.refundPaid:
            shape = .payout(try body(event))
        default:
            throw MessageRejection(EnvelopeError.unknownType(event.type))
        }
        return .command(LedgerCommand(id: event.id, type: event.type, body: shape))
    }

    /// Events from other services, checked for shape: identities, positive amounts, known currencies, dates.
    static let eventRoutes: [String: EventRouter<LedgerInput>.Decode] = [
        LedgerTypes.paymentIdentified: { event throws(MessageRejection) in
            // The busiest input: the flat fast path when the body is plain, JSONDecoder otherwise.
            let payment: PaymentIdentified
            if let plain = PaymentIdentified(flatJSON: event.data) {
                payment = plain
            } else {
                payment = try body(event, as: PaymentIdentified.self)
            }
            try checkAmount(payment.amountMinor, payment.currency)
            try checkDate(payment.receivedOn, "received_on")
            try checkIdentity(payment.paymentId, "payment_id")
            try checkAccount(payment.account)
            try checkChannel(payment.channel)
            return .payment(payment)
        },
        LedgerTypes.paymentUnidentified: { event throws(MessageRejection) in
            let payment = try body(event, as: PaymentUnidentified.self)
            try checkAmount(payment.amountMinor, payment.currency)
            try checkDate(payment.receivedOn, "received_on")
            try checkIdentity(payment.paymentId, "payment_id")
            try checkChannel(payment.channel)
            return .unidentified(payment)
        },
        LedgerTypes.bankFee: { event throws(MessageRejection) in
            let fee = try body(event, as: BankFee.self)
            try checkAmount(fee.amountMinor, fee.currency)
            try checkDate(fee.bookedOn, "booked_on")
            try checkIdentity(fee.feeId, "fee_id")
            try checkChannel(fee.channel)
            guard fee.channel != "suspense", !fee.channel.hasPrefix("desk:") else {
                throw invalid("a fee leaves a bank or gateway channel, not \(fee.channel)")
            }
            return .bankFee(fee)
        },
        LedgerTypes.paymentReversed: { event throws(MessageRejection) in
            let reversal = try body(event, as: PaymentReversed.self)
            try checkAmount(reversal.amountMinor, reversal.currency)
            try checkDate(reversal.reversedOn, "reversed_on")
            try checkIdentity(reversal.reversalId, "reversal_id")
            try checkIdentity(reversal.paymentId, "payment_id")
            if let account = reversal.account { try checkAccount(account) }
            try checkChannel(reversal.channel)
            return .reversal(reversal)
        },
        LedgerTypes.documentPosted: { event throws(MessageRejection) in
            let document = try body(event, as: DocumentPosted.self)
            guard ["invoice", "credit-note", "invoice-cancellation"].contains(document.kind) else {
                throw invalid("kind '\(document.kind)' is not invoice, credit-note or invoice-cancellation")
            }
            try checkAmount(document.totalMinor, document.currency)
            guard document.netMinor >= 0, document.taxMinor >= 0,
                document.netMinor.addingReportingOverflow(document.taxMinor) == (document.totalMinor, false)
            else {
                throw invalid("total_minor \(document.totalMinor) is not net_minor + tax_minor")
            }
            try checkDate(document.postedOn, "posted_on")
            if let due = document.dueOn { try checkDate(due, "due_on") }
            try checkIdentity(document.documentId, "document_id")
            try checkAccount(document.account)
            if document.kind == "invoice-cancellation", document.relatedDocumentId == nil {
                throw invalid("an invoice cancellation needs related_document_id (the invoice it cancels)")
            }
            return .document(document)
        },
    ]

    static func body<T: Decodable>(_ event: CloudEvent, as type: T.Type = T.self) throws(MessageRejection) -> T {
        try EventBody.decode(event, as: type)
    }

    static func invalid(_ problem: String) -> MessageRejection { EventBody.invalid(problem) }

    static func checkAmount(_ minor: Int64, _ currency: String) throws(MessageRejection) {
        do {
            _ = try Currency(code: currency)
        } catch {
            throw MessageRejection(code: error.code, reason: error.description)
        }
        guard minor > 0 else {
            throw MessageRejection(code: "invalid_amount", reason: "amount \(minor) must be positive")
        }
    }

    static func checkDate(_ text: String, _ field: String) throws(MessageRejection) {
        do {
            _ = try LocalDate.parse(text)
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

    static func checkChannel(_ channel: String) throws(MessageRejection) {
        do {
            _ = try LedgerAccount.forPaymentChannel(channel)
        } catch {
            throw invalid(error.description)
        }
    }
}
