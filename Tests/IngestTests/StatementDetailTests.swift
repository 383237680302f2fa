import BillingDomain
import BillingIngest
import Foundation
import Testing

@Suite("what statement entries carry")
struct StatementDetailTests {
    func load(_ file: String) throws -> ParsedStatementFile { try StatementFixtureTests.load(file) }

    @Test("camt: a reversed batch keeps both details with their return reason and end-to-end ids")
    func camtReversalBatch() throws {
        let entries = try load("billing-camt053-reversed-direct-debits.xml").statements[0].entries
        let reversal = try #require(entries.first { $0.isReversal })
        #expect(!reversal.isCredit && reversal.amountMinor == 24_500)
        #expect(reversal.details.count == 2)
        #expect(reversal.details.allSatisfy { $0.returnReason == "AC06" })
        #expect(reversal.details.compactMap(\.amountMinor) == [19_500, 5_000])
        let first = entries[0]
        #expect(first.details.first?.endToEndId == "E2E-2026-0302-INS-001")
        #expect(first.details.first?.creditorAccount == "NL20INGB0001234567")
        #expect(first.transactionCode == "PMNT/RDDT/ESDD")
        #expect(first.bookingDate == (try LocalDate.parse("2026-03-02")))
    }

    @Test("camt: charges the bank says are not included are kept beside the amount")
    func charges() throws {
        let entries = try load("viafintech-camt053-v4-postfinance.xml").statements[0].entries
        let charged = entries.filter { !$0.charges.isEmpty }
        #expect(!charged.isEmpty)
        #expect(charged.flatMap(\.charges).contains { $0.included == false && $0.currency == "CHF" })
    }

    @Test("camt.054: an entry with status INFO is read but not booked; notifications carry no balances")
    func statuses() throws {
        let statement = try load("moov-fi-camt054-sample.xml").statements[0]
        #expect(statement.opening == nil && statement.closing == nil && statement.reconciles == nil)
        let info = statement.entries.filter { $0.status == "INFO" }
        #expect(info.count == 1 && !info[0].isBooked && info[0].isReversal)
        #expect(statement.entries.filter(\.isBooked).count == 5)
    }

    @Test("camt.053.001.08: accounts by Othr/Id, parties under Pty, amounts with 0 or 1 decimals")
    func version8() throws {
        let file = try load("subite-lt-camt053-v08.xml")
        #expect(file.statements.allSatisfy { !$0.account.isEmpty })
        #expect(file.statements[0].entries.contains { $0.amountMinor == 8_866_780 }, "88667.8 is 8,866,780 cents")
    }

    @Test("MT940 German SEPA: ?20 purpose with EREF+, RC marks a reversal of a credit (a debit)")
    func germanDialect() throws {
        let statement = try load("betterplace-sepa-mt940.sta").statements[0]
        #expect(statement.account == "50880050/0194774600888")
        let first = statement.entries[0]
        #expect(first.details.first?.endToEndId?.hasPrefix("TFNR 40005 00005") == true)
        let reversal = try #require(statement.entries.first { $0.isReversal })
        #expect(!reversal.isCredit && reversal.amountMinor == 20_488)
        #expect(statement.opening?.minor == -123_471_836, "a D balance is negative")
    }

    @Test("MT940 ING: /EREF/, /RTRN/ and /REMI/ structures, a wrapped bank reference, a wrapped :28C:")
    func ingDialect() throws {
        let statement = try load("billing-ing-nl-structured.940").statements[0]
        #expect(statement.account == "NL44INGB0008765432" && statement.currency == "EUR")
        #expect(statement.sequence == "00000")
        let entries = statement.entries
        #expect(entries[0].accountServicerReference == "00000000002001")
        #expect(entries[0].details.first?.endToEndId == "BIL2026A1PAY0301")
        let returned = try #require(entries.first { $0.details.first?.returnReason == "MS03" })
        #expect(returned.details.first?.remittance.first?.contains("Factuurnr 88231") == true)
        #expect(Set(entries.compactMap(\.accountServicerReference)).count == entries.count, "no two lines collapse")
    }

