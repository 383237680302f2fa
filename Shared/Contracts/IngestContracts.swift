import FoundationEssentials

/// Headers of a raw bank statement file on `billing.bank-statements.raw` (the value is the file's
/// bytes as the bank wrote them): `file_id` (what `billing-ctl import --wait` waits for; also sent as
/// `ce_id` so that a refused file's dead letter is found by it), `file_name`, and optional `format`
/// (`camt`, `mt940`, `csv`), `bank_account`, `encoding` (`utf-8`, `latin-1`, `cp852`).
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
