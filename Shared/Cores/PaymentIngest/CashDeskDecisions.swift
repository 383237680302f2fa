import BillingContracts
import BillingDomain
import BillingIngest

/// Cash desks inside the ingest batch: shifts opened with a float, payments taken during a shift
/// (published as payments on the desk's cash channel), shifts closed with the cash counted.
extension IngestDecisions {
    public struct DeskState: Sendable {
        public let currency: Currency
        public var isNew: Bool

        public init(currency: Currency, isNew: Bool) {
            self.currency = currency
            self.isNew = isNew
        }
    }

    public struct ShiftState: Sendable {
        public let id: String
        public let desk: String
        public let floatMinor: Int64
        public var takenMinor: Int64
        public var payments: Int
        public let openedBy: String
        public let openedAt: String?
        public var isNew: Bool
        public var closedBy: String?
        public var countedMinor: Int64?
        public var changed = false

        public init(
            id: String, desk: String, floatMinor: Int64, takenMinor: Int64, payments: Int, openedBy: String,
            openedAt: String?, isNew: Bool
        ) {
            self.id = id
            self.desk = desk
            self.floatMinor = floatMinor
            self.takenMinor = takenMinor
            self.payments = payments
            self.openedBy = openedBy
            self.openedAt = openedAt
            self.isNew = isNew
        }
    }

    public struct DeskPaymentRow: Sendable {
        public let paymentID: String
        public let shiftID: String
        public let account: String
        public let amountMinor: Int64
        public let currency: String
        public let reference: String?
        public let takenBy: String
    }

    func runDeskCommand(id: String, kind: CashDeskCommandKind, _ command: CashDeskCommand) {
        let type = kind.type
        guard finishedCommands.insert(id).inserted else { return }
        var result: [String: String] = [:]
        var account: String?
        do {
            switch kind {
            case .openShift: result = try openShift(id, command)
            case .payment:
                account = command.account
                result = try deskPayment(id, command)
            case .closeShift: result = try closeShift(command)
            }
            deskOutcomes.append(
                (
                    CommandOutcome(commandId: id, commandType: type, account: account, status: "done", result: result),
                    command.origin.requestedBy
                ))
        } catch let refusal as Refusal {
            deskOutcomes.append(
                (
                    CommandOutcome(
                        commandId: id, commandType: type, account: account, status: "refused", reasonCode: refusal.code,
                        reason: refusal.reason), command.origin.requestedBy
                ))
        } catch {
            deskOutcomes.append(
                (
                    CommandOutcome(
                        commandId: id, commandType: type, account: account, status: "refused",
                        reasonCode: "invalid_command",
                        reason: "\(error)"), command.origin.requestedBy
                ))
        }
    }

    private func money(_ text: String?, _ what: String, _ currency: Currency, positive: Bool) throws -> Int64 {
        guard let text else { throw Refusal(code: "invalid_command", reason: "\(what) is missing") }
        let minor: Int64
        do {
            minor = try Money.parse(text, currency: currency).minor
        } catch {
            throw Refusal(code: error.code, reason: "\(what): \(error.description)")
        }
        guard positive ? minor > 0 : minor >= 0 else {
            throw Refusal(
                code: "invalid_amount", reason: "\(what) \(text) must be \(positive ? "above" : "at least") zero")
        }
        return minor
    }

    private func openShift(_ id: String, _ command: CashDeskCommand) throws -> [String: String] {
        guard (1...40).contains(command.desk.count),
            command.desk.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_.-".contains($0)) })
        else {
            throw Refusal(
                code: "invalid_desk", reason: "desk id '\(command.desk)' must be 1 to 40 letters, digits, '_', '.', '-'"
            )
        }
        var desk = deskStates[command.desk]
        if let code = command.currency {
            guard let currency = try? Currency(code: code) else {
                throw Refusal(code: "unknown_currency", reason: "'\(code)' is not an ISO 4217 currency")
            }
            if let existing = desk, existing.currency != currency {
                throw Refusal(
                    code: "currency_mismatch",
                    reason: "desk \(command.desk) keeps \(existing.currency.code), not \(code)")
            }
            if desk == nil { desk = DeskState(currency: currency, isNew: true) }
        }
        guard let desk else {
            throw Refusal(code: "unknown_desk", reason: "desk \(command.desk) is new: give its currency")
        }
        if let open = openShifts[command.desk] {
            throw Refusal(
                code: "shift_open",
                reason: "desk \(command.desk) already has shift \(open.id) open (opened by \(open.openedBy))")
        }
        deskStates[command.desk] = desk
        let float = try money(command.float ?? "0", "the float", desk.currency, positive: false)
        let shift = ShiftState(
            id: "SH-\(id)", desk: command.desk, floatMinor: float, takenMinor: 0, payments: 0,
            openedBy: command.origin.requestedBy, openedAt: nil, isNew: true)
        openShifts[command.desk] = shift
        return [
            "shift_id": shift.id, "desk": command.desk, "float_minor": String(float), "currency": desk.currency.code,
        ]
    }

    private func deskPayment(_ id: String, _ command: CashDeskCommand) throws -> [String: String] {
        guard var shift = openShifts[command.desk], let desk = deskStates[command.desk] else {
            throw Refusal(code: "no_open_shift", reason: "desk \(command.desk) has no open shift")
        }
        guard let number = command.account, let account = directory.accounts[number] else {
            throw Refusal(
                code: "unknown_account", reason: "account \(command.account ?? "(none)") is not known here")
        }
        guard !account.isTerminated else {
            throw Refusal(code: "account_terminated", reason: "account \(number) is terminated")
        }
        guard account.currency == desk.currency.code else {
            throw Refusal(
                code: "currency_mismatch",
                reason: "desk \(command.desk) takes \(desk.currency.code), account \(number) is in \(account.currency)")
        }
        let amount = try money(command.amount, "the amount", desk.currency, positive: true)
        let paymentID = "DESK-\(id)"
        shift.takenMinor += amount
        shift.payments += 1
        shift.changed = true
        openShifts[command.desk] = shift
        deskPayments.append(
            DeskPaymentRow(
                paymentID: paymentID, shiftID: shift.id, account: number, amountMinor: amount,
                currency: desk.currency.code, reference: command.reference, takenBy: command.origin.requestedBy))
        publishReceived(
            .identified(account: number, rule: "cash-desk", evidence: command.desk),
            Received(
                paymentID: paymentID, amountMinor: amount, currency: desk.currency.code,
                channel: "desk:\(command.desk)",
                receivedOn: today.description, reference: command.reference))
        return ["payment_id": paymentID, "shift_id": shift.id, "amount_minor": String(amount)]
    }

    private func closeShift(_ command: CashDeskCommand) throws -> [String: String] {
        guard var shift = openShifts[command.desk], let desk = deskStates[command.desk] else {
            throw Refusal(code: "no_open_shift", reason: "desk \(command.desk) has no open shift")
        }
        let counted = try money(command.counted, "the cash counted", desk.currency, positive: false)
        shift.countedMinor = counted
        shift.closedBy = command.origin.requestedBy
        shift.changed = true
        openShifts[command.desk] = nil
        closedShifts.append(shift)
        let expected = shift.floatMinor + shift.takenMinor
        return [
            "shift_id": shift.id, "expected_minor": String(expected), "counted_minor": String(counted),
            "difference_minor": String(counted - expected), "payments": String(shift.payments),
            "currency": desk.currency.code,
        ]
    }
}
