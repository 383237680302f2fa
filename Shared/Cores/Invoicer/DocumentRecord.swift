import BillingDomain

/// Number prefixes of the legal series, per document kind (configurable; a series keeps the
/// prefix it started the year with).
public struct NumberingConfiguration: Sendable {
    public var prefixes: [DocumentKind: String]
    public var draftReferencePrefix: String

    public init(prefixes: [DocumentKind: String], draftReferencePrefix: String) {
        self.prefixes = prefixes
        self.draftReferencePrefix = draftReferencePrefix
    }

    public static let defaults = NumberingConfiguration(
        prefixes: [.invoice: "INV", .creditNote: "CN", .invoiceCancellation: "IC"], draftReferencePrefix: "DRAFT")
}

/// The invoicer's copy of an account, from `billing.accounts`.
public struct AccountCopy: Sendable {
    public let id: Int64
    public let number: String
    public var name: String
    public var currency: Currency
    public var state: AccountState
    public var creditRule: CreditRule
    /// Changed by a snapshot in this batch (to be written back).
    public var changed = false

    public init(
        id: Int64, number: String, name: String, currency: Currency, state: AccountState, creditRule: CreditRule,
        changed: Bool = false
    ) {
        self.id = id
        self.number = number
        self.name = name
        self.currency = currency
        self.state = state
        self.creditRule = creditRule
        self.changed = changed
    }

    var domainAccount: Account {
        get throws(DomainError) {
            try Account(number: number, name: name, currency: currency, state: state, creditRule: creditRule)
        }
    }
}

/// A document the batch made, changed or consulted. Drafts carry the domain object with their lines.
public final class DocumentRecord {
    public let id: String
    public let kind: DocumentKind
    public let accountID: Int64
    public let accountNumber: String
    public let currency: Currency
    public let rounding: RoundingRule
    public var state: DocumentState
    public var reference: String
    public var number: String?
    public var backOfficeCode: String?
    public var issuedOn: LocalDate
    public var postedOn: LocalDate?
    public var dueOn: LocalDate?
    public var notes: String?
    public let related: String?
    public var net: Int64
    public var discount: Int64
    public var tax: Int64
    public var total: Int64
    /// Invoices: what posted credit notes have credited.
    public var credited: Int64
    /// Invoices: the cancellation that cancelled it, by name.
    public var cancelledBy: String?
    /// The command that made it.
    public var commandID: String?
    /// Stored drafts: their lines as stored, made into `draft` when a command needs it.
    public var storedLines: [InvoiceLine]?
    public var draft: DocumentDraft?
    public var rejection: (category: RejectionCategory, reason: String)?
    public var createdBy: String?
    public var postedBy: String?
    /// The series a posting in this batch takes its number from.
    public var awaitingNumber: (kind: DocumentKind, year: Int)?

    public let isNew: Bool
    public var changed = false
    public var linesChanged = false

    public init(
        id: String, kind: DocumentKind, accountID: Int64, accountNumber: String, currency: Currency,
        rounding: RoundingRule, state: DocumentState, reference: String, issuedOn: LocalDate, related: String?,
        isNew: Bool
    ) {
        self.id = id
        self.kind = kind
        self.accountID = accountID
        self.accountNumber = accountNumber
        self.currency = currency
        self.rounding = rounding
        self.state = state
        self.reference = reference
        self.issuedOn = issuedOn
        self.related = related
        self.net = 0
        self.discount = 0
        self.tax = 0
        self.total = 0
        self.credited = 0
        self.isNew = isNew
    }

    /// Takes the totals, dates and codes of the draft after a change.
    public func refresh(from draft: DocumentDraft) throws(DomainError) {
        self.draft = draft
        let totals = try draft.totals
        net = totals.net.minor
        discount = totals.discount.minor
        tax = totals.tax.minor
        total = totals.total.minor
        state = draft.state
        backOfficeCode = draft.backOfficeCode
        notes = draft.notes
        dueOn = draft.dueOn ?? draft.requestedDueOn
        postedOn = draft.postedOn
        if let number = draft.number { self.number = number.description }
    }

    /// What is left to credit of a posted invoice.
    public var creditable: Int64 { total - credited }

    /// How the document is named to people: its number once posted, its reference before.
    public var name: String { number ?? reference }
}
