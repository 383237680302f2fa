import BillingIngest
import Testing

@Suite("statement lines as booked, and their identities")
struct StatementLinesTests {
    @Test("no two lines of any fixture share an identity, and the same file gives the same identities again")
    func identities() throws {
        for expected in StatementFixtureTests.expected {
            let file = try StatementFixtureTests.load(expected.file)
            let lines = try StatementLines.lines(of: file)
            #expect(Set(lines.map(\.identity)).count == lines.count, "\(expected.file): lines collapsed")
            let again = try StatementLines.lines(of: try StatementFixtureTests.load(expected.file))
            #expect(lines.map(\.identity) == again.map(\.identity))
        }
    }

    @Test("a batch whose transactions carry their amounts is booked per transaction; the example file books 4 lines")
    func batches() throws {
        let lines = try StatementLines.lines(of: try StatementFixtureTests.load("billing-camt053-reversed-direct-debits.xml"))
        #expect(lines.count == 4)
        #expect(lines.filter { $0.kind == .debitReversal }.count == 2)
        #expect(
            lines.filter { $0.kind == .debitReversal }.allSatisfy { $0.returnReason == "AC06" && $0.detailIndex != nil }
        )
        #expect(lines.allSatisfy { !$0.identityIsWeak }, "end-to-end ids identify every line of this file")
        #expect(lines.reduce(0) { $0 + ($1.kind == .credit ? $1.amountMinor : 0) } == 102_075)
    }

    @Test("entries not booked stay out; charges not included are reported beside the amount")
    func statusesAndCharges() throws {
        let notification = try StatementLines.lines(of: try StatementFixtureTests.load("moov-fi-camt054-sample.xml"))
        let notBooked = notification.filter { $0.notBookedReason != nil }
        #expect(!notBooked.isEmpty && notBooked.allSatisfy { $0.notBookedReason == "status INFO" })
        #expect(Set(notBooked.map(\.entryIndex)).count == 1, "only the INFO entry (its transactions) stays out")
        let swiss = try StatementLines.lines(of: try StatementFixtureTests.load("viafintech-camt053-v4-postfinance.xml"))
        #expect(swiss.contains { $0.chargesNotIncludedMinor > 0 })
        let bookedTotal = swiss.filter { $0.kind == .credit || $0.kind == .creditReversal }.reduce(0) {
            $0 + $1.amountMinor
        }
        #expect(bookedTotal == 181_056, "splitting batches keeps the credited total of the entries")
    }

    @Test("MT940 lines: references where the bank gave them, weak keys where it did not")
    func mt940() throws {
        let lines = try StatementLines.lines(of: try StatementFixtureTests.load("betterplace-sepa-mt940.sta"))
        #expect(lines.count == 97)
        #expect(lines.contains { !$0.identityIsWeak } && lines.contains { $0.identityIsWeak })
        #expect(lines.filter { $0.kind == .debitReversal }.count == 2)
    }
}

