import FoundationEssentials

/// Headers of a raw bank statement file on `billing.bank-statements.raw` (the value is the file's
/// bytes as the bank wrote them): `file_id` (what `billing-ctl import --wait` waits for; also sent as
/// `ce_id` so that a refused file's dead letter is found by it), `file_name`, and optional `format`
/// (`camt`, `mt940`, `csv`), `bank_account`, `encoding` (`utf-8`, `latin-1`, `cp852`).
/// Headers of `billing.gateway-events.raw` messages besides the gateway's own (`Stripe-Signature`).
public enum GatewayEventHeaders {
    /// When the webhook reached us (`gateway-relay` stamps it): milliseconds since the epoch, as
    /// decimal text. A signature's freshness is judged against it, so a backlog or a replay of the
    /// topic decides exactly as the first reading did. Absent, the message's own timestamp is used.
    public static let receivedAtMs = "received_at_ms"
}

public enum StatementFileHeaders {
    public static let fileID = "file_id"
    public static let fileName = "file_name"
    public static let format = "format"
    public static let encoding = "encoding"
    public static let bankAccount = "bank_account"
}

/// The import report (`billing-ctl import --json`): per statement what the bank wrote, per file
/// what was booked.
public struct ImportReport: Codable, Sendable {
    public struct Statement: Codable, Sendable {
        public var statementId: String
        public var account: String
        public var currency: String?
        public var openingBalanceMinor: Int64?
        public var closingBalanceMinor: Int64?
        public var reconciles: Bool?
        public var entries: Int
        public var creditsCount: Int
        public var creditsMinor: Int64
        public var debitsCount: Int
        public var debitsMinor: Int64

        public init(
            statementId: String, account: String, currency: String?, openingBalanceMinor: Int64?,
            closingBalanceMinor: Int64?, reconciles: Bool?, entries: Int, creditsCount: Int, creditsMinor: Int64,
            debitsCount: Int, debitsMinor: Int64
        ) {
            self.statementId = statementId
            self.account = account
            self.currency = currency
            self.openingBalanceMinor = openingBalanceMinor
            self.closingBalanceMinor = closingBalanceMinor
            self.reconciles = reconciles
            self.entries = entries
            self.creditsCount = creditsCount
            self.creditsMinor = creditsMinor
            self.debitsCount = debitsCount
            self.debitsMinor = debitsMinor
        }
    }

    public struct Lines: Codable, Sendable {
        public init() {}
        public var booked = 0
        public var duplicate = 0
        public var identified = 0
        public var unidentified = 0
        public var notBooked = 0
        public var rejected = 0
        /// Booked lines that were the bank's charges (posted to bank fees, tied to no client).
        public var bankFees = 0
        /// Booked weak lines (no bank reference) alike to one booked from another statement: booked,
        /// never taken for duplicates, and flagged for a person to check.
        public var alike = 0

        enum CodingKeys: String, CodingKey {
            case booked, duplicate, identified, unidentified, notBooked, rejected, bankFees, alike
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            booked = try container.decode(Int.self, forKey: .booked)
            duplicate = try container.decode(Int.self, forKey: .duplicate)
            identified = try container.decode(Int.self, forKey: .identified)
            unidentified = try container.decode(Int.self, forKey: .unidentified)
            notBooked = try container.decode(Int.self, forKey: .notBooked)
            rejected = try container.decode(Int.self, forKey: .rejected)
            // Reports written before bank fees were counted have no such field.
            bankFees = try container.decodeIfPresent(Int.self, forKey: .bankFees) ?? 0
            alike = try container.decodeIfPresent(Int.self, forKey: .alike) ?? 0
        }
    }

    public struct Rejection: Codable, Sendable {
        public init(reason: String, where location: String) {
            self.reason = reason
            self.where = location
        }
        public var reason: String
        public var `where`: String
    }

    public var fileId: String
    public var fileName: String?
    public var format: String
    public var statements: [Statement]
    public var lines: Lines
    public var rejections: [Rejection]
    public var notices: [String]

    public init(
        fileId: String, fileName: String?, format: String, statements: [Statement], lines: Lines,
        rejections: [Rejection], notices: [String]
    ) {
        self.fileId = fileId
        self.fileName = fileName
        self.format = format
        self.statements = statements
        self.lines = lines
        self.rejections = rejections
        self.notices = notices
    }
}

/// Commands to cash desks on `billing.cash-desk.commands` (keyed by desk id; `ce_id` is the command
/// id). Amounts are decimal text in the desk's currency. Outcomes go to `ingest.command_outcomes`
/// and `billing.command-outcomes`. Unknown fields are refused.
public enum CashDeskTypes {
    /// Opens a shift with the cash float in the drawer; the desk is created on its first shift.
    public static let openShift = "billing.cash-desk.open-shift.v1"
    /// A payment taken at the desk during its open shift: posted to the desk's cash account.
    public static let payment = "billing.cash-desk.payment.v1"
    /// Closes the shift with the cash counted; the difference from float + payments is recorded.
    public static let closeShift = "billing.cash-desk.close-shift.v1"

    public static let commands = [openShift, payment, closeShift]
}

public struct CashDeskCommand: Codable, Sendable, Equatable, StrictContract {
    public var origin: CommandOrigin
    public var desk: String
    /// Open shift: the desk's currency (fixed on the desk's first shift).
    public var currency: String?
    /// Open shift: the float, decimal text.
    public var float: String?
    /// Payment: the client's account and the amount, decimal text.
    public var account: String?
    public var amount: String?
    public var reference: String?
    /// Close shift: the cash counted, decimal text.
    public var counted: String?

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case origin, desk, currency, float, account, amount, reference, counted
    }

    public static var nestedContracts: [String: any StrictContract.Type] { ["origin": CommandOrigin.self] }

    public init(
        origin: CommandOrigin, desk: String, currency: String? = nil, float: String? = nil, account: String? = nil,
        amount: String? = nil, reference: String? = nil, counted: String? = nil
    ) {
        self.origin = origin
        self.desk = desk
        self.currency = currency
        self.float = float
        self.account = account
        self.amount = amount
        self.reference = reference
        self.counted = counted
    }
}
