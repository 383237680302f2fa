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
    /// With `onEntry`, each entry is handed over once its `:86:` has been read (with its
    /// statement's index) and not kept; the statements returned carry totals and balances only.
    public static func parse(_ text: String, onEntry: ((Int, ParsedEntry) -> Void)? = nil)
        throws(StatementFileError) -> ParsedStatementFile
    {
        var statements: [ParsedStatement] = []
        var current: ParsedStatement?
        /// The last `:61:`, waiting for the `:86:` that may follow it.
        var pending: ParsedEntry?
        func settle() throws(StatementFileError) {
            guard let entry = pending else { return }
            pending = nil
            try current?.add(entry, keep: onEntry == nil)
            onEntry?(statements.count, entry)
        }
        func finish() throws(StatementFileError) {
            try settle()
            if let statement = current { statements.append(statement) }
            current = nil
        }
        try forEachField(text) { (field) throws(StatementFileError) in
            let location = "line \(field.line)"
            if field.tag == "20" {
                try finish()
                current = ParsedStatement(account: "", location: location)
                current?.id = field.value.trimmingSpaces()
                return
            }
            guard current != nil else {
                throw StatementFileError("invalid_statement", "field :\(field.tag): before any :20:", at: location)
            }
            if field.tag == "86", pending != nil {
                pending?.information = field.value
                pending?.details = [InformationParser.detail(field.value)]
                try settle()
                return
            }
            try settle()
            switch field.tag {
            case "25":
                let (account, currency) = accountAndCurrency(field.value)
                current?.account = account
                if let currency { current?.currency = currency }
            case "28C", "28":
                current?.sequence = joined(field.value)
            case "60F", "60M":
                let (opening, notice) = try balance(field.value, at: location)
                current?.opening = opening
                if let notice { current?.notices.append("opening balance: \(notice)") }
                if current?.currency == nil { current?.currency = opening.currency }
            case "62F", "62M":
                let (closing, notice) = try balance(field.value, at: location)
                current?.closing = closing
                if let notice { current?.notices.append("closing balance: \(notice)") }
            case "61":
                let currency = current?.currency ?? current?.opening?.currency ?? ""
                pending = try line(field.value, currency: currency, at: location)
            default:
                break
            }
        }
        try finish()
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

    /// Hands over the text's tagged fields in order. Lines before the first tag (preambles), the
    /// SWIFT envelope (`{1:…}{2:…}{4:`, `-}{5:…}`) and message-ending `-` lines are dropped; any
    /// other line continues the field above it.
    ///
    /// Each field is handed over as soon as it is complete (the next tag starts), so a large file is
    /// never held as fields at once. Scanned as UTF-8 bytes (tags and markers are ASCII).
    static func forEachField(_ text: String, _ body: (Field) throws(StatementFileError) -> Void)
        throws(StatementFileError)
    {
        var text = text
        text.makeContiguousUTF8()
        var failure: StatementFileError?
        _ = text.utf8.withContiguousStorageIfAvailable { bytes in
            do {
                try forEachField(bytes, body)
            } catch let error as StatementFileError {
                failure = error
            } catch {
                failure = StatementFileError("invalid_statement", "\(error)", at: "unknown")
            }
        }
        if let failure { throw failure }
    }

    private static func forEachField(
        _ bytes: UnsafeBufferPointer<UInt8>, _ body: (Field) throws(StatementFileError) -> Void
    ) throws(StatementFileError) {
        // Lines as byte ranges, without their line ends (\n, \r\n or \r). A DOS end-of-file byte
        // (0x1A), which some banks' software writes between or after messages, ends a line too.
        var lines: [Range<Int>] = []
        var start = 0
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 0x0A || byte == 0x0D || byte == 0x1A {
                lines.append(start..<index)
                if byte == 0x0D, index + 1 < bytes.count, bytes[index + 1] == 0x0A { index += 1 }
                start = index + 1
            }
            index += 1
        }
        if start < bytes.count { lines.append(start..<bytes.count) }

        func trimmed(_ range: Range<Int>) -> Range<Int> {
            var lower = range.lowerBound
            var upper = range.upperBound
            while lower < upper, bytes[lower] == 0x20 { lower += 1 }
            while upper > lower, bytes[upper - 1] == 0x20 { upper -= 1 }
            return lower..<upper
        }
        func startsField(_ range: Range<Int>) -> Bool {
            tagLength(bytes, range) != nil || bytes[range].first == UInt8(ascii: "{")
        }

        var value: [UInt8] = []
        var open: (tag: String, line: Int)?
        func close() throws(StatementFileError) {
            if let field = open {
                try body(Field(tag: field.tag, value: String(decoding: value, as: UTF8.self), line: field.line))
            }
            open = nil
            value.removeAll(keepingCapacity: true)
        }
        for (number, whole) in lines.enumerated() {
            var line = whole
            if bytes[line].first == UInt8(ascii: "{") {
                // The envelope: "{1:…}{2:…}{3:}{4:" before the fields, "-}{5:…}" after them.
                var position = line.lowerBound
                var found = false
                while position + 3 <= line.upperBound {
                    if bytes[position] == UInt8(ascii: "{"), bytes[position + 1] == UInt8(ascii: "4"),
                        bytes[position + 2] == UInt8(ascii: ":")
                    {
                        found = true
                        break
                    }
                    position += 1
                }
                guard found else { continue }
                line = (position + 3)..<line.upperBound
                if line.isEmpty { continue }
            }
            if line.count >= 2, bytes[line.lowerBound] == UInt8(ascii: "-"),
                bytes[line.lowerBound + 1] == UInt8(ascii: "}")
            {
                continue
            }
            if let length = tagLength(bytes, line) {
                try close()
                open = (
                    String(decoding: bytes[(line.lowerBound + 1)..<(line.lowerBound + 1 + length)], as: UTF8.self),
                    number + 1
                )
                value.append(contentsOf: bytes[(line.lowerBound + length + 2)..<line.upperBound])
                continue
            }
            guard let field = open else { continue }  // a preamble
            let content = trimmed(line)
            if content.count == 1, bytes[content.lowerBound] == UInt8(ascii: "-") {
                // Ends a message unless more of the same field follows (a wrapped :86: may hold "-").
                let next = lines[(number + 1)...].first { !trimmed($0).isEmpty }
                if next == nil || startsField(next!) { continue }
            }
            if content.isEmpty, field.tag != "86" { continue }
            value.append(0x0A)
            value.append(contentsOf: bytes[line])
        }
        try close()
    }

    /// The length of the tag a line starts with (`:61:` → 2, `:60F:` → 3), nil if it starts none.
    static func tagLength(_ bytes: UnsafeBufferPointer<UInt8>, _ line: Range<Int>) -> Int? {
        guard line.count >= 4, bytes[line.lowerBound] == UInt8(ascii: ":") else { return nil }
        var end = line.lowerBound + 1
        while end < line.upperBound, end - line.lowerBound <= 2,
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[end])
        {
            end += 1
        }
        guard end - line.lowerBound == 3 else { return nil }
        if end < line.upperBound, (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(bytes[end]) { end += 1 }
        guard end < line.upperBound, bytes[end] == UInt8(ascii: ":") else { return nil }
        return end - line.lowerBound - 1
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

    /// `C200101EUR444,29` (also `D…`): sign, date, currency, amount. A date that is no date
    /// (`260231`, which some banks write) does not lose the statement: the balance is kept without
    /// its date, and the returned notice says so for the import report.
    static func balance(_ value: String, at location: String) throws(StatementFileError) -> (StatedBalance, String?) {
        let text = joined(value)
        let characters = Array(text)
        guard characters.count >= 11, characters[0] == "C" || characters[0] == "D" else {
            throw StatementFileError("invalid_statement", "balance '\(text)' is not [C|D]YYMMDDCCYamount", at: location)
        }
        var date: LocalDate?
        var notice: String?
        do {
            date = try Self.date(String(characters[1..<7]), at: location)
        } catch {
            notice = "its date \(error.reason); kept without a date (\(location))"
        }
        let currency = String(characters[7..<10])
        let minor = try minorUnits(amountText(String(characters[10...])), currency, format: .swift, at: location)
        return (StatedBalance(minor: characters[0] == "D" ? -minor : minor, currency: currency, date: date), notice)
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
    /// Read as bytes: the structured part is ASCII.
    static func line(_ value: String, currency: String, at location: String) throws(StatementFileError) -> ParsedEntry {
        var rows = value.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        var first = Array(rows.removeFirst())
        while first.last == UInt8(ascii: " ") || first.last == UInt8(ascii: "\r") { first.removeLast() }
        while first.first == UInt8(ascii: " ") { first.removeFirst() }
        func refuse(_ problem: String) -> StatementFileError {
            StatementFileError(
                "invalid_statement", ":61: \(problem): '\(String(decoding: first, as: UTF8.self))'", at: location)
        }
        func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
        func number(_ from: Int, _ count: Int) -> Int {
            first[from..<(from + count)].reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        }
        guard first.count >= 12, first[0..<6].allSatisfy(isDigit) else { throw refuse("no value date") }
        let valueDate = try date(String(decoding: first[0..<6], as: UTF8.self), at: location)
        var position = 6
        var bookingDate: LocalDate?
        if first.count > position + 4, first[position..<(position + 4)].allSatisfy(isDigit) {
            let month = number(position, 2)
            let day = number(position + 2, 2)
            var year = valueDate.year
            if month == 12 && valueDate.month == 1 { year -= 1 }
            if month == 1 && valueDate.month == 12 { year += 1 }
            bookingDate = try? LocalDate(year: year, month: month, day: day)
            position += 4
        } else if first.count > position + 4, first[position..<(position + 4)].allSatisfy({ $0 == UInt8(ascii: " ") }) {
            // The optional entry date left blank, padded with spaces (as some banks write it).
            position += 4
        }
        var isCredit: Bool
        var isReversal = false
        switch first[position] {
        case UInt8(ascii: "R"):
            guard position + 1 < first.count,
                first[position + 1] == UInt8(ascii: "C") || first[position + 1] == UInt8(ascii: "D")
            else { throw refuse("mark R without C or D") }
            isReversal = true
            // A reversal of a credit takes money out; a reversal of a debit brings it back.
            isCredit = first[position + 1] == UInt8(ascii: "D")
            position += 2
        case UInt8(ascii: "E"):
            isCredit = position + 1 < first.count && first[position + 1] == UInt8(ascii: "C")
            position += 2
        case UInt8(ascii: "C"), UInt8(ascii: "D"):
            isCredit = first[position] == UInt8(ascii: "C")
            position += 1
        default:
            throw refuse("no debit/credit mark")
        }
        if position < first.count, (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(first[position]) { position += 1 }
        let amountStart = position
        while position < first.count, isDigit(first[position]) || first[position] == UInt8(ascii: ",") { position += 1 }
        guard position > amountStart else { throw refuse("no amount") }
        let minor = try minorUnits(
            amountText(String(decoding: first[amountStart..<position], as: UTF8.self)), currency, format: .swift,
            at: location)
        var entry = ParsedEntry(amountMinor: minor, currency: currency, isCredit: isCredit, location: location)
        entry.isReversal = isReversal
        entry.valueDate = valueDate
        entry.bookingDate = bookingDate ?? valueDate
        if position + 4 <= first.count {
            entry.transactionCode = String(decoding: first[position..<(position + 4)], as: UTF8.self)
            position += 4
        }
        var separator = position
        while separator + 1 < first.count,
            !(first[separator] == UInt8(ascii: "/") && first[separator + 1] == UInt8(ascii: "/"))
        {
            separator += 1
        }
        let hasBankReference = separator + 1 < first.count
        let customer = String(decoding: first[position..<(hasBankReference ? separator : first.count)], as: UTF8.self)
            .trimmingSpaces()
        if !customer.isEmpty, customer != "NONREF" { entry.entryReference = customer }
        if hasBankReference {
            var bank = String(decoding: first[(separator + 2)...], as: UTF8.self).trimmingSpaces()
            // A bank reference wrapped onto the next line: a short run of letters and digits.
            if let next = rows.first.map({ String(decoding: $0, as: UTF8.self) }), bank.count < 16, !next.isEmpty,
                next.count <= 16 - bank.count, next.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) })
            {
                bank += next
                rows.removeFirst()
            }
            if !bank.isEmpty { entry.accountServicerReference = bank }
        }
        let supplementary = rows.map { String(decoding: $0, as: UTF8.self).trimmingSpaces() }.filter { !$0.isEmpty }
        if !supplementary.isEmpty { entry.supplementary = supplementary.joined(separator: " ") }
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
