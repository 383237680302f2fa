import BillingDomain

/// Which columns of a bank's CSV export mean what. Columns are named by their header text.
///
/// Written as `key=value` pairs separated by `|` (so that `;` and `,` can be values):
/// `date=Booking date|amount=Amount|currency=Currency|remittance=Description|reference=Id|
/// payer_name=Name|payer_account=IBAN|account=Account|delimiter=;|decimal=,|date_format=dd.MM.yyyy`.
/// Required: `date`, `amount`, and `account` (a column) or `account_value` (fixed), `currency` or
/// `currency_value`. Payment registries add `client_account` (the account number the payer gave the
/// network) and `transaction_id` (the network's id of the payment). The amount is signed (negative = money out) unless `direction` names a column
/// whose value is one of `credit_values` (default `C,CR,CRDT,+`) or `debit_values` (`D,DR,DBIT,-`).
public struct CSVMapping: Sendable, Equatable {
    public var columns: [String: String] = [:]
    public var delimiter: Character = ","
    public var decimalSeparator: Character = "."
    public var dateFormat = "yyyy-MM-dd"
    public var accountValue: String?
    public var currencyValue: String?
    public var creditValues: Set<String> = ["C", "CR", "CRDT", "+"]
    public var debitValues: Set<String> = ["D", "DR", "DBIT", "-"]

    static let columnKeys = [
        "date", "value_date", "amount", "currency", "direction", "remittance", "reference", "payer_name",
        "payer_account", "account", "creditor_reference", "client_account", "transaction_id",
    ]

    public init() {}

    public static func parse(_ text: String) throws(StatementFileError) -> CSVMapping {
        var mapping = CSVMapping()
        for part in text.split(separator: "|") {
            let pair = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2, !pair[1].isEmpty else {
                throw StatementFileError("invalid_mapping", "'\(part)' is not key=value", at: "CSV mapping")
            }
            let (key, value) = (pair[0].trimmingSpaces(), pair[1])
            switch key {
            case _ where columnKeys.contains(key): mapping.columns[key] = value.trimmingSpaces()
            case "delimiter": mapping.delimiter = value == "tab" ? "\t" : value.first!
            case "decimal": mapping.decimalSeparator = value.first!
            case "date_format":
                guard
                    ["yyyy-MM-dd", "dd.MM.yyyy", "dd/MM/yyyy", "MM/dd/yyyy", "yyyyMMdd", "dd-MM-yyyy"].contains(value)
                else {
                    throw StatementFileError(
                        "invalid_mapping", "date_format '\(value)' is not supported", at: "CSV mapping")
                }
                mapping.dateFormat = value
            case "account_value": mapping.accountValue = value.trimmingSpaces()
            case "currency_value": mapping.currencyValue = value.trimmingSpaces()
            case "credit_values": mapping.creditValues = Set(value.split(separator: ",").map { $0.trimmingSpaces() })
            case "debit_values": mapping.debitValues = Set(value.split(separator: ",").map { $0.trimmingSpaces() })
            default: throw StatementFileError("invalid_mapping", "unknown key '\(key)'", at: "CSV mapping")
            }
        }
        guard mapping.columns["date"] != nil, mapping.columns["amount"] != nil else {
            throw StatementFileError("invalid_mapping", "date and amount columns are required", at: "CSV mapping")
        }
        guard mapping.columns["account"] != nil || mapping.accountValue != nil else {
            throw StatementFileError("invalid_mapping", "give account (a column) or account_value", at: "CSV mapping")
        }
        guard mapping.columns["currency"] != nil || mapping.currencyValue != nil else {
            throw StatementFileError("invalid_mapping", "give currency (a column) or currency_value", at: "CSV mapping")
        }
        return mapping
    }
}

