import BillingDomain

/// SWIFT MT940 customer statements, as banks write them: with or without the `{1:}{2:}{4:…-}`
/// envelope, with preamble lines, `:60M:`/`:62M:` pages, the German SEPA `?nn` and the Dutch
/// `/KEY/value/` structures in `:86:`, and fields wrapped across lines.
///
/// Decisions (also in the README): a statement is one `:20:` message (a page of a multi-page
/// statement is its own statement, balanced from its `:60M:` to its `:62M:`); `RC` (reversal of a
/// credit) is a debit and `RD` (reversal of a debit) a credit, both marked as reversals, which is
/// how the balances of real files add up; the funds code after the mark is read and dropped.
public enum MT940Parser {
    public static func parse(_ text: String) throws(StatementFileError) -> ParsedStatementFile {
        let fields = try Self.fields(text)
        var statements: [ParsedStatement] = []
        var current: ParsedStatement?
        var lastWasLine = false
        func finish() {
            if let statement = current { statements.append(statement) }
            current = nil
        }
        for field in fields {
            let location = "line \(field.line)"
            if field.tag == "20" {
                finish()
                current = ParsedStatement(account: "", location: location)
                current?.id = field.value.trimmingSpaces()
                lastWasLine = false
                continue
            }
            guard current != nil else {
                throw StatementFileError("invalid_statement", "field :\(field.tag): before any :20:", at: location)
            }
            switch field.tag {
            case "25":
                let (account, currency) = accountAndCurrency(field.value)
                current?.account = account
                if let currency { current?.currency = currency }
            case "28C", "28":
                current?.sequence = joined(field.value)
            case "60F", "60M":
                let opening = try balance(field.value, at: location)
                current?.opening = opening
                if current?.currency == nil { current?.currency = opening.currency }
            case "62F", "62M":
                let closing = try balance(field.value, at: location)
                current?.closing = closing
            case "61":
                let currency = current?.currency ?? current?.opening?.currency ?? ""
                let entry = try line(field.value, currency: currency, at: location)
                current?.entries.append(entry)
                lastWasLine = true
                continue
            case "86":
                if lastWasLine, let index = current?.entries.indices.last {
                    current?.entries[index].information = field.value
                    current?.entries[index].details = [InformationParser.detail(field.value)]
                }
            default:
                break
            }
            lastWasLine = false
        }
        finish()
        guard !statements.isEmpty else {
            throw StatementFileError("unknown_format", "no MT940 statement (no :20: field)", at: "line 1")
        }
        return ParsedStatementFile(format: "mt940", statements: statements)
    }

    struct Field {
        let tag: String
        var value: String
        let line: Int
    }

