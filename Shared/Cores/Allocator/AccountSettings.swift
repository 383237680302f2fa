import BillingContracts
import BillingDomain

/// Turns account commands into validated domain accounts: the domain's rules decide, and its
/// errors become refusals with the same stable codes.
public enum AccountSettings {
    /// Credit rule of an account opened without one: due 14 days after posting.
    public static let defaultCreditRule = "days:14"

    public static func opening(_ command: AccountSettingsCommand) throws(Refusal) -> Account {
        guard let name = command.name else { throw Refusal(code: "invalid_account", reason: "an account needs a name") }
        guard let currencyCode = command.currency else {
            throw Refusal(code: "invalid_account", reason: "an account needs a currency")
        }
        return try refusing { () throws(DomainError) -> Account in
            let currency = try Currency(code: currencyCode)
            return try Account(
                number: command.number, name: name, currency: currency,
                creditLimit: try limit(command.creditLimit, currency),
                creditRule: try CreditRule.parse(command.creditRule ?? defaultCreditRule),
                allocationPrinciple: try principle(command.allocation) ?? .fifo,
                presentment: try presentment(command.presentment) ?? .print, email: command.email,
                phone: command.phone, owningGroup: command.owningGroup)
        }
    }

    /// The account's settings with the command's changes; absent fields stay, empty text clears.
    static func updating(_ account: LockedAccount, with command: AccountSettingsCommand) throws(Refusal) -> Account {
        if let currency = command.currency, currency != account.currency.code {
            throw Refusal(
                code: "currency_mismatch",
                reason: "the currency of \(account.number) is \(account.currency.code) and cannot change")
        }
        func cleared(_ value: String?, _ current: String?) -> String? {
            guard let value else { return current }
            return value.isEmpty ? nil : value
        }
        return try refusing { () throws(DomainError) -> Account in
            let currentLimit = account.creditLimitMinor.map { Money(minor: $0, currency: account.currency) }
            return try Account(
                number: account.number, name: command.name ?? account.name, currency: account.currency,
                state: account.state,
                creditLimit: command.creditLimit == nil
                    ? currentLimit : try limit(command.creditLimit, account.currency),
                creditRule: try CreditRule.parse(command.creditRule ?? account.creditRule),
                allocationPrinciple: try principle(command.allocation) ?? account.allocationSetting,
                presentment: try presentment(command.presentment)
                    ?? account.presentment,
                email: cleared(command.email, account.email), phone: cleared(command.phone, account.phone),
                owningGroup: cleared(command.owningGroup, account.owningGroup))
        }
    }

    private static func refusing(_ body: () throws(DomainError) -> Account) throws(Refusal) -> Account {
        do {
            return try body()
        } catch {
            throw Refusal(code: error.code, reason: error.description)
        }
    }

    private static func limit(_ text: String?, _ currency: Currency) throws(DomainError) -> Money? {
        guard let text, text != "none", !text.isEmpty else { return nil }
        return try Money.parse(text, currency: currency)
    }

    private static func principle(_ text: String?) throws(DomainError) -> AllocationPrinciple? {
        guard let text else { return nil }
        guard let principle = AllocationPrinciple(rawValue: text) else {
            throw .invalidAccount("allocation '\(text)' is not fifo or against-item")
        }
        return principle
    }

    private static func presentment(_ text: String?) throws(DomainError) -> PresentmentChannel? {
        guard let text else { return nil }
        guard let channel = PresentmentChannel(rawValue: text) else {
            throw .invalidAccount("presentment '\(text)' is not email, sms or print")
        }
        return channel
    }
}