/// CSV statement exports: RFC 4180 quoting (quotes, doubled quotes, line breaks inside quotes),
/// a header row, columns by `CSVMapping`. One statement per account in the file, without balances.
public enum CSVStatementParser {
    public static func parse(_ text: String, mapping: CSVMapping) throws(StatementFileError) -> ParsedStatementFile {
        let rows = try records(text, delimiter: mapping.delimiter)
        guard let header = rows.first else {
            throw StatementFileError("invalid_statement", "the file is empty", at: "line 1")
        }
        var index: [String: Int] = [:]
        for (key, name) in mapping.columns {
            guard let position = header.fields.firstIndex(where: { $0.trimmingSpaces() == name }) else {
                throw StatementFileError(
                    "invalid_statement", "no column '\(name)' (for \(key)) in the header", at: "line 1")
            }
            index[key] = position
        }
        var statements: [ParsedStatement] = []
        var byAccount: [String: Int] = [:]
        let format = AmountFormat(decimalSeparator: mapping.decimalSeparator, groupingSeparators: [])
        for row in rows.dropFirst() where !row.fields.allSatisfy({ $0.trimmingSpaces().isEmpty }) {
            let location = "line \(row.line)"
            func field(_ key: String) -> String? {
                guard let position = index[key] else { return nil }
                guard position < row.fields.count else { return nil }
                let value = row.fields[position].trimmingSpaces()
                return value.isEmpty ? nil : value
            }
            guard let account = field("account") ?? mapping.accountValue else {
                throw StatementFileError("invalid_statement", "no account", at: location)
            }
            guard let currency = field("currency") ?? mapping.currencyValue else {
                throw StatementFileError("invalid_statement", "no currency", at: location)
            }
            guard var amountText = field("amount") else {
                throw StatementFileError("invalid_statement", "no amount", at: location)
            }
            var isCredit: Bool
            if index["direction"] != nil {
                let direction = field("direction") ?? ""
                if mapping.creditValues.contains(direction) {
                    isCredit = true
                } else if mapping.debitValues.contains(direction) {
                    isCredit = false
                } else {
                    throw StatementFileError(
                        "invalid_statement", "direction '\(direction)' is neither credit nor debit", at: location)
                }
            } else {
                isCredit = !amountText.hasPrefix("-")
            }
            if amountText.hasPrefix("-") || amountText.hasPrefix("+") { amountText.removeFirst() }
            let minor = try minorUnits(amountText, currency, format: format, at: location)
            var entry = ParsedEntry(amountMinor: minor, currency: currency, isCredit: isCredit, location: location)
            entry.bookingDate = try date(field("date") ?? "", mapping.dateFormat, at: location)
            if let value = field("value_date") { entry.valueDate = try date(value, mapping.dateFormat, at: location) }
            entry.entryReference = field("transaction_id") ?? field("reference")
            var detail = ParsedDetail()
            if let remittance = field("remittance") { detail.remittance = [remittance] }
            detail.debtorName = field("payer_name")
            detail.debtorAccount = field("payer_account")
            detail.creditorReference = field("creditor_reference")
            detail.statedAccount = field("client_account")
            entry.details = [detail]
            if byAccount[account] == nil {
                byAccount[account] = statements.count
                var statement = ParsedStatement(account: account, location: location)
                statement.currency = currency
                statements.append(statement)
            }
            try statements[byAccount[account]!].add(entry)
        }
        return ParsedStatementFile(format: "csv", statements: statements)
    }

    struct Record {
        var fields: [String]
        let line: Int
    }

    /// RFC 4180 records: fields split at `delimiter`, quoted fields may hold delimiters, doubled
    /// quotes and line breaks.
    static func records(_ text: String, delimiter: Character) throws(StatementFileError) -> [Record] {
        var records: [Record] = []
        var fields: [String] = []
        var field = ""
        var quoted = false
        var afterQuote = false
        var line = 1
        var recordLine = 1
        var iterator = text.makeIterator()
        while let character = iterator.next() {
            if quoted {
                if character == "\"" {
                    quoted = false
                    afterQuote = true
                } else {
                    if character == "\n" || character == "\r\n" { line += 1 }
                    field.append(character)
                }
                continue
            }
            switch character {
            case "\"":
                if afterQuote {
                    field.append("\"")  // a doubled quote inside a quoted field
                    quoted = true
                    afterQuote = false
                } else if field.isEmpty {
                    quoted = true
                } else {
                    throw StatementFileError(
                        "invalid_statement", "a quote inside an unquoted field", at: "line \(line)")
                }
            case delimiter:
                fields.append(field)
                field = ""
                afterQuote = false
            case "\n", "\r\n", "\r":
                fields.append(field)
                records.append(Record(fields: fields, line: recordLine))
                fields = []
                field = ""
                afterQuote = false
                line += 1
                recordLine = line
            default:
                guard !afterQuote else {
                    throw StatementFileError("invalid_statement", "text after a closing quote", at: "line \(line)")
                }
                field.append(character)
            }
        }
        guard !quoted else {
            throw StatementFileError("invalid_statement", "an unterminated quoted field", at: "line \(line)")
        }
        if !field.isEmpty || !fields.isEmpty {
            fields.append(field)
            records.append(Record(fields: fields, line: recordLine))
        }
        return records
    }

    static func date(_ text: String, _ format: String, at location: String) throws(StatementFileError) -> LocalDate {
        // ASCII digits only: other scripts' digits (full-width "２") are numbers to Character, not to Int.
        let digits = text.filter { $0.isASCII && $0.isNumber }
        let parts: (year: Substring, month: Substring, day: Substring)
        guard digits.count == 8 else {
            throw StatementFileError("invalid_date", "'\(text)' is not a date as \(format)", at: location)
        }
        switch format {
        case "yyyy-MM-dd", "yyyyMMdd":
            parts = (digits.prefix(4), digits.dropFirst(4).prefix(2), digits.suffix(2))
        case "MM/dd/yyyy":
            parts = (digits.suffix(4), digits.prefix(2), digits.dropFirst(2).prefix(2))
        default:  // dd.MM.yyyy, dd/MM/yyyy, dd-MM-yyyy
            parts = (digits.suffix(4), digits.dropFirst(2).prefix(2), digits.prefix(2))
        }
        do {
            return try LocalDate(year: Int(parts.year)!, month: Int(parts.month)!, day: Int(parts.day)!)
        } catch {
            throw StatementFileError("invalid_date", "'\(text)': \(error.description)", at: location)
        }
    }
}
