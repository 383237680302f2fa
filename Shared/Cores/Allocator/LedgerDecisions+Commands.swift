import BillingContracts
import BillingDomain

/// Operator commands. Each is checked completely before it changes anything, so a refusal leaves
/// the batch's state as it was; the outcome (done or refused) is recorded once per command id.
extension LedgerDecisions {
    func run(_ command: LedgerCommand) throws {
        guard finishedCommands.insert(command.id).inserted else { return }
        do {
            let result = try carryOut(command)
            finish(
                command,
                CommandOutcome(
                    commandId: command.id, commandType: command.type, account: command.account, status: "done",
                    result: result))
        } catch let refusal as Refusal {
            finish(
                command,
                CommandOutcome(
                    commandId: command.id, commandType: command.type, account: command.account, status: "refused",
                    reasonCode: refusal.code, reason: refusal.reason))
        }
    }

    private func finish(_ command: LedgerCommand, _ outcome: CommandOutcome) {
        outcomes.append((outcome, command.origin.requestedBy))
    }

    private func carryOut(_ command: LedgerCommand) throws -> [String: String] {
        switch command.body {
        case .settings(let settings):
            if command.kind == .accountOpen {
                if let refusal = openRefusals[command.id] { throw refusal }
                guard let account = accounts[settings.number], account.opened else {
                    throw Refusal(code: "account_exists", reason: "account \(settings.number) already exists")
                }
                return ["account": account.number]
            }
            return try update(settings)
        case .state(let change):
            return try changeState(command.kind, change, command: command)
        case .money(let money):
            switch command.kind {
            case .paymentRecord: return try recordPayment(money, command: command)
            case .refund: return try refund(money, command: command)
            case .transfer: return try transfer(money, command: command)
            default: return try writeOff(money, command: command)
            }
        case .payout(let payout):
            return try payOut(command.kind, payout, command: command)
        }
    }

    // MARK: Accounts

    /// The locked account, or a refusal naming why it cannot take the command.
    private func account(_ number: String, acceptingTerminated: Bool = false) throws(Refusal) -> LockedAccount {
        guard let account = accounts[number] else {
            throw Refusal(code: "unknown_account", reason: "account \(number) does not exist")
        }
        guard acceptingTerminated || account.state != .terminated else {
            throw Refusal(code: "account_terminated", reason: "account \(number) is terminated")
        }
        return account
    }

    private func update(_ settings: AccountSettingsCommand) throws -> [String: String] {
        let account = try account(settings.number)
        let updated = try AccountSettings.updating(account, with: settings)
        account.name = updated.name
        account.creditLimitMinor = updated.creditLimit?.minor
        account.creditRule = updated.creditRule.specification
        account.allocationSetting = updated.allocationPrinciple
        account.presentment = updated.presentment
        account.email = updated.email
        account.phone = updated.phone
        account.owningGroup = updated.owningGroup
        account.settingsChanged = true
        return ["account": account.number]
    }

    private func changeState(
        _ kind: LedgerCommand.Kind, _ change: AccountStateCommand, command: LedgerCommand
    ) throws -> [String: String] {
        let account = try account(change.number)
        switch kind {
        case .accountSuspend:
            guard account.state == .active else {
                throw Refusal(code: "invalid_state", reason: "account \(account.number) is \(account.state.rawValue)")
            }
            account.state = .suspended
        case .accountReactivate:
            guard account.state == .suspended else {
                throw Refusal(code: "invalid_state", reason: "account \(account.number) is \(account.state.rawValue)")
            }
            account.state = .active
        default:
            try terminate(account, change, command: command)
        }
        account.stateChanged = true
        return ["account": account.number, "state": account.state.rawValue]
    }

    /// Terminates at zero balance; a credit can be moved to another account first, a debt written off.
    private func terminate(_ account: LockedAccount, _ change: AccountStateCommand, command: LedgerCommand) throws {
        let balance = Money(minor: account.balance, currency: account.currency)
        if account.balance < 0 {
            guard let target = change.transferTo else {
                throw Refusal(
                    code: "balance_not_zero",
                    reason:
                        "account \(account.number) holds \(creditText(account)) of credit: refund it or give transfer_to"
                )
            }
            let receiver = try receivingAccount(target, from: account)
            try moveCredit(account.creditMinor, from: account, to: receiver, command: command)
        } else if account.balance > 0 {
            guard let categoryText = change.writeOffCategory else {
                throw Refusal(
                    code: "balance_not_zero",
                    reason:
                        "account \(account.number) owes \(balance.decimalText): collect it or give a write-off reason")
            }
            let category = try writeOffCategory(categoryText)
            let open = account.book.items.values.filter {
                $0.side == .debit && (account.book.remaining[$0.id] ?? 0) > 0
            }
            let openMinor = open.reduce(Int64(0)) { $0 + account.book.remaining[$1.id]! }
            guard openMinor == account.balance else {
                throw Refusal(
                    code: "balance_not_zero",
                    reason:
                        "account \(account.number) owes \(balance.decimalText) but its open items add up to \(openMinor) minor units"
                )
            }
            for debit in open.sorted(by: { $0.sequence < $1.sequence }) {
                try postWriteOff(
                    Money(minor: account.book.remaining[debit.id]!, currency: account.currency), of: debit,
                    category: category, on: account, command: command, suffix: debit.id)
            }
        }
        account.state = .terminated
    }