    /// Splits the text into tagged fields. Lines before the first tag (preambles), the SWIFT
    /// envelope (`{1:…}{2:…}{4:`, `-}{5:…}`) and message-ending `-` lines are dropped; any other
    /// line continues the field above it.
    static func fields(_ text: String) throws(StatementFileError) -> [Field] {
        let lines = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }
            .map { String($0) }
        var fields: [Field] = []
        for (index, raw) in lines.enumerated() {
            var line = raw
            // The envelope: "{1:…}{2:…}{3:}{4:" before the fields, "-}{5:…}" after them.
            if line.hasPrefix("{") {
                guard let start = line.byteRange(of: "{4:") else { continue }
                line = String(line[start.upperBound...])
                if line.isEmpty { continue }
            }
            if line.hasPrefix("-}") { continue }
            if let tag = tag(of: line) {
                fields.append(Field(tag: tag, value: String(line.dropFirst(tag.count + 2)), line: index + 1))
                continue
            }
            guard !fields.isEmpty else { continue }  // a preamble
            let trimmed = line.trimmingSpaces()
            if trimmed == "-" {
                // Ends a message unless more of the same field follows (a wrapped :86: may hold "-").
                let next = lines[(index + 1)...].first { !$0.trimmingSpaces().isEmpty }
                if next == nil || next.map({ tag(of: $0) != nil || $0.hasPrefix("{") }) == true { continue }
            }
            if trimmed.isEmpty, fields.last?.tag != "86" { continue }
            fields[fields.count - 1].value += "\n" + line
        }
        return fields
    }

    /// `:61:` → "61"; nil for a line that starts no field.
    static func tag(of line: String) -> String? {
        let bytes = Array(line.utf8.prefix(6))
        guard bytes.count >= 4, bytes[0] == UInt8(ascii: ":") else { return nil }
        var end = 1
        while end < bytes.count, end <= 3, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[end]) { end += 1 }
        guard end == 3 else { return nil }
        if end < bytes.count, (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(bytes[end]) { end += 1 }
        guard end < bytes.count, bytes[end] == UInt8(ascii: ":") else { return nil }
        return String(decoding: bytes[1..<end], as: UTF8.self)
    }

    /// `NL10BUNQ2290325473 EUR` and `NL77INGB0574908765EUR` name the currency after the IBAN;
    /// other forms (`50880050/0194774600888`, `UBRTHUHB/…/HUF`) are kept as written.
    static func accountAndCurrency(_ value: String) -> (String, String?) {
        let text = joined(value)
        let characters = Array(text)
        if characters.count >= 18, characters.count <= 38 {
            let currency = String(characters.suffix(3))
            var account = String(characters.dropLast(3))
            if account.hasSuffix(" ") || account.hasSuffix("/") { account.removeLast() }
            if currency.allSatisfy({ $0.isASCII && $0.isUppercase }), (try? Currency(code: currency)) != nil,
                isIBAN(account)
            {
                return (account, currency)
            }
        }
        return (text, nil)
    }

    static func isIBAN(_ text: String) -> Bool {
        let characters = Array(text)
        guard (15...34).contains(characters.count) else { return false }
        return characters[0].isUppercase && characters[1].isUppercase && characters[2].isNumber
            && characters[3].isNumber && characters.allSatisfy { $0.isASCII && ($0.isNumber || $0.isUppercase) }
    }

    /// A field's lines joined without separators (wrapped values continue mid-word).
    static func joined(_ value: String) -> String {
        value.split(separator: "\n").map { $0.trimmingSpaces() }.joined()
    }

    /// `C200101EUR444,29` (also `D…`): sign, date, currency, amount.
    static func balance(_ value: String, at location: String) throws(StatementFileError) -> StatedBalance {
        let text = joined(value)
        let characters = Array(text)
        guard characters.count >= 11, characters[0] == "C" || characters[0] == "D" else {
            throw StatementFileError("invalid_statement", "balance '\(text)' is not [C|D]YYMMDDCCYamount", at: location)
        }
        let date = try Self.date(String(characters[1..<7]), at: location)
        let currency = String(characters[7..<10])
        let minor = try minorUnits(amountText(String(characters[10...])), currency, format: .swift, at: location)
        return StatedBalance(minor: characters[0] == "D" ? -minor : minor, currency: currency, date: date)
    }

    /// `2,` and `0,3` are amounts too.
    static func amountText(_ text: String) -> String {
        text.hasSuffix(",") ? String(text.dropLast()) : text
    }

    static func date(_ yymmdd: String, at location: String) throws(StatementFileError) -> LocalDate {
        let digits = Array(yymmdd)
        guard digits.count == 6, digits.allSatisfy(\.isNumber), let yy = Int(String(digits[0..<2])),
            let month = Int(String(digits[2..<4])), let day = Int(String(digits[4..<6]))
        else {
            throw StatementFileError("invalid_date", "'\(yymmdd)' is not a date YYMMDD", at: location)
        }
        do {
            return try LocalDate(year: yy < 80 ? 2000 + yy : 1900 + yy, month: month, day: day)
        } catch {
            throw StatementFileError("invalid_date", error.description, at: location)
        }
    }

    /// `:61:` — value date, optional entry date, mark, optional funds code, amount, transaction type,
    /// customer reference, optional `//` bank reference, then supplementary details on later lines.
    static func line(_ value: String, currency: String, at location: String) throws(StatementFileError) -> ParsedEntry {
        var lines = value.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var first = Array(lines.removeFirst().trimmingSpaces())
        func refuse(_ problem: String) -> StatementFileError {
            StatementFileError("invalid_statement", ":61: \(problem): '\(String(first))'", at: location)
        }
        guard first.count >= 12 else { throw refuse("too short") }
        let valueDate = try date(String(first[0..<6]), at: location)
        var position = 6
        var bookingDate: LocalDate?
        if first.count > position + 4, first[position..<(position + 4)].allSatisfy(\.isNumber) {
            let month = Int(String(first[position..<(position + 2)]))!
            let day = Int(String(first[(position + 2)..<(position + 4)]))!
            var year = valueDate.year
            if month == 12 && valueDate.month == 1 { year -= 1 }
            if month == 1 && valueDate.month == 12 { year += 1 }
            bookingDate = try? LocalDate(year: year, month: month, day: day)
            position += 4
        }
        var isCredit: Bool
        var isReversal = false
        if first[position] == "R" {
            guard position + 1 < first.count, first[position + 1] == "C" || first[position + 1] == "D" else {
                throw refuse("mark R without C or D")
            }
            isReversal = true
            // A reversal of a credit takes money out; a reversal of a debit brings it back.
            isCredit = first[position + 1] == "D"
            position += 2
        } else if first[position] == "E" {
            isCredit = position + 1 < first.count && first[position + 1] == "C"
            position += 2
        } else if first[position] == "C" || first[position] == "D" {
            isCredit = first[position] == "C"
            position += 1
        } else {
            throw refuse("no debit/credit mark")
        }
        if position < first.count, first[position].isLetter { position += 1 }  // funds code
        let amountStart = position
        while position < first.count, first[position].isNumber || first[position] == "," { position += 1 }
        guard position > amountStart else { throw refuse("no amount") }
        let minor = try minorUnits(
            amountText(String(first[amountStart..<position])), currency, format: .swift, at: location)
        var entry = ParsedEntry(amountMinor: minor, currency: currency, isCredit: isCredit, location: location)
        entry.isReversal = isReversal
        entry.valueDate = valueDate
        entry.bookingDate = bookingDate ?? valueDate
        if position + 4 <= first.count {
            entry.transactionCode = String(first[position..<(position + 4)])
            position += 4
        }
        let rest = String(first[position...])
        let parts = rest.split(separator: "//", maxSplits: 1, omittingEmptySubsequences: false)
        let customer = String(parts[0]).trimmingSpaces()
        if !customer.isEmpty, customer != "NONREF" { entry.entryReference = customer }
        if parts.count > 1 {
            var bank = String(parts[1]).trimmingSpaces()
            // A bank reference wrapped onto the next line: a short run of letters and digits.
            if let next = lines.first, bank.count < 16, !next.isEmpty, next.count <= 16 - bank.count,
                next.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) })
            {
                bank += next
                lines.removeFirst()
            }
            if !bank.isEmpty { entry.accountServicerReference = bank }
        }
        let supplementary = lines.map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
        if !supplementary.isEmpty { entry.supplementary = supplementary.joined(separator: " ") }
        first = []
        return entry
    }
}

