/// The kinds of financial documents and which side of the client's balance each moves.
///
/// Debits raise the balance (the client owes more); credits lower it.
public enum DocumentKind: String, Sendable, Hashable, Codable, CaseIterable {
    case invoice
    case creditNote = "credit-note"
    case invoiceCancellation = "invoice-cancellation"
    case payment
    case paymentReversal = "payment-reversal"
    case refund
    case transferOut = "transfer-out"
    case transferIn = "transfer-in"
    case writeOff = "write-off"

    public var side: LedgerItem.Side {
        switch self {
        case .invoice, .refund, .transferOut, .paymentReversal: return .debit
        case .creditNote, .invoiceCancellation, .payment, .transferIn, .writeOff: return .credit
        }
    }

    /// Prefix of the legal number series, e.g. `INV` in `INV-2026-000123`.
    public var numberPrefix: String {
        switch self {
        case .invoice: return "INV"
        case .creditNote: return "CN"
        case .invoiceCancellation: return "IC"
        case .payment: return "PAY"
        case .paymentReversal: return "PR"
        case .refund: return "RF"
        case .transferOut: return "TO"
        case .transferIn: return "TI"
        case .writeOff: return "WO"
        }
    }
}

/// Draft → posted, or draft → rejected (with a reason category). Nothing else.
public enum DocumentState: String, Sendable, Hashable, Codable {
    case draft, posted, rejected

    public func transition(to next: DocumentState) throws(DomainError) -> DocumentState {
        guard self == .draft, next != .draft else {
            throw .invalidDocument("a \(rawValue) document cannot become \(next.rawValue)")
        }
        return next
    }
}

/// Why a draft was rejected.
public enum RejectionCategory: String, Sendable, Hashable, Codable, CaseIterable {
    case duplicate
    case wrongAccount = "wrong-account"
    case wrongAmount = "wrong-amount"
    case notAuthorised = "not-authorised"
    case other
}

/// A legal document number from a gapless series per document kind and year: `INV-2026-000123`.
public struct DocumentNumber: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let prefix: String
    public let year: Int
    public let sequence: Int64

    public init(prefix: String, year: Int, sequence: Int64) throws(DomainError) {
        guard !prefix.isEmpty, prefix.count <= 12, prefix.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) })
        else {
            throw .invalidDocument("number prefix '\(prefix)' must be 1 to 12 letters or digits")
        }
        guard (1...9999).contains(year) else { throw .invalidDocument("year \(year) is out of range") }
        guard sequence >= 1 else { throw .invalidDocument("sequence \(sequence) must start at 1") }
        self.prefix = prefix
        self.year = year
        self.sequence = sequence
    }

    public static func parse(_ text: String) throws(DomainError) -> DocumentNumber {
        let parts = text.split(separator: "-")
        guard parts.count == 3, let year = Int(parts[1]), let sequence = Int64(parts[2]) else {
            throw .invalidDocument("'\(text)' is not a document number like INV-2026-000123")
        }
        return try DocumentNumber(prefix: String(parts[0]), year: year, sequence: sequence)
    }

    /// Six digits at least, more when the series grows past them.
    public var description: String {
        let digits = String(sequence)
        return "\(prefix)-\(year)-\(String(repeating: "0", count: max(0, 6 - digits.count)))\(digits)"
    }

    public static func < (lhs: DocumentNumber, rhs: DocumentNumber) -> Bool {
        (lhs.prefix, lhs.year, lhs.sequence) < (rhs.prefix, rhs.year, rhs.sequence)
    }
}
