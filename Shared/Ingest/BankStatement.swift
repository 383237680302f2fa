import BillingDomain

/// A bank statement file as the bank wrote it, parsed but not yet interpreted: statements,
/// their entries as entries (before any split into details), and every detail the bank gave.
/// Amounts are minor units of the currency they are written in; signs come from indicators.
public struct ParsedStatementFile: Sendable {
    /// `camt.053.001.02`, `camt.054.001.08`, `mt940`, `csv`.
    public var format: String
    public var statements: [ParsedStatement]
    /// The text encoding the file was read in (MT940 and CSV); nil for XML, which reads UTF-8.
    public var encoding: TextEncoding?
}

/// A balance as the bank stated it: signed (a debit balance is negative).
public struct StatedBalance: Sendable, Equatable {
    public var minor: Int64
    public var currency: String
    public var date: LocalDate?
}

public struct ParsedStatement: Sendable {
    /// The bank's statement id (camt `Id`, MT940 `:20:`).
    public var id: String?
    /// Our bank account: an IBAN, or the bank's other identifier (camt `Othr/Id`, MT940 `:25:`).
    public var account: String
    public var currency: String?
    /// Sequence or page (camt `ElctrncSeqNb`/`LglSeqNb`, MT940 `:28C:`).
    public var sequence: String?
    /// Opening and closing booked balances (camt OPBD/PRCD and CLBD, MT940 :60F:/:60M: and
    /// :62F:/:62M:); nil when the statement carries none (a camt.054 notification).
    public var opening: StatedBalance?
    public var closing: StatedBalance?
    /// The entries, unless the parser handed them to a caller one by one instead (see `add`).
    public var entries: [ParsedEntry]
    /// Where the statement starts, for reports (`Stmt 2`, `line 14`).
    public var location: String
    /// What was read but not as written, for the import report (a balance's impossible date).
    public var notices: [String] = []
    /// Totals of every entry read, as the bank wrote them, booked or not.
    public private(set) var entryCount = 0
    public private(set) var creditsCount = 0
    public private(set) var creditsMinor: Int64 = 0
    public private(set) var debitsCount = 0
    public private(set) var debitsMinor: Int64 = 0
    /// Credits − debits of the booked entries.
    public private(set) var bookedMovementMinor: Int64 = 0

    public init(account: String, location: String) {
        self.account = account
        self.entries = []
        self.location = location
    }

    /// Counts an entry into the totals (refusing totals beyond Int64) and keeps it when `keep`.
    public mutating func add(_ entry: ParsedEntry, keep: Bool = true) throws(StatementFileError) {
        func sum(_ total: Int64, _ amount: Int64) throws(StatementFileError) -> Int64 {
            let (result, overflow) = total.addingReportingOverflow(amount)
            guard !overflow else {
                throw StatementFileError(
                    "amount_out_of_range", "the statement's totals exceed Int64", at: entry.location)
            }
            return result
        }
        entryCount += 1
        if entry.isCredit {
            creditsCount += 1
            creditsMinor = try sum(creditsMinor, entry.amountMinor)
        } else {
            debitsCount += 1
            debitsMinor = try sum(debitsMinor, entry.amountMinor)
        }
        if entry.isBooked {
            bookedMovementMinor = try sum(bookedMovementMinor, entry.isCredit ? entry.amountMinor : -entry.amountMinor)
        }
        if keep { entries.append(entry) }
    }

    /// Opening + credits − debits = closing, over booked entries; nil when a balance is missing.
    /// An entry in another currency than the balances' counts as written: the statement then
    /// simply does not reconcile, which is reported.
    public var reconciles: Bool? {
        guard let opening, let closing else { return nil }
        let (end, overflow) = opening.minor.addingReportingOverflow(bookedMovementMinor)
        return !overflow && end == closing.minor
    }
}