/// The `:86:` information to account owner, in the structures banks use.
enum InformationParser {
    static func detail(_ information: String) -> ParsedDetail {
        let joined = MT940Parser.joined(information)
        if joined.byteRange(of: "?20") != nil || joined.byteRange(of: "?00") != nil { return german(joined) }
        if joined.hasPrefix("/") { return slashed(joined) }
        var detail = ParsedDetail()
        detail.remittance = information.split(separator: "\n").map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
        return detail
    }

    /// German SEPA: `?00` posting text, `?20`–`?29` and `?60`–`?63` purpose lines (with `EREF+`,
    /// `SVWZ+` …), `?30` bank code, `?31` account, `?32`/`?33` name.
    static func german(_ text: String) -> ParsedDetail {
        var detail = ParsedDetail()
        var fields: [(String, String)] = []
        var rest = Substring(text)
        while let mark = rest.firstIndex(of: "?") {
            let codeStart = rest.index(after: mark)
            guard rest.distance(from: codeStart, to: rest.endIndex) >= 2 else { break }
            let codeEnd = rest.index(codeStart, offsetBy: 2)
            let code = String(rest[codeStart..<codeEnd])
            guard code.allSatisfy(\.isNumber) else {
                rest = rest[codeStart...]
                continue
            }
            let valueEnd = rest[codeEnd...].firstIndex(of: "?") ?? rest.endIndex
            fields.append((code, String(rest[codeEnd..<valueEnd])))
            rest = rest[valueEnd...]
        }
        var purpose = ""
        var name = ""
        for (code, value) in fields {
            switch code {
            case "20"..."29", "60"..."63": purpose += value
            case "31": detail.debtorAccount = value.trimmingSpaces()
            case "32", "33": name += value
            default: break
            }
        }
        if !name.isEmpty { detail.debtorName = name.trimmingSpaces() }
        // SEPA purpose keys: EREF+ end-to-end id, SVWZ+ remittance; others kept as text.
        if let eref = purpose.byteRange(of: "EREF+") {
            let after = purpose[eref.upperBound...]
            let end =
                ["SVWZ+", "MREF+", "CRED+", "KREF+", "ABWA+", "MTLG+"].compactMap {
                    after.byteRange(of: $0)?.lowerBound
                }
                .min() ?? after.endIndex
            detail.endToEndId = after[..<end].trimmingSpaces()
        }
        if let svwz = purpose.byteRange(of: "SVWZ+") {
            detail.remittance = [purpose[svwz.upperBound...].trimmingSpaces()]
        } else if !purpose.isEmpty {
            detail.remittance = [purpose.trimmingSpaces()]
        }
        return detail
    }

