import BillingContracts
import BillingDomain

extension EventBody {
    /// An account snapshot from `billing.accounts`, with every field a service's copy keeps
    /// checked: the ledger's id, a known state, an ISO 4217 currency and a credit rule.
    public static func accountSnapshot(_ event: CloudEvent) throws(MessageRejection) -> AccountSnapshot {
        let snapshot: AccountSnapshot = try decode(event)
        guard let id = snapshot.accountId, id > 0 else {
            throw invalid("account_id is missing (the ledger's id of the account)")
        }
        guard AccountState(rawValue: snapshot.state) != nil else {
            throw invalid("state '\(snapshot.state)' is not active, suspended or terminated")
        }
        do {
            _ = try Currency(code: snapshot.currency)
            _ = try CreditRule.parse(snapshot.creditRule)
        } catch {
            throw invalid(error.description)
        }
        return snapshot
    }
}
