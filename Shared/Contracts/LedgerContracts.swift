import FoundationEssentials

/// Event and command types of the ledger's topics (`billing.payments`, `billing.payments.unidentified`,
/// `billing.documents`, `billing.ledger.commands` in; `billing.ledger.events`,
/// `billing.command-outcomes` out). Bodies are JSON objects with snake_case keys; amounts are
/// integer minor units (`*_minor`) beside an ISO 4217 `currency`, except in operator commands,
/// which carry decimal text in the account's currency (`"46.20"`) because the operator types that.
/// Dates are `YYYY-MM-DD`. Accounts are named by account number, which is also the message key.
public enum LedgerTypes {
    // Inputs from other services.
    public static let paymentIdentified = "billing.payment.identified.v1"
    public static let paymentUnidentified = "billing.payment.unidentified.v1"
    public static let paymentReversed = "billing.payment.reversed.v1"
    public static let documentPosted = "billing.document.posted.v1"
    /// A fee the bank or a gateway took (`BankFee`), on `billing.payments`.
    public static let bankFee = "billing.bank.fee.v1"

    // Operator commands (ce_id is the command id).
    public static let accountOpen = "billing.account.open.v1"
    public static let accountUpdate = "billing.account.update.v1"
    public static let accountSuspend = "billing.account.suspend.v1"
    public static let accountReactivate = "billing.account.reactivate.v1"
    public static let accountTerminate = "billing.account.terminate.v1"
    public static let paymentRecord = "billing.ledger.payment.v1"
    public static let refund = "billing.ledger.refund.v1"
    public static let refundsExported = "billing.ledger.refunds-exported.v1"
    public static let refundPaid = "billing.ledger.refund-paid.v1"
    public static let transfer = "billing.ledger.transfer.v1"
    public static let writeOff = "billing.ledger.write-off.v1"

    // Events out.
    public static let accountOpened = "billing.account.opened.v1"
    public static let accountUpdated = "billing.account.updated.v1"
    public static let accountStateChanged = "billing.account.state-changed.v1"
    /// The account snapshot events on `billing.accounts`, each carrying an `AccountSnapshot`.
    public static let accountSnapshots = [accountOpened, accountUpdated, accountStateChanged]
    public static let balanceChanged = "billing.balance.changed.v1"
    public static let allocationsApplied = "billing.allocation.applied.v1"
    public static let allocationsReleased = "billing.allocation.released.v1"
    public static let invoiceSettled = "billing.invoice.settled.v1"
    public static let invoiceReopened = "billing.invoice.reopened.v1"
    public static let reversalParked = "billing.payment.reversal-parked.v1"
    /// On `billing.ledger.events`: money for an account that cannot take it (unknown or terminated
    /// account, other currency), posted to suspense by the allocator; the body is a
    /// `PaymentUnidentified` with the reason. (The allocator no longer republishes it on
    /// `billing.payments.unidentified`, a topic it consumes itself.)
    public static let paymentHeldInSuspense = "billing.payment.held-in-suspense.v1"
    public static let refundStateChanged = "billing.refund.state-changed.v1"
    public static let commandOutcome = "billing.command.outcome.v1"

    /// The operator commands on `billing.ledger.commands`.
    public static let commands: [String] = [
        accountOpen, accountUpdate, accountSuspend, accountReactivate, accountTerminate, paymentRecord, refund,
        refundsExported, refundPaid, transfer, writeOff,
    ]
}

/// JSON coding for contract bodies: snake_case keys, no floating point anywhere (amounts are integers).
public enum ContractJSON {
    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }

    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// `encode` as text, for a JSON column or a line of output.
    public static func text<T: Encodable>(_ value: T) -> String { String(decoding: encode(value), as: UTF8.self) }

    public static func encode<T: Encodable>(_ value: T) -> [UInt8] {
        if let direct = value as? any DirectJSONWritable {
            var out: [UInt8] = []
            out.reserveCapacity(256)
            direct.writeJSON(to: &out)
            return out
        }
        // Encoding these plain structs cannot fail: no floats, no custom encoders that throw.
        return try! ContractJSONWriter.encode(value)
    }
}

// MARK: Inputs

