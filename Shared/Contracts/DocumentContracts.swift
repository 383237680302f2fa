import FoundationEssentials

/// Command types of `billing.document.commands` (keyed by account number; `ce_id` is the command
/// id). The invoicer carries out each command once, records its outcome in
/// `documents.command_outcomes` and publishes it on `billing.command-outcomes`; posted documents go
/// out on `billing.documents` as `billing.document.posted.v1` (`DocumentPosted`).
///
/// Amounts in these commands are decimal text in the account's currency (`"120.00"`), quantities
/// and rates decimal text (`"1.5"`, `"20"`): never floating point. Unknown fields are refused.
public enum DocumentTypes {
    /// Creates a draft invoice or credit note (`DocumentCreateCommand`), posted at once with `post`.
    public static let create = "billing.document.create.v1"
    /// Changes a draft's lines, requested due date, back-office code or notes (`DocumentUpdateCommand`).
    public static let update = "billing.document.update.v1"
    /// Posts a draft: legal number, posting and due dates (`DocumentPostCommand`).
    public static let post = "billing.document.post.v1"
    /// Rejects a draft with a reason category (`DocumentRejectCommand`).
    public static let reject = "billing.document.reject.v1"
    /// Cancels a posted invoice with an invoice cancellation document (`InvoiceCancelCommand`).
    public static let cancel = "billing.document.cancel.v1"

    public static let commands: [String] = [create, update, post, reject, cancel]
}

/// One line as a sender writes it. `discounts` apply in order, each to what remains of the line:
/// a percentage (`"15%"`) or a fixed amount in the document's currency (`"20.00"`).
public struct DocumentLineSpec: Codable, Sendable, Equatable, StrictContract {
    public var description: String
    public var quantity: String
    public var unitPrice: String
    public var taxRate: String
    public var discounts: [String]?

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case description, quantity, unitPrice, taxRate, discounts
    }

    public init(description: String, quantity: String, unitPrice: String, taxRate: String, discounts: [String]? = nil) {
        self.description = description
        self.quantity = quantity
        self.unitPrice = unitPrice
        self.taxRate = taxRate
        self.discounts = discounts
    }
}

/// Creates a draft invoice or credit note with its lines; with `post`, posts it in the same step.
public struct DocumentCreateCommand: Codable, Sendable, Equatable, StrictContract {
    public var origin: CommandOrigin
    /// `invoice` or `credit-note`.
    public var kind: String
    public var account: String
    /// The draft's name until it is posted; unique. Given by the invoicer (`DRAFT-2026-000042`) when absent.
    public var reference: String?
    public var lines: [DocumentLineSpec]
    /// Default: the day the invoicer handles the command (UTC).
    public var issuedOn: String?
    /// Validated against the account's credit rule when the document is posted; computed when absent.
    public var dueOn: String?
    /// Unique when given.
    public var backOfficeCode: String?
    public var notes: String?
    /// Credit notes: the invoice credited (number, reference or id); absent for a standalone credit note.
    public var invoice: String?
    /// `half-up` (default) or `half-even`, for percentages and quantities per line.
    public var rounding: String?
    /// Post at once.
    public var post: Bool?
    /// With `post`: the posting date (default: the day the command is handled).
    public var postedOn: String?

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case origin, kind, account, reference, lines, issuedOn, dueOn, backOfficeCode, notes, invoice, rounding, post
        case postedOn
    }

    public static var nestedContracts: [String: any StrictContract.Type] {
        ["lines": DocumentLineSpec.self, "origin": CommandOrigin.self]
    }

    public init(
        origin: CommandOrigin, kind: String, account: String, reference: String? = nil, lines: [DocumentLineSpec],
        issuedOn: String? = nil, dueOn: String? = nil, backOfficeCode: String? = nil, notes: String? = nil,
        invoice: String? = nil, rounding: String? = nil, post: Bool? = nil, postedOn: String? = nil
    ) {
        self.origin = origin
        self.kind = kind
        self.account = account
        self.reference = reference
        self.lines = lines
        self.issuedOn = issuedOn
        self.dueOn = dueOn
        self.backOfficeCode = backOfficeCode
        self.notes = notes
        self.invoice = invoice
        self.rounding = rounding
        self.post = post
        self.postedOn = postedOn
    }
}

/// Changes a draft; absent fields stay as they are. `due_on: ""` removes a requested due date.
public struct DocumentUpdateCommand: Codable, Sendable, Equatable, StrictContract {
    public var origin: CommandOrigin
    public var account: String
    /// The draft: its reference or id.
    public var document: String
    public var lines: [DocumentLineSpec]?
    public var dueOn: String?
    public var backOfficeCode: String?
    public var notes: String?

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case origin, account, document, lines, dueOn, backOfficeCode, notes
    }

    public static var nestedContracts: [String: any StrictContract.Type] {
        ["lines": DocumentLineSpec.self, "origin": CommandOrigin.self]
    }

    public init(
        origin: CommandOrigin, account: String, document: String, lines: [DocumentLineSpec]? = nil,
        dueOn: String? = nil, backOfficeCode: String? = nil, notes: String? = nil
    ) {
        self.origin = origin
        self.account = account
        self.document = document
        self.lines = lines
        self.dueOn = dueOn
        self.backOfficeCode = backOfficeCode
        self.notes = notes
    }
}

/// Posts a draft.
public struct DocumentPostCommand: Codable, Sendable, Equatable, StrictContract {
    public var origin: CommandOrigin
    public var account: String
    /// The draft: its reference or id.
    public var document: String
    /// Default: the day the command is handled (UTC).
    public var postedOn: String?

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case origin, account, document, postedOn
    }

    public static var nestedContracts: [String: any StrictContract.Type] { ["origin": CommandOrigin.self] }

    public init(origin: CommandOrigin, account: String, document: String, postedOn: String? = nil) {
        self.origin = origin
        self.account = account
        self.document = document
        self.postedOn = postedOn
    }
}

/// Rejects a draft: `category` is `duplicate`, `wrong-account`, `wrong-amount`, `not-authorised` or `other`.
public struct DocumentRejectCommand: Codable, Sendable, Equatable, StrictContract {
    public var origin: CommandOrigin
    public var account: String
    public var document: String
    public var category: String
    public var reason: String

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case origin, account, document, category, reason
    }

    public static var nestedContracts: [String: any StrictContract.Type] { ["origin": CommandOrigin.self] }

    public init(origin: CommandOrigin, account: String, document: String, category: String, reason: String) {
        self.origin = origin
        self.account = account
        self.document = document
        self.category = category
        self.reason = reason
    }
}

/// Cancels a posted invoice: an invoice cancellation document for its whole total, posted at once.
public struct InvoiceCancelCommand: Codable, Sendable, Equatable, StrictContract {
    public var origin: CommandOrigin
    public var account: String
    /// The invoice: its number (or id).
    public var invoice: String
    public var reason: String
    /// Default: the day the command is handled (UTC).
    public var cancelledOn: String?

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case origin, account, invoice, reason, cancelledOn
    }

    public static var nestedContracts: [String: any StrictContract.Type] { ["origin": CommandOrigin.self] }

    public init(origin: CommandOrigin, account: String, invoice: String, reason: String, cancelledOn: String? = nil) {
        self.origin = origin
        self.account = account
        self.invoice = invoice
        self.reason = reason
        self.cancelledOn = cancelledOn
    }
}

extension CommandOrigin: StrictContract {}