    // MARK: Money

    private func recordPayment(_ money: MoneyCommand, command: LedgerCommand) throws -> [String: String] {
        let account = try account(money.account)
        let amount = try amount(money, for: account)
        let channel = money.desk.map { "desk:\($0)" } ?? "manual"
        let ledgerAccount: LedgerAccount
        do {
            ledgerAccount = try LedgerAccount.forPaymentChannel(channel)
        } catch {
            throw Refusal(code: "invalid_desk", reason: error.description)
        }
        let id = "PAY-\(command.id)"
        let item = try LedgerItem(
            id: id, side: .credit, amount: amount, postedOn: today, sequence: account.itemSequence + 1,
            reference: money.reference, namedItems: money.against ?? [])
        try post(
            item, kind: .payment, on: account,
            source: .payment(client: account.number, amount: amount, channel: ledgerAccount), origin: command.origin,
            commandID: command.id)
        return ["account": account.number, "document": id, "balance_minor": String(account.balance)]
    }

    private func refund(_ money: MoneyCommand, command: LedgerCommand) throws -> [String: String] {
        let account = try account(money.account)
        let amount = try amount(money, for: account)
        guard amount.minor <= account.creditMinor else {
            throw Refusal(
                code: "insufficient_credit",
                reason:
                    "refund of \(amount.decimalText) is above the credit of \(creditText(account)) on \(account.number)"
            )
        }
        let id = "RF-\(command.id)"
        let item = try LedgerItem(
            id: id, side: .debit, amount: amount, postedOn: today, sequence: account.itemSequence + 1,
            reference: money.reference)
        try post(
            item, kind: .refund, on: account, source: .refund(client: account.number, amount: amount),
            origin: command.origin, commandID: command.id)
        refunds[id] = RefundRow(
            id: id, accountID: account.id, accountNumber: account.number, currency: account.currency,
            amountMinor: amount.minor, state: .due, requestedBy: command.origin.requestedBy, note: command.origin.note,
            payeeReference: money.reference)
        markRefundChanged(id)
        return ["account": account.number, "refund": id, "state": RefundState.due.rawValue, "balance_minor": String(account.balance)]
    }

    private func transfer(_ money: MoneyCommand, command: LedgerCommand) throws -> [String: String] {
        let from = try account(money.account)
        guard let to = money.toAccount else {
            throw Refusal(code: "invalid_command", reason: "a transfer needs to_account")
        }
        let receiver = try receivingAccount(to, from: from)
        let amount = try amount(money, for: from)
        guard amount.minor <= from.creditMinor else {
            throw Refusal(
                code: "insufficient_credit",
                reason: "transfer of \(amount.decimalText) is above the credit of \(creditText(from)) on \(from.number)"
            )
        }
        try moveCredit(amount.minor, from: from, to: receiver, command: command)
        return [
            "account": from.number, "to_account": receiver.number, "balance_minor": String(from.balance),
            "to_balance_minor": String(receiver.balance),
        ]
    }

    private func receivingAccount(_ number: String, from: LockedAccount) throws(Refusal) -> LockedAccount {
        guard number != from.number else {
            throw Refusal(code: "same_account", reason: "cannot transfer from \(number) to itself")
        }
        let receiver = try account(number)
        guard receiver.currency == from.currency else {
            throw Refusal(
                code: "currency_mismatch",
                reason: "\(from.number) is in \(from.currency.code), \(receiver.number) in \(receiver.currency.code)")
        }
        return receiver
    }

    /// Both halves of a transfer in this transaction: transfer-out on the giver, transfer-in on the receiver.
    private func moveCredit(_ minor: Int64, from: LockedAccount, to: LockedAccount, command: LedgerCommand) throws {
        let amount = Money(minor: minor, currency: from.currency)
        let out = try LedgerItem(
            id: "TO-\(command.id)", side: .debit, amount: amount, postedOn: today, sequence: from.itemSequence + 1,
            reference: to.number)
        let into = try LedgerItem(
            id: "TI-\(command.id)", side: .credit, amount: amount, postedOn: today, sequence: to.itemSequence + 1,
            reference: from.number)
        try post(
            out, kind: .transferOut, on: from, source: .transferOut(client: from.number, amount: amount),
            origin: command.origin, commandID: command.id)
        try post(
            into, kind: .transferIn, on: to, source: .transferIn(client: to.number, amount: amount),
            origin: command.origin, commandID: command.id)
    }

