/// An account receivable's state. A terminated account accepts no new payments (they go to
/// suspense) and no new invoices; a suspended one is still billed and still pays.
public enum AccountState: String, Sendable, Hashable, Codable, CaseIterable {
    case active, suspended, terminated
}

/// How the client prefers to receive bills.
public enum PresentmentChannel: String, Sendable, Hashable, Codable, CaseIterable {
    case email, sms, print
}

/// An account receivable: the client's side of the ledger, in one currency.
public struct Account: Sendable, Hashable {
    public let number: String
    public let name: String
    public let currency: Currency
    public var state: AccountState
    /// The most the client may owe; nil for no limit.
    public var creditLimit: Money?
    public var creditRule: CreditRule
    public var allocationPrinciple: AllocationPrinciple
    public var presentment: PresentmentChannel
    public var email: String?
    public var phone: String?
    public var owningGroup: String?

    public init(
        number: String, name: String, currency: Currency, state: AccountState = .active, creditLimit: Money? = nil,
        creditRule: CreditRule, allocationPrinciple: AllocationPrinciple = .fifo,
        presentment: PresentmentChannel = .print,
        email: String? = nil, phone: String? = nil, owningGroup: String? = nil
    ) throws(DomainError) {
        guard Self.isValidNumber(number) else {
            throw .invalidAccount("account number '\(number)' must be 1 to 40 letters, digits, '-', '_', '/' or '.'")
        }
        let trimmedName = name.trimmingSpaces()
        guard !trimmedName.isEmpty, trimmedName.count <= 200 else {
            throw .invalidAccount("the name must be 1 to 200 characters")
        }
        if let creditLimit {
            guard creditLimit.currency == currency else {
                throw .invalidAccount(
                    "credit limit is in \(creditLimit.currency.code), the account in \(currency.code)")
            }
            guard !creditLimit.isNegative else {
                throw .invalidAccount("credit limit \(creditLimit.decimalText) is negative")
            }
        }
        if let email, !Self.isValidEmail(email) { throw .invalidAccount("'\(email)' is not an email address") }
        if let phone, !Self.isValidPhone(phone) {
            throw .invalidAccount(
                "'\(phone)' is not a phone number (digits, optionally starting with +, 7 to 15 digits)")
        }
        switch presentment {
        case .email where email == nil: throw .invalidAccount("bills by email need an email address")
        case .sms where phone == nil: throw .invalidAccount("bills by SMS need a phone number")
        default: break
        }
        self.number = number
        self.name = trimmedName
        self.currency = currency
        self.state = state
        self.creditLimit = creditLimit
        self.creditRule = creditRule
        self.allocationPrinciple = allocationPrinciple
        self.presentment = presentment
        self.email = email
        self.phone = phone
        self.owningGroup = owningGroup
    }

    public var acceptsPayments: Bool { state != .terminated }
    public var acceptsInvoices: Bool { state != .terminated }

    static func isValidNumber(_ number: String) -> Bool {
        (1...40).contains(number.count)
            && number.unicodeScalars.allSatisfy {
                ("A"..."Z").contains($0) || ("a"..."z").contains($0) || ("0"..."9").contains($0)
                    || "-_/.".unicodeScalars.contains($0)
            }
    }

    static func isValidEmail(_ email: String) -> Bool {
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        return email.count <= 254 && parts.count == 2 && !parts[0].isEmpty && parts[1].contains(".")
            && !parts[1].hasPrefix(".") && !parts[1].hasSuffix(".") && !email.contains(" ")
    }

    static func isValidPhone(_ phone: String) -> Bool {
        var digits = Substring(phone)
        if digits.first == "+" { digits.removeFirst() }
        return (7...15).contains(digits.count) && digits.allSatisfy { $0.isASCII && $0.isNumber }
    }
}
