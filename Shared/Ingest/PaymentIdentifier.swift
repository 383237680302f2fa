/// What a credit line (or registry row, or gateway payment) offers to tie it to a client.
public struct PaymentClues: Sendable, Equatable {
    /// Remittance texts, structured and unstructured, and any other free text of the line.
    public var texts: [String]
    /// A structured creditor reference (`RF18539007547034`, or a national one).
    public var creditorReference: String?
    /// The payer's account (IBAN, or a payment network's account id).
    public var payerAccount: String?
    /// An account number the channel states outright (a registry row, a gateway's metadata).
    public var statedAccount: String?

    public init(
        texts: [String] = [], creditorReference: String? = nil, payerAccount: String? = nil,
        statedAccount: String? = nil
    ) {
        self.texts = texts
        self.creditorReference = creditorReference
        self.payerAccount = payerAccount
        self.statedAccount = statedAccount
    }
}

/// An account as identification sees it.
public struct KnownAccount: Sendable, Equatable {
    public let number: String
    public let currency: String
    public let isTerminated: Bool

    public init(number: String, currency: String, isTerminated: Bool) {
        self.number = number
        self.currency = currency
        self.isTerminated = isTerminated
    }
}

/// The lookups identification needs, answered from what the batch loaded (see `PaymentIdentifier.tokens`).
public struct IdentificationDirectory: Sendable {
    /// Account number → account.
    public var accounts: [String: KnownAccount]
    /// Invoice number or reference → the account number it belongs to.
    public var documents: [String: String]
    /// A payer's IBAN or network account → the account number it paid for before.
    public var payers: [String: String]
    /// Configured words after which payers write their account number in a form of their own
    /// (`Kd-Nr.`, `customer no`), each with what to put before the word that follows (`A-`): `Kd-Nr.
    /// 1002` with the marker (`Kd-Nr.`, `A-`) is tried as account `A-1002`.
    public var accountMarkers: [(marker: String, prefix: String)]

    public init(
        accounts: [String: KnownAccount] = [:], documents: [String: String] = [:], payers: [String: String] = [:],
        accountMarkers: [(marker: String, prefix: String)] = []
    ) {
        self.accounts = accounts
        self.documents = documents
        self.payers = payers
        self.accountMarkers = accountMarkers
    }
}

public enum Identification: Sendable, Equatable {
    /// Tied to `account` by `rule` (`stated-account`, `account-in-remittance`, `document-in-remittance`,
    /// `creditor-reference`, `payer-account`), with the text that matched.
    case identified(account: String, rule: String, evidence: String)
    /// Not tied (to suspense), with every reason found along the way.
    case unidentified(reasons: [String], account: String?)
}

/// Ties incoming money to a client, by these rules in order: an account number the channel states;
/// an account number in the remittance; an invoice number or reference in the remittance; an ISO
/// 11649 creditor reference (checksum checked) whose body is an account number or document; a
/// payer account seen paying for one client before. A rule that points at two clients is
/// ambiguous and the next rule is tried. Then the configured rule: the word after a configured
/// marker (`INGEST_ACCOUNT_MARKERS`) as an account number. A match on a terminated account, or one in another
/// currency, goes to suspense with that reason.
public enum PaymentIdentifier {
    public static func identify(_ clues: PaymentClues, currency: String, directory: IdentificationDirectory)
        -> Identification
    {
        var reasons: [String] = []
        let tokens = Self.tokens(clues)
        var rules: [(String, [(account: String, evidence: String)])] = []
        if let stated = clues.statedAccount {
            rules.append(
                ("stated-account", directory.accounts[stated] != nil ? [(stated, stated)] : []))
            if directory.accounts[stated] == nil { reasons.append("stated account \(stated) does not exist") }
        }
        rules.append(("account-in-remittance", tokens.compactMap { directory.accounts[$0] != nil ? ($0, $0) : nil }))
        rules.append(
            ("document-in-remittance", tokens.compactMap { token in directory.documents[token].map { ($0, token) } }))
        if let reference = clues.creditorReference?.filter({ $0 != " " }) {
            if reference.uppercased().hasPrefix("RF") {
                if let body = creditorReferenceBody(reference) {
                    let account = directory.accounts[body] != nil ? body : directory.documents[body]
                    rules.append(("creditor-reference", account.map { [($0, reference)] } ?? []))
                    if account == nil { reasons.append("creditor reference \(reference) names no account or document") }
                } else {
                    reasons.append("creditor reference \(reference) fails its ISO 11649 check digits")
                }
            } else {
                let account = directory.accounts[reference] != nil ? reference : directory.documents[reference]
                rules.append(("creditor-reference", account.map { [($0, reference)] } ?? []))
            }
        }
        if let payer = clues.payerAccount?.filter({ $0 != " " }), let account = directory.payers[payer] {
            rules.append(("payer-account", [(account, payer)]))
        }
        let marked = markedWords(clues, directory.accountMarkers)
        if !marked.isEmpty {
            rules.append(("configured-marker", marked.compactMap { directory.accounts[$0] != nil ? ($0, $0) : nil }))
        }
        for (rule, matches) in rules where !matches.isEmpty {
            let accounts = Set(matches.map(\.account))
            guard accounts.count == 1, let number = accounts.first else {
                reasons.append("\(rule): names several accounts (\(accounts.sorted().joined(separator: ", ")))")
                continue
            }
            guard let account = directory.accounts[number] else {
                reasons.append("\(rule): names account \(number), which is not known here")
                continue
            }
            if account.isTerminated {
                return .unidentified(reasons: reasons + ["account \(number) is terminated"], account: number)
            }
            if account.currency != currency {
                return .unidentified(
                    reasons: reasons + ["the payment is in \(currency), account \(number) in \(account.currency)"],
                    account: number)
            }
            return .identified(account: number, rule: rule, evidence: matches[0].evidence)
        }
        if reasons.isEmpty {
            reasons.append(
                tokens.isEmpty && clues.payerAccount == nil
                    ? "the payment carries no remittance, reference or payer account"
                    : "no account number, invoice, creditor reference or known payer matches")
        }
        return .unidentified(reasons: reasons, account: nil)
    }