@Suite("statement lines refuse amounts past Int64")
struct StatementLinesOverflowTests {
    static func batch(_ amounts: [String], entry: String) -> [UInt8] {
        let details = amounts.enumerated().map { index, amount in
            #"<TxDtls><Amt Ccy="EUR">\#(amount)</Amt><Refs><EndToEndId>E\#(index)</EndToEndId></Refs></TxDtls>"#
        }.joined()
        return Array(
            (#"<?xml version="1.0" encoding="UTF-8"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt><GrpHdr><MsgId>M</MsgId></GrpHdr><Stmt><Id>S</Id><Acct><Id><IBAN>DE02120300000000202051</IBAN></Id></Acct>"#
                + #"<Ntry><Amt Ccy="EUR">\#(entry)</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><AcctSvcrRef>B</AcctSvcrRef><NtryDtls>\#(details)</NtryDtls></Ntry></Stmt></BkToCstmrStmt></Document>"#)
                .utf8)
    }

    @Test("a batch whose transactions add up past Int64 is refused with amount_out_of_range")
    func overflowingBatch() throws {
        let file = try StatementFiles.parse(Self.batch(["92233720368547758.07", "0.01"], entry: "1.00"))
        #expect(throws: StatementFileError.self) { try StatementLines.lines(of: file) }
        do {
            _ = try StatementLines.lines(of: file)
        } catch {
            #expect(error.code == "amount_out_of_range" && error.location.hasPrefix("Stmt 1"), "\(error)")
        }
    }

    @Test("a batch whose transactions add up to the entry at Int64's limit is booked per transaction")
    func batchAtTheLimit() throws {
        let file = try StatementFiles.parse(
            Self.batch(["92233720368547758.00", "0.07"], entry: "92233720368547758.07"))
        let lines = try StatementLines.lines(of: file)
        #expect(lines.map(\.amountMinor) == [Int64.max - 7, 7])
    }
}

@Suite("statement line identities stay within an index's limits")
struct StatementLineIdentityBoundTests {
    static func weakEntry(_ remittance: [String]) -> [UInt8] {
        let texts = remittance.map { "<Ustrd>\($0)</Ustrd>" }.joined()
        return Array(
            (#"<?xml version="1.0" encoding="UTF-8"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt><GrpHdr><MsgId>M</MsgId></GrpHdr><Stmt><Id>S</Id><Acct><Id><IBAN>DE02120300000000202051</IBAN></Id></Acct>"#
                + #"<Ntry><Amt Ccy="EUR">1.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2026-06-01</Dt></BookgDt><NtryDtls><TxDtls><RmtInf>\#(texts)</RmtInf></TxDtls></NtryDtls></Ntry></Stmt></BkToCstmrStmt></Document>"#)
                .utf8)
    }

    @Test("a weak-keyed line with pages of remittance gets a hashed identity, the same every time")
    func longRemittance() throws {
        let pages = (0..<40).map { "page \($0) " + String(repeating: "x", count: 110) }
        let lines = try StatementLines.lines(of: try StatementFiles.parse(Self.weakEntry(pages)))
        #expect(lines.count == 1 && lines[0].identityIsWeak)
        #expect(lines[0].identity.hasPrefix("sha256:") && lines[0].identity.utf8.count == 71, "\(lines[0].identity)")
        let again = try StatementLines.lines(of: try StatementFiles.parse(Self.weakEntry(pages)))
        #expect(again[0].identity == lines[0].identity)
        let other = try StatementLines.lines(of: try StatementFiles.parse(Self.weakEntry(pages + ["one more"])))
        #expect(other[0].identity != lines[0].identity)
    }

    @Test("a short weak-keyed line keeps its readable identity")
    func shortRemittance() throws {
        let lines = try StatementLines.lines(of: try StatementFiles.parse(Self.weakEntry(["rent june"])))
        #expect(lines[0].identity == "DE02120300000000202051|weak|S/-/-|2026-06-01|C100EUR|rent june")
        #expect(lines[0].legacyIdentity == "DE02120300000000202051|weak|2026-06-01|C100EUR|rent june")
    }
}

@Suite("MT940 as other banks write it")
struct MT940DialectTests {
    static func parse(_ text: String) throws -> ParsedStatementFile {
        try StatementFiles.parse(Array(text.utf8), format: "mt940")
    }

    static let message = ":20:S1\r\n:25:DE02120300000000202051EUR\r\n:60F:C260601EUR100,00\r\n"
        + ":61:2606010601C10,00NTRFREF-1\r\n:86:first\r\n:62F:C260601EUR110,00\r\n-\r\n"

    @Test("a DOS end-of-file byte between and after messages is read as the end of a line")
    func endOfFileBytes() throws {
        let file = try Self.parse(Self.message + "\u{1A}" + Self.message.replacingOccurrences(of: ":20:S1", with: ":20:S2") + "\u{1A}")
        #expect(file.statements.map(\.id) == ["S1", "S2"])
        #expect(file.statements.allSatisfy { $0.entryCount == 1 && $0.reconciles == true })
    }

    @Test("an entry date left blank with spaces in :61: is an entry without one")
    func blankEntryDate() throws {
        let text = Self.message.replacingOccurrences(of: ":61:2606010601C10,00NTRFREF-1", with: ":61:260601    C10,00NTRFREF-1")
        let entry = try #require(try Self.parse(text).statements.first?.entries.first)
        #expect(entry.isCredit && entry.amountMinor == 1_000)
        #expect(entry.bookingDate == entry.valueDate)
    }

    @Test("a balance with an impossible date keeps the statement, without the date, and says so")
    func impossibleBalanceDate() throws {
        let text = Self.message.replacingOccurrences(of: ":60F:C260601EUR100,00", with: ":60F:C260231EUR100,00")
        let statement = try #require(try Self.parse(text).statements.first)
        #expect(statement.opening?.minor == 10_000 && statement.opening?.date == nil)
        #expect(statement.notices.count == 1 && statement.notices[0].contains("opening balance"), "\(statement.notices)")
        #expect(statement.entryCount == 1 && statement.reconciles == true)
    }
}