/// One entry as the bank booked (or reported) it.
public struct ParsedEntry: Sendable {
    public var amountMinor: Int64
    public var currency: String
    /// Credit to our account (money in); false for a debit.
    public var isCredit: Bool
    /// The bank marks this entry as reversing an earlier one (camt `RvslInd`, MT940 `RC`/`RD`).
    public var isReversal: Bool
    /// `BOOK`, `PDNG`, `INFO` (camt `Sts`); nil when the bank gave none (treated as booked).
    public var status: String?
    public var bookingDate: LocalDate?
    public var valueDate: LocalDate?
    /// The bank's own reference of the entry (camt `AcctSvcrRef`; MT940 bank reference after `//`).
    public var accountServicerReference: String?
    /// camt `NtryRef`; MT940 customer reference (the one before `//`), unless `NONREF`.
    public var entryReference: String?
    /// `PMNT/RCDT/ESCT`-style domain code, or the proprietary code (MT940 transaction type).
    public var transactionCode: String?
    /// Charges the bank reported, and whether each is included in `amountMinor`.
    public var charges: [(minor: Int64, currency: String, included: Bool?)]
    /// Text the bank gave about the entry as a whole (camt `AddtlNtryInf`, MT940 `:86:`).
    public var information: String?
    /// MT940: the supplementary details on the lines after a `:61:` (often the booking text).
    public var supplementary: String?
    public var details: [ParsedDetail]
    /// Where the entry is in the file (`Stmt 1 Ntry 3`, `line 42`).
    public var location: String

    public init(amountMinor: Int64, currency: String, isCredit: Bool, location: String) {
        self.amountMinor = amountMinor
        self.currency = currency
        self.isCredit = isCredit
        self.isReversal = false
        self.charges = []
        self.details = []
        self.location = location
    }

    /// Booked unless the bank said otherwise (`PDNG`, `INFO`, …).
    public var isBooked: Bool { status == nil || status == "BOOK" }
}

/// One transaction inside an entry (camt `TxDtls`; MT940 gives none, its :86: is on the entry).
public struct ParsedDetail: Sendable {
    /// The detail's own amount when the bank gives one (camt `TxDtls/Amt` or `AmtDtls/TxAmt`).
    public var amountMinor: Int64?
    public var currency: String?
    /// Credit or debit of the detail when it says (camt.053.001.04+ `TxDtls/CdtDbtInd`).
    public var isCredit: Bool?
    public var endToEndId: String?
    public var instructionId: String?
    public var transactionId: String?
    public var accountServicerReference: String?
    public var remittance: [String]
    /// Structured creditor reference (ISO 11649 `RF…` or a national one).
    public var creditorReference: String?
    public var debtorName: String?
    public var debtorAccount: String?
    public var creditorName: String?
    public var creditorAccount: String?
    public var returnReason: String?
    public var additionalInformation: String?
    /// The client's account number as the channel states it (a payment registry's row).
    public var statedAccount: String?

    public init() {
        remittance = []
    }
}

/// Why a statement file cannot be read. Permanent for the same bytes.
public struct StatementFileError: Error, Sendable, CustomStringConvertible, Equatable {
    public let code: String
    public let reason: String
    /// Where in the file (`line 12`, `byte 340`, `Stmt 1 Ntry 4`).
    public let location: String

    public init(_ code: String, _ reason: String, at location: String) {
        self.code = code
        self.reason = reason
        self.location = location
    }

    public var description: String { "\(reason) (\(location))" }
}

/// Decimal text to minor units of `currency`, refused with where it was found.
func minorUnits(_ text: String, _ currencyCode: String, format: AmountFormat = .plain, at location: String)
    throws(StatementFileError) -> Int64
{
    do {
        let currency = try Currency(code: currencyCode)
        return try Money.parse(text.trimmingSpaces(), currency: currency, format: format).minor
    } catch {
        throw StatementFileError(error.code, error.description, at: location)
    }
}