/// A payment tied to an account (by payment-ingest, or moved out of suspense).
public struct PaymentIdentified: Codable, Sendable, Equatable {
    /// The payment's identity; posting is deduplicated on it.
    public var paymentId: String
    public var account: String
    public var amountMinor: Int64
    public var currency: String
    /// Where the money is: `bank:<iban>`, `gateway:<name>`, `registry:<name>`, `desk:<id>`, `manual`,
    /// or `suspense` for money moved out of suspense.
    public var channel: String
    public var receivedOn: String
    public var reference: String?
    /// Invoices the payer named (numbers or references), in the order named.
    public var namedItems: [String]?
    public var payerName: String?

    public init(
        paymentId: String, account: String, amountMinor: Int64, currency: String, channel: String, receivedOn: String,
        reference: String? = nil, namedItems: [String]? = nil, payerName: String? = nil
    ) {
        self.paymentId = paymentId
        self.account = account
        self.amountMinor = amountMinor
        self.currency = currency
        self.channel = channel
        self.receivedOn = receivedOn
        self.reference = reference
        self.namedItems = namedItems
        self.payerName = payerName
    }
}

/// A payment nobody could tie to an account: the books hold it in suspense.
public struct PaymentUnidentified: Codable, Sendable, Equatable {
    public var paymentId: String
    public var amountMinor: Int64
    public var currency: String
    public var channel: String
    public var receivedOn: String
    public var reference: String?
    public var payerName: String?
    public var payerIban: String?
    /// Account number the payer gave, if any (unknown or not usable).
    public var account: String?
    public var reason: String

    public init(
        paymentId: String, amountMinor: Int64, currency: String, channel: String, receivedOn: String,
        reference: String? = nil, payerName: String? = nil, payerIban: String? = nil, account: String? = nil,
        reason: String
    ) {
        self.paymentId = paymentId
        self.amountMinor = amountMinor
        self.currency = currency
        self.channel = channel
        self.receivedOn = receivedOn
        self.reference = reference
        self.payerName = payerName
        self.payerIban = payerIban
        self.account = account
        self.reason = reason
    }
}

/// A payment returned by the bank or charged back by a gateway.
public struct PaymentReversed: Codable, Sendable, Equatable {
    public var reversalId: String
    public var paymentId: String
    public var account: String?
    public var amountMinor: Int64
    public var currency: String
    public var channel: String
    public var reversedOn: String
    /// `return`, `chargeback`, or the bank's return reason code.
    public var reason: String

    public init(
        reversalId: String, paymentId: String, account: String?, amountMinor: Int64, currency: String,
        channel: String, reversedOn: String, reason: String
    ) {
        self.reversalId = reversalId
        self.paymentId = paymentId
        self.account = account
        self.amountMinor = amountMinor
        self.currency = currency
        self.channel = channel
        self.reversedOn = reversedOn
        self.reason = reason
    }
}

/// A fee the bank (a charges line on a statement) or a gateway (a dispute fee) took from our money:
/// posted as bank fees expense against that channel's cash, once per fee id.
public struct BankFee: Codable, Sendable, Equatable {
    public var feeId: String
    public var amountMinor: Int64
    public var currency: String
    /// Where the money left from: `bank:<account>`, `gateway:<name>`.
    public var channel: String
    public var bookedOn: String
    public var reference: String?

    public init(
        feeId: String, amountMinor: Int64, currency: String, channel: String, bookedOn: String, reference: String? = nil
    ) {
        self.feeId = feeId
        self.amountMinor = amountMinor
        self.currency = currency
        self.channel = channel
        self.bookedOn = bookedOn
        self.reference = reference
    }
}

/// A posted invoice, credit note or invoice cancellation (published by the invoicer).
public struct DocumentPosted: Codable, Sendable, Equatable {
    public var documentId: String
    /// `invoice`, `credit-note` or `invoice-cancellation`.
    public var kind: String
    public var account: String
    public var number: String
    public var reference: String?
    public var currency: String
    public var netMinor: Int64
    public var taxMinor: Int64
    public var totalMinor: Int64
    public var postedOn: String
    public var dueOn: String?
    /// The invoice a cancellation cancels, or a credit note credits.
    public var relatedDocumentId: String?

    public init(
        documentId: String, kind: String, account: String, number: String, reference: String? = nil,
        currency: String, netMinor: Int64, taxMinor: Int64, totalMinor: Int64, postedOn: String,
        dueOn: String? = nil, relatedDocumentId: String? = nil
    ) {
        self.documentId = documentId
        self.kind = kind
        self.account = account
        self.number = number
        self.reference = reference
        self.currency = currency
        self.netMinor = netMinor
        self.taxMinor = taxMinor
        self.totalMinor = totalMinor
        self.postedOn = postedOn
        self.dueOn = dueOn
        self.relatedDocumentId = relatedDocumentId
    }
}