    private func writeOff(_ money: MoneyCommand, command: LedgerCommand) throws -> [String: String] {
        let account = try account(money.account, acceptingTerminated: true)
        guard let name = money.against?.first else {
            throw Refusal(code: "invalid_command", reason: "a write-off names the invoice (against)")
        }
        guard let invoice = account.item(named: name), account.kinds[invoice.id] == .invoice else {
            throw Refusal(code: "unknown_invoice", reason: "invoice \(name) is not posted on account \(account.number)")
        }
        let open = account.book.remaining[invoice.id] ?? 0
        guard open > 0, account.closedBy[invoice.id] == nil else {
            throw Refusal(code: "nothing_open", reason: "invoice \(name) has nothing open to write off")
        }
        let category = try writeOffCategory(money.category ?? "")
        let amount: Money
        if money.amount == nil {
            amount = Money(minor: open, currency: account.currency)
        } else {
            amount = try self.amount(money, for: account)
        }
        guard amount.minor <= open else {
            throw Refusal(
                code: "above_open_amount",
                reason:
                    "write-off of \(amount.decimalText) is above the \(Money(minor: open, currency: account.currency).decimalText) open on \(name)"
            )
        }
        let id = try postWriteOff(amount, of: invoice, category: category, on: account, command: command, suffix: nil)
        return [
            "account": account.number, "document": id, "invoice": invoice.number ?? invoice.id,
            "balance_minor": String(account.balance),
        ]
    }

    @discardableResult
    private func postWriteOff(
        _ amount: Money, of debit: LedgerItem, category: WriteOffCategory, on account: LockedAccount,
        command: LedgerCommand, suffix: String?
    ) throws -> String {
        let id = "WO-\(command.id)" + (suffix.map { "-\($0)" } ?? "")
        let item = try LedgerItem(
            id: id, side: .credit, amount: amount, postedOn: today, sequence: account.itemSequence + 1,
            reference: category.rawValue, closes: debit.id, releasesClosedItem: false)
        try post(
            item, kind: .writeOff, on: account,
            source: .writeOff(client: account.number, amount: amount, category: category.rawValue),
            origin: command.origin, commandID: command.id)
        return id
    }

    private func writeOffCategory(_ text: String) throws(Refusal) -> WriteOffCategory {
        do {
            return try WriteOffCategory.parse(text)
        } catch {
            throw Refusal(code: "invalid_reason", reason: error.description)
        }
    }

    // MARK: Refund payouts

    private func payOut(
        _ kind: LedgerCommand.Kind, _ payout: RefundPayoutCommand, command: LedgerCommand
    ) throws -> [String: String] {
        guard !payout.refundIds.isEmpty else { throw Refusal(code: "invalid_command", reason: "no refunds named") }
        var found: [RefundRow] = []
        for id in payout.refundIds {
            guard let refund = refunds[id] else {
                throw Refusal(code: "unknown_refund", reason: "refund \(id) does not exist")
            }
            found.append(refund)
        }
        if kind == .refundsExported {
            for refund in found where refund.state != .due {
                throw Refusal(
                    code: "invalid_state", reason: "refund \(refund.id) is \(refund.state.rawValue), not due")
            }
            for refund in found {
                refunds[refund.id]!.state = .exported
                refunds[refund.id]!.exportBatch = payout.exportBatch
                markRefundChanged(refund.id)
            }
            return ["refunds": String(found.count), "state": RefundState.exported.rawValue]
        }
        guard found.count == 1, let refund = found.first else {
            throw Refusal(code: "invalid_command", reason: "confirm one refund at a time")
        }
        guard refund.state != .paid else {
            throw Refusal(code: "invalid_state", reason: "refund \(refund.id) is already paid")
        }
        let paidOn: LocalDate
        let channel: LedgerAccount
        do {
            paidOn = try payout.paidOn.map(LocalDate.parse) ?? today
            channel = try LedgerAccount.forPaymentChannel(payout.channel ?? "bank")
        } catch {
            throw Refusal(code: "invalid_command", reason: error.description)
        }
        journal.append(
            JournalRow(
                accountID: refund.accountID, kind: .refundPayout, documentID: refund.id,
                entry: try JournalEntry(
                    for: .refundPayout(
                        amount: Money(minor: refund.amountMinor, currency: refund.currency), channel: channel)),
                origin: command.origin, commandID: command.id))
        refunds[refund.id]!.state = .paid
        refunds[refund.id]!.paidOn = paidOn.description
        refunds[refund.id]!.bankReference = payout.bankReference
        markRefundChanged(refund.id)
        return ["refund": refund.id, "state": RefundState.paid.rawValue, "account": refund.accountNumber]
    }

    // MARK: Amounts

    /// The command's amount as money of the account: decimal text, positive, in its currency.
    private func amount(_ money: MoneyCommand, for account: LockedAccount) throws(Refusal) -> Money {
        if let currency = money.currency, currency != account.currency.code {
            throw Refusal(
                code: "currency_mismatch",
                reason: "amount is in \(currency), account \(account.number) in \(account.currency.code)")
        }
        guard let text = money.amount else { throw Refusal(code: "invalid_amount", reason: "the amount is missing") }
        let amount: Money
        do {
            amount = try Money.parse(text, currency: account.currency)
        } catch {
            throw Refusal(code: error.code, reason: error.description)
        }
        guard amount.isPositive else {
            throw Refusal(code: "invalid_amount", reason: "amount \(text) must be positive")
        }
        return amount
    }

    private func creditText(_ account: LockedAccount) -> String {
        Money(minor: account.creditMinor, currency: account.currency).decimalText
    }
}
