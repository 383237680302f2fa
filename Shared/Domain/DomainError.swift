/// Why the domain refused a value or an operation, in words a billing operator understands.
///
/// Every case is a refusal of input (never a crash); `code` is stable for machines.
public enum DomainError: Error, Sendable, Equatable, CustomStringConvertible {
    case unknownCurrency(String)
    case invalidAmount(text: String, problem: String)
    case tooManyDecimals(text: String, decimals: Int, currency: Currency)
    case amountOutOfRange(String)
    case currencyMismatch(Currency, Currency)
    case overflow(String)
    case invalidQuantity(text: String, problem: String)
    case invalidDate(String)
    case invalidCreditRule(String)
    case dueDateBeforePosting(due: LocalDate, posted: LocalDate)
    case dueDateTooLate(due: LocalDate, latest: LocalDate, rule: String)
    case dueDateTooEarly(due: LocalDate, earliest: LocalDate, rule: String)
    case invalidLine(String)
    case invalidDocument(String)
    case invalidAccount(String)

    public var code: String {
        switch self {
        case .unknownCurrency: return "unknown_currency"
        case .invalidAmount: return "invalid_amount"
        case .tooManyDecimals: return "too_many_decimals"
        case .amountOutOfRange: return "amount_out_of_range"
        case .currencyMismatch: return "currency_mismatch"
        case .overflow: return "overflow"
        case .invalidQuantity: return "invalid_quantity"
        case .invalidDate: return "invalid_date"
        case .invalidCreditRule: return "invalid_credit_rule"
        case .dueDateBeforePosting: return "due_date_before_posting"
        case .dueDateTooLate: return "due_date_too_late"
        case .dueDateTooEarly: return "due_date_too_early"
        case .invalidLine: return "invalid_line"
        case .invalidDocument: return "invalid_document"
        case .invalidAccount: return "invalid_account"
        }
    }

    public var description: String {
        switch self {
        case .unknownCurrency(let code): return "'\(code)' is not an ISO 4217 currency code"
        case .invalidAmount(let text, let problem): return "amount '\(text)' is not valid: \(problem)"
        case .tooManyDecimals(let text, let decimals, let currency):
            return "amount \(text) has \(decimals) decimals, \(currency.code) allows \(currency.exponent)"
        case .amountOutOfRange(let text): return "amount \(text) is too large"
        case .currencyMismatch(let left, let right): return "cannot combine \(left.code) with \(right.code)"
        case .overflow(let what): return "\(what) is too large to compute"
        case .invalidQuantity(let text, let problem): return "'\(text)' is not a valid quantity: \(problem)"
        case .invalidDate(let text): return "'\(text)' is not a date (expected YYYY-MM-DD)"
        case .invalidCreditRule(let problem): return "credit rule is not valid: \(problem)"
        case .dueDateBeforePosting(let due, let posted): return "due date \(due) is before the posting date \(posted)"
        case .dueDateTooLate(let due, let latest, let rule):
            return "due date \(due) is after the latest allowed \(latest) for rule '\(rule)'"
        case .dueDateTooEarly(let due, let earliest, let rule):
            return "due date \(due) is before the earliest allowed \(earliest) for rule '\(rule)'"
        case .invalidLine(let problem): return "invoice line is not valid: \(problem)"
        case .invalidDocument(let problem): return "document is not valid: \(problem)"
        case .invalidAccount(let problem): return "account is not valid: \(problem)"
        }
    }
}