// MARK: Commands

/// Who asked and why: on every operator command.
public struct CommandOrigin: Codable, Sendable, Equatable {
    public var requestedBy: String
    public var note: String?

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case requestedBy, note
    }

    public init(requestedBy: String, note: String? = nil) {
        self.requestedBy = requestedBy
        self.note = note
    }
}

/// Opens an account, or (with `update`) changes the settings given; absent fields stay as they are.
public struct AccountSettingsCommand: Codable, Sendable, Equatable {
    public var origin: CommandOrigin
    public var number: String
    public var name: String?
    public var currency: String?
    /// Decimal text in the account's currency; `"none"` removes the limit.
    public var creditLimit: String?
    public var creditRule: String?
    public var allocation: String?
    public var presentment: String?
    public var email: String?
    public var phone: String?
    public var owningGroup: String?

    public init(
        origin: CommandOrigin, number: String, name: String? = nil, currency: String? = nil,
        creditLimit: String? = nil, creditRule: String? = nil, allocation: String? = nil,
        presentment: String? = nil, email: String? = nil, phone: String? = nil, owningGroup: String? = nil
    ) {
        self.origin = origin
        self.number = number
        self.name = name
        self.currency = currency
        self.creditLimit = creditLimit
        self.creditRule = creditRule
        self.allocation = allocation
        self.presentment = presentment
        self.email = email
        self.phone = phone
        self.owningGroup = owningGroup
    }
}

/// Suspend, reactivate or terminate an account. Termination needs a zero balance, or a stated way
/// to reach it: move the credit to `transferTo`, or write the debt off with `writeOffCategory`.
public struct AccountStateCommand: Codable, Sendable, Equatable {
    public var origin: CommandOrigin
    public var number: String
    public var transferTo: String?
    public var writeOffCategory: String?

    public init(origin: CommandOrigin, number: String, transferTo: String? = nil, writeOffCategory: String? = nil) {
        self.origin = origin
        self.number = number
        self.transferTo = transferTo
        self.writeOffCategory = writeOffCategory
    }
}

/// Money moved by an operator: a manual payment, a refund, a transfer or a write-off.
public struct MoneyCommand: Codable, Sendable, Equatable {
    public var origin: CommandOrigin
    public var account: String
    /// Decimal text in the account's currency. Optional only for a write-off (then: all that is open).
    public var amount: String?
    /// When given, must be the account's currency.
    public var currency: String?
    /// Transfers: the receiving account.
    public var toAccount: String?
    /// Write-offs: the invoice (number or document id). Payments: invoices to pay first.
    public var against: [String]?
    /// Write-offs: the reason category (`uncollectible`, `small-balance`, `goodwill`, `dispute`, `bankruptcy`).
    public var category: String?
    public var reference: String?
    /// Manual payments: the cash desk that took it (else the operator channel).
    public var desk: String?

    public init(
        origin: CommandOrigin, account: String, amount: String? = nil, currency: String? = nil,
        toAccount: String? = nil, against: [String]? = nil, category: String? = nil, reference: String? = nil,
        desk: String? = nil
    ) {
        self.origin = origin
        self.account = account
        self.amount = amount
        self.currency = currency
        self.toAccount = toAccount
        self.against = against
        self.category = category
        self.reference = reference
        self.desk = desk
    }
}

/// Refunds handed to payment (exported), or seen paid on the bank statement.
public struct RefundPayoutCommand: Codable, Sendable, Equatable {
    public var origin: CommandOrigin
    public var refundIds: [String]
    public var exportBatch: String?
    public var paidOn: String?
    public var bankReference: String?
    /// The cash channel the refund left from (default `bank`).
    public var channel: String?

    public init(
        origin: CommandOrigin, refundIds: [String], exportBatch: String? = nil, paidOn: String? = nil,
        bankReference: String? = nil, channel: String? = nil
    ) {
        self.origin = origin
        self.refundIds = refundIds
        self.exportBatch = exportBatch
        self.paidOn = paidOn
        self.bankReference = bankReference
        self.channel = channel
    }
}

// MARK: Outcomes and events