    /// The word after each configured marker, with the marker's prefix before it (`Kd-Nr. 1002` →
    /// `A-1002`): candidates for the configured-marker rule.
    public static func markedWords(_ clues: PaymentClues, _ markers: [(marker: String, prefix: String)]) -> [String] {
        guard !markers.isEmpty else { return [] }
        var words: [String] = []
        for text in clues.texts {
            let lower = text.lowercased()
            for (marker, prefix) in markers {
                let needle = marker.lowercased()
                var searchFrom = lower.startIndex
                while let found = lower[searchFrom...].firstRange(of: needle) {
                    searchFrom = found.upperBound
                    let rest = lower[found.upperBound...].drop { $0 == " " || $0 == ":" || $0 == "#" }
                    let word = rest.prefix { $0.isLetter || $0.isNumber || "-_/.".contains($0) }
                    var candidate = String(word).uppercased()
                    while let last = candidate.last, last == "." || last == "/" || last == "-" {
                        candidate.removeLast()
                    }
                    if !candidate.isEmpty { words.append(prefix + candidate) }
                }
            }
        }
        return words
    }

    /// The words of the clues that could be account numbers, invoice numbers or references: what a
    /// batch looks up before identifying. Cut at spaces and punctuation other than `-`, `_`, `/`, `.`;
    /// trailing dots and slashes dropped; each also upper-cased.
    public static func tokens(_ clues: PaymentClues) -> [String] {
        var seen: Set<String> = []
        var tokens: [String] = []
        for text in clues.texts + [clues.creditorReference].compactMap({ $0 }) {
            var word = ""
            func flush() {
                while let last = word.last, last == "." || last == "/" || last == "-" { word.removeLast() }
                if word.count >= 3, word.count <= 40 {
                    for variant in [word, word.uppercased()] where seen.insert(variant).inserted {
                        tokens.append(variant)
                    }
                }
                word = ""
            }
            for character in text {
                if character.isLetter || character.isNumber || "-_/.".contains(character) {
                    word.append(character)
                } else {
                    flush()
                }
            }
            flush()
        }
        return tokens
    }

    /// The reference body of a valid ISO 11649 creditor reference (`RF18 5390 0754 7034` → `539007547034`),
    /// nil when the check digits fail or the form is wrong.
    public static func creditorReferenceBody(_ reference: String) -> String? {
        let compact = Array(reference.filter { $0 != " " }.uppercased())
        guard compact.count >= 5, compact.count <= 25, compact[0] == "R", compact[1] == "F", compact[2].isNumber,
            compact[3].isNumber, compact.allSatisfy({ $0.isASCII && ($0.isNumber || $0.isUppercase) })
        else { return nil }
        // Move "RFkk" to the end, letters to 10…35, and the whole must be 1 modulo 97.
        var remainder = 0
        for character in compact[4...] + compact[0..<4] {
            let value = character.isNumber ? Int(String(character))! : Int(character.asciiValue! - 55)
            for digit in String(value) { remainder = (remainder * 10 + Int(String(digit))!) % 97 }
        }
        return remainder == 1 ? String(compact[4...]) : nil
    }
}