    /// `/EREF/…//CNTP/IBAN/BIC/NAME///REMI/USTD//text/` (ING) and `/IBAN/…/NAME/…/REMI/…/` (bunq).
    /// Scanned as bytes: a key is `/` + 3 or 4 capital letters + `/`, and one of the keys known here.
    static func slashed(_ text: String) -> ParsedDetail {
        var detail = ParsedDetail()
        let bytes = Array(text.utf8)
        var marks: [(key: String, start: Int, value: Int)] = []
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "/") {
                var end = index + 1
                while end < bytes.count, end - index <= 5, (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(bytes[end])
                {
                    end += 1
                }
                if end < bytes.count, bytes[end] == UInt8(ascii: "/"), end - index - 1 >= 3 {
                    let key = String(decoding: bytes[(index + 1)..<end], as: UTF8.self)
                    if slashedKeys.contains(key) {
                        marks.append((key, index, end + 1))
                        index = end
                        continue
                    }
                }
            }
            index += 1
        }
        for (position, mark) in marks.enumerated() {
            let end = position + 1 < marks.count ? marks[position + 1].start : bytes.count
            guard mark.value <= end else { continue }
            let parts = bytes[mark.value..<end].split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
                .map { String(decoding: $0, as: UTF8.self).trimmingSpaces() }
            let first = parts.first.flatMap { $0.isEmpty ? nil : $0 }
            switch mark.key {
            case "EREF": detail.endToEndId = parts.first { !$0.isEmpty }
            case "RTRN": detail.returnReason = parts.first { !$0.isEmpty }
            case "CNTP":
                detail.debtorAccount = first
                if parts.count > 2, !parts[2].isEmpty { detail.debtorName = parts[2] }
            case "IBAN": detail.debtorAccount = first
            case "NAME": detail.debtorName = first
            case "REMI":
                // "/REMI/USTD//text/" or "/REMI/STRD/CUR/ref/" or "/REMI/text/".
                let meaningful = parts.filter { !$0.isEmpty && $0 != "USTD" && $0 != "STRD" && $0 != "CUR" }
                if parts.first == "STRD", let reference = meaningful.first { detail.creditorReference = reference }
                if !meaningful.isEmpty { detail.remittance = [meaningful.joined(separator: " ")] }
            default: break
            }
        }
        return detail
    }

    static let slashedKeys: Set<String> = [
        "EREF", "PREF", "RTRN", "CNTP", "REMI", "IBAN", "NAME", "MARF", "CSID", "BENM", "ORDP", "TRCD", "SUM",
    ]
}

extension StringProtocol {
    /// The first range of `pattern`, compared byte by byte: the markers searched for in statement
    /// text are ASCII, and a byte search is many times faster than a search by Characters.
    func byteRange(of pattern: String) -> Range<Index>? {
        let needle = Array(pattern.utf8)
        let haystack = utf8
        guard let first = needle.first else { return nil }
        var start = haystack.startIndex
        while start != haystack.endIndex {
            if haystack[start] == first {
                var position = start
                var matched = 0
                while matched < needle.count, position != haystack.endIndex, haystack[position] == needle[matched] {
                    position = haystack.index(after: position)
                    matched += 1
                }
                if matched == needle.count { return start..<position }
            }
            start = haystack.index(after: start)
        }
        return nil
    }
}