/// What became of a command: published on `billing.command-outcomes` (keyed by command id) and
/// kept in the handling service's `command_outcomes` table, which `billing-ctl --wait` reads.
public struct CommandOutcome: Codable, Sendable, Equatable {
    public var commandId: String
    public var commandType: String
    public var account: String?
    /// `done` or `refused`.
    public var status: String
    public var reasonCode: String?
    public var reason: String?
    public var result: [String: String]

    public init(
        commandId: String, commandType: String, account: String?, status: String, reasonCode: String? = nil,
        reason: String? = nil, result: [String: String] = [:]
    ) {
        self.commandId = commandId
        self.commandType = commandType
        self.account = account
        self.status = status
        self.reasonCode = reasonCode
        self.reason = reason
        self.result = result
    }
}

/// An account's settings and state after a change.
public struct AccountSnapshot: Codable, Sendable, Equatable {
    /// The ledger's id of the account: the key other services' rows about the client carry.
    public var accountId: Int64?
    public var number: String
    public var name: String
    public var currency: String
    public var state: String
    public var creditLimitMinor: Int64?
    public var creditRule: String
    public var allocation: String
    public var presentment: String
    public var email: String?
    public var phone: String?
    public var owningGroup: String?

    public init(
        number: String, name: String, currency: String, state: String, creditLimitMinor: Int64?, creditRule: String,
        allocation: String, presentment: String, email: String?, phone: String?, owningGroup: String?,
        accountId: Int64? = nil
    ) {
        self.accountId = accountId
        self.number = number
        self.name = name
        self.currency = currency
        self.state = state
        self.creditLimitMinor = creditLimitMinor
        self.creditRule = creditRule
        self.allocation = allocation
        self.presentment = presentment
        self.email = email
        self.phone = phone
        self.owningGroup = owningGroup
    }
}

/// One account's balance after a batch, with the documents that moved it (netted per batch).
public struct BalanceChanged: Codable, Sendable, Equatable {
    public struct Movement: Codable, Sendable, Equatable {
        public var kind: String
        public var document: String
        public var amountMinor: Int64

        public init(kind: String, document: String, amountMinor: Int64) {
            self.kind = kind
            self.document = document
            self.amountMinor = amountMinor
        }
    }

    public var account: String
    public var currency: String
    public var previousMinor: Int64
    public var balanceMinor: Int64
    public var movements: [Movement]

    public init(account: String, currency: String, previousMinor: Int64, balanceMinor: Int64, movements: [Movement]) {
        self.account = account
        self.currency = currency
        self.previousMinor = previousMinor
        self.balanceMinor = balanceMinor
        self.movements = movements
    }
}

/// Allocations made or released on one account in one batch.
public struct AllocationsChanged: Codable, Sendable, Equatable {
    public struct Line: Codable, Sendable, Equatable {
        public var credit: String
        public var debit: String
        public var amountMinor: Int64
        public var reason: String

        public init(credit: String, debit: String, amountMinor: Int64, reason: String) {
            self.credit = credit
            self.debit = debit
            self.amountMinor = amountMinor
            self.reason = reason
        }
    }

    public var account: String
    public var currency: String
    public var allocations: [Line]

    public init(account: String, currency: String, allocations: [Line]) {
        self.account = account
        self.currency = currency
        self.allocations = allocations
    }
}

/// An invoice (or other debit) fully paid, or re-opened by a reversal.
public struct DebitStateChanged: Codable, Sendable, Equatable {
    public var account: String
    public var document: String
    public var number: String?
    public var kind: String
    public var state: String
    public var totalMinor: Int64
    public var openMinor: Int64

    public init(
        account: String, document: String, number: String?, kind: String, state: String, totalMinor: Int64,
        openMinor: Int64
    ) {
        self.account = account
        self.document = document
        self.number = number
        self.kind = kind
        self.state = state
        self.totalMinor = totalMinor
        self.openMinor = openMinor
    }
}

/// A refund's payout state: `due`, `exported` or `paid`.
public struct RefundStateChanged: Codable, Sendable, Equatable {
    public var refundId: String
    public var account: String
    public var amountMinor: Int64
    public var currency: String
    public var state: String

    public init(refundId: String, account: String, amountMinor: Int64, currency: String, state: String) {
        self.refundId = refundId
        self.account = account
        self.amountMinor = amountMinor
        self.currency = currency
        self.state = state
    }
}
