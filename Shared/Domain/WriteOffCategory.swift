/// Why a debt is written off; each category posts to its own write-off expense account, so the
/// books show how much was lost to what.
public enum WriteOffCategory: String, Sendable, Hashable, Codable, CaseIterable {
    /// The client cannot or will not pay, and collection has failed.
    case uncollectible
    /// A remainder too small to pursue.
    case smallBalance = "small-balance"
    /// Waived to keep the client's goodwill.
    case goodwill
    /// Disputed and settled in the client's favour.
    case dispute
    /// The client is insolvent.
    case bankruptcy

    public static func parse(_ text: String) throws(DomainError) -> WriteOffCategory {
        guard let category = WriteOffCategory(rawValue: text) else {
            throw .invalidDocument(
                "write-off reason '\(text)' is not one of \(allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return category
    }

    public var ledgerAccount: LedgerAccount { .writeOffExpense(category: rawValue) }
}
