import BillingDomain
import BillingIngest
import Testing

@Suite("CSV statements by column mapping")
struct CSVStatementTests {
    let mapping = """
        date=Buchungstag|amount=Betrag|direction=S/H|remittance=Verwendungszweck|payer_name=Name|\
        payer_account=IBAN|reference=Referenz|account_value=DE02120300000000202051|currency_value=EUR|\
        delimiter=;|decimal=,|date_format=dd.MM.yyyy|credit_values=H|debit_values=S
        """

    @Test("quoted fields with delimiters, doubled quotes and line breaks; decimal comma; S/H direction")
    func quoting() throws {
        let text = #"""
            Buchungstag;Betrag;S/H;Verwendungszweck;Name;IBAN;Referenz\#r
            01.06.2026;46,20;H;"A-1001; Rechnung ""INV-2026-000001""";Max Muster;DE89370400440532013000;R1\#r
            02.06.2026;12,5;S;"Gebühr
            Juni";Bank;;R2\#r

            """#
        let file = try StatementFiles.parse(Array(text.utf8), format: "csv", csvMapping: try CSVMapping.parse(mapping))
        #expect(file.format == "csv" && file.statements.count == 1)
        let statement = file.statements[0]
        #expect(statement.account == "DE02120300000000202051" && statement.opening == nil)
        #expect(statement.entries.count == 2)
        let first = statement.entries[0]
        #expect(first.isCredit && first.amountMinor == 4_620 && first.entryReference == "R1")
        #expect(first.bookingDate == (try LocalDate.parse("2026-06-01")))
        #expect(first.details[0].remittance == [#"A-1001; Rechnung "INV-2026-000001""#])
        #expect(first.details[0].debtorAccount == "DE89370400440532013000")
        #expect(!statement.entries[1].isCredit && statement.entries[1].amountMinor == 1_250)
        #expect(statement.entries[1].details[0].remittance == ["Gebühr\nJuni"])
        #expect(statement.creditsMinor == 4_620 && statement.debitsMinor == 1_250)
    }

    @Test("dates written in other scripts' digits (full-width) are refused with a reason, not trapped on")
    func fullWidthDigits() throws {
        let text = "Buchungstag;Betrag;S/H;Verwendungszweck;Name;IBAN;Referenz\n０１.０６.２０２６;46,20;H;x;y;;R1\n"
        #expect {
            _ = try StatementFiles.parse(Array(text.utf8), format: "csv", csvMapping: try CSVMapping.parse(mapping))
        } throws: { error in
            (error as? StatementFileError)?.code == "invalid_date"
        }
    }

    @Test("a signed amount column and one statement per account column value")
    func signedAndAccounts() throws {
        let text = "date,amount,account,currency\n2026-06-01,10.00,A,EUR\n2026-06-01,-2.50,B,EUR\n2026-06-02,1,A,EUR\n"
        let file = try StatementFiles.parse(
            Array(text.utf8),
            csvMapping: try CSVMapping.parse("date=date|amount=amount|account=account|currency=currency"))
        #expect(file.statements.map(\.account) == ["A", "B"])
        #expect(file.statements[0].creditsMinor == 1_100 && file.statements[1].debitsMinor == 250)
    }

    @Test("bad mappings, missing columns, bad quoting, dates and amounts are refused with where")
    func refusals() throws {
        #expect(throws: StatementFileError.self) { try CSVMapping.parse("date=d") }
        #expect(throws: StatementFileError.self) {
            try CSVMapping.parse("date=d|amount=a|account=x|currency=c|colour=red")
        }
        let mapping = try CSVMapping.parse("date=date|amount=amount|account_value=X|currency_value=EUR")
        func refusal(_ text: String) -> StatementFileError? {
            do {
                _ = try StatementFiles.parse(Array(text.utf8), format: "csv", csvMapping: mapping)
                return nil
            } catch {
                return error
            }
        }
        #expect(refusal("day,amount\n2026-01-01,1\n")?.reason.contains("no column 'date'") == true)
        #expect(refusal("date,amount\n2026-01-01,\"1\n")?.reason.contains("unterminated") == true)
        #expect(refusal("date,amount\n2026-13-01,1\n")?.location == "line 2")
        #expect(refusal("date,amount\n2026-01-01,1.001\n")?.code == "too_many_decimals")
        #expect(refusal("date,amount\n2026-01-01,1\n") == nil)
    }
}