    @Test("MT940 bunq: IBAN and currency in :25:, /IBAN/NAME/REMI/, amounts like 2, and 0,3")
    func bunqDialect() throws {
        let statement = try load("bunq-mt940.txt").statements[0]
        #expect(statement.account == "NL10BUNQ2290325473" && statement.currency == "EUR")
        #expect(statement.entries[0].amountMinor == 200 && statement.entries[1].amountMinor == 30)
        #expect(statement.entries[0].details.first?.debtorAccount == "NL65BUNQ2206724936")
        #expect(statement.entries[0].details.first?.debtorName == "P.C. Wacki")
    }

    @Test("MT940 in CP852 is detected and decoded; the ASN envelope is unwrapped")
    func encodingsAndEnvelope() throws {
        let raiffeisen = try load("raiffeisen-hu-cp852-mt940.sta").statements[0]
        #expect(raiffeisen.entries[0].supplementary == "Csoportos átutalás jóváírása")
        #expect(raiffeisen.entries[0].information?.contains("összevont utánvét") == true)
        #expect(raiffeisen.entries[0].entryReference == nil)
        let asn = try load("asnb-mt940.txt")
        #expect(asn.statements.allSatisfy { $0.account == "NL81ASNB9999999999" })
    }

    @Test("the CP852 table agrees with iconv byte for byte (when iconv is installed)")
    func cp852Table() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/iconv") else { return }
        let input = FileManager.default.temporaryDirectory.appendingPathComponent("cp852-\(UUID().uuidString)")
        try Data((0x80...0xFF).map { UInt8($0) }).write(to: input)
        defer { try? FileManager.default.removeItem(at: input) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/iconv")
        process.arguments = ["-f", "CP852", "-t", "UTF-8", input.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return }
        let decoded = TextEncoding.cp852.decode((0x80...0xFF).map { UInt8($0) })
        #expect(decoded == String(decoding: output, as: UTF8.self))
    }
}

@Suite("bad statement input is refused with a reason")
struct StatementRefusalTests {
    func refusal(_ text: String, format: String? = nil) -> StatementFileError? {
        do {
            _ = try StatementFiles.parse(Array(text.utf8), format: format)
            return nil
        } catch {
            return error
        }
    }

    @Test("a DTD, an external entity and an entity bomb are refused before anything is expanded")
    func dtds() {
        let bomb = """
            <?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">
            <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;">]><Document><x>&lol3;</x></Document>
            """
        let external = """
            <?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><Document>&x;</Document>
            """
        for text in [bomb, external] {
            let error = refusal(text)
            #expect(error?.code == "invalid_xml")
            #expect(error?.reason.contains("DTD") == true)
        }
        #expect(refusal("<Document><a>&x;</a></Document>")?.reason.contains("&x;") == true)
    }

    @Test("truncated and malformed XML, bad amounts and unknown currencies are refused with where")
    func malformed() {
        let head =
            #"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><Stmt><Acct><Id><IBAN>DE1</IBAN></Id></Acct>"#
        #expect(refusal(head)?.reason.contains("truncated") == true)
        #expect(refusal("<Document><a></b></Document>")?.code == "invalid_xml")
        let entry = { (amount: String, currency: String) in
            head
                + #"<Ntry><Amt Ccy="\#(currency)">\#(amount)</Amt><CdtDbtInd>CRDT</CdtDbtInd></Ntry></Stmt></BkToCstmrStmt></Document>"#
        }
        #expect(refusal(entry("1.005", "EUR"))?.code == "too_many_decimals")
        #expect(refusal(entry("99999999999999999999", "EUR"))?.code == "amount_out_of_range")
        #expect(refusal(entry("1.00", "XXY"))?.code == "unknown_currency")
        #expect(refusal(entry("1.00", "EUR")) == nil)
        #expect(refusal("hello world")?.code == "unknown_format")
        let latin1 = Array(":20:X\n:25:A\n:60F:C200101EUR1,00\n:86:M".utf8) + [0xFC, 0x6C, 0x6C, 0x65, 0x72]
        do {
            _ = try StatementFiles.parse(latin1, format: "mt940", encoding: .utf8)
            Issue.record("bytes that are not UTF-8 must not be read as UTF-8")
        } catch {
            #expect(error.code == "wrong_encoding")
        }
        #expect(
            TextEncoding.detect(latin1) == .latin1 && TextEncoding.latin1.decode(latin1)?.hasSuffix("Müller") == true)
        #expect(refusal(":20:X\n:25:A\n:60F:C200101EUR1,00\n:61:2001010101Q1,00NTRF\n")?.code == "invalid_statement")
    }
}
