import BillingContracts
import BillingDomain
import BillingIngest

/// Gateway webhook events inside the ingest batch: deduplicated by event id, refused when the very
/// same signed request comes again (a replay), and booked as payments, reversals or refunds paid.
extension IngestDecisions {
    /// A gateway event as recorded: what it booked.
    public struct GatewayRow: Sendable {
        public let input: GatewayInput
        public var outcome: GatewayOutcome
        public var paymentID: String?
        public var account: String?
        public var feeMinor: Int64 = 0
        public var feeCurrency: String?
        public var notes: [String] = []
    }

    /// The channel gateway money arrives through.
    public static let gatewayChannel = "gateway:stripe"

    func importEvent(_ input: GatewayInput) throws(MessageRejection) {
        if let earlier = seenSignatures[input.signatureHash] {
            throw MessageRejection(
                code: "signature_replayed",
                reason: "this exact signed request was received before (event \(earlier)): a replay is refused")
        }
        seenSignatures[input.signatureHash] = input.event.id
        guard seenEvents.insert(input.event.id).inserted else {
            notices.append(.gatewayEventRepeated(eventID: input.event.id, type: input.event.type))
            return
        }
        var row = GatewayRow(input: input, outcome: .nothingMoved)
        let handled = GatewayEventMapper.handledTypes.contains(input.event.type)
        if !handled {
            row.outcome = .ignored
            notices.append(.gatewayTypeIgnored(eventID: input.event.id, type: input.event.type))
        }
        for movement in input.movements {
            switch movement {
            case .payment(let paymentID, let amount, let currency, let day, let clues):
                row.outcome = .booked
                row.paymentID = paymentID
                let identification = PaymentIdentifier.identify(clues, currency: currency, directory: directory)
                publishReceived(
                    identification,
                    Received(
                        paymentID: paymentID, amountMinor: amount, currency: currency, channel: Self.gatewayChannel,
                        receivedOn: day, reference: input.event.id))
                switch identification {
                case .identified(let account, _, _):
                    row.account = account
                    gatewayAccounts[paymentID] = account
                case .unidentified(let reasons, let account):
                    row.account = account
                    row.notes = reasons
                }
            case .reversal(let reversalID, let paymentID, let amount, let currency, let day, let reason):
                row.outcome = .booked
                row.paymentID = paymentID
                let account = gatewayAccounts[paymentID]
                row.account = account
                publish(
                    Topics.payments.name, key: account ?? paymentID, type: LedgerTypes.paymentReversed,
                    PaymentReversed(
                        reversalId: reversalID, paymentId: paymentID, account: account, amountMinor: amount,
                        currency: currency, channel: Self.gatewayChannel, reversedOn: day, reason: reason))
            case .refundPaid(let refundID, let day, let reference):
                row.outcome = .booked
                publish(
                    Topics.ledgerCommands.name, key: refundID, type: LedgerTypes.refundPaid,
                    RefundPayoutCommand(
                        origin: CommandOrigin(
                            requestedBy: "payment-ingest", note: "paid by the gateway, \(input.event.id)"),
                        refundIds: [refundID], paidOn: day, bankReference: reference, channel: Self.gatewayChannel),
                    id: "refund-paid-\(input.event.id)-\(refundID)")
            case .fee(let amount, let currency):
                row.feeMinor += amount
                row.feeCurrency = currency
                publish(
                    Topics.payments.name, key: "GWFEE-\(input.event.id)", type: LedgerTypes.bankFee,
                    BankFee(
                        feeId: "GWFEE-\(input.event.id)", amountMinor: amount, currency: currency,
                        channel: Self.gatewayChannel,
                        bookedOn: LocalDate(daysSinceEpoch: Int(input.event.created / 86_400)).description,
                        reference: input.event.id))
            case .nothing(let why):
                row.notes.append(why)
            }
        }
        gatewayRows.append(row)
    }
}

/// What a gateway event did (`ingest.gateway_events.outcome`).
public enum GatewayOutcome: String, Sendable, CaseIterable {
    /// It moved money: a payment, a reversal or a refund paid.
    case booked
    /// A type payment-ingest does not handle.
    case ignored
    /// A handled type whose event moves no money (the reasons are in its notes).
    case nothingMoved = "nothing-moved"
}
