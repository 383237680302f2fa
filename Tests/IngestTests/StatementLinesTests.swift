import BillingIngest
import Testing

@Suite("statement lines as booked, and their identities")
struct StatementLinesTests {
    @Test("no two lines of any fixture share an identity, and the same file gives the same identities again")
    func identities() throws {
        for expected in StatementFixtureTests.expected {
            let file = try StatementFixtureTests.load(expected.file)
            let lines = StatementLines.lines(of: file)
            #expect(Set(lines.map(\.identity)).count == lines.count, "\(expected.file): lines collapsed")
            #expect(
                lines.map(\.identity)
                    == StatementLines.lines(of: try StatementFixtureTests.load(expected.file)).map(\.identity))
        }
    }

    @Test("a batch whose transactions carry their amounts is booked per transaction; the example file books 4 lines")
    func batches() throws {
        let lines = StatementLines.lines(of: try StatementFixtureTests.load("oca-test-camt053.xml"))
        #expect(lines.count == 4)
        #expect(lines.filter { $0.kind == .debitReversal }.count == 2)
        #expect(
            lines.filter { $0.kind == .debitReversal }.allSatisfy { $0.returnReason == "AC06" && $0.detailIndex != nil }
        )
        #expect(lines.allSatisfy { !$0.identityIsWeak }, "end-to-end ids identify every line of this file")
        #expect(lines.reduce(0) { $0 + ($1.kind == .credit ? $1.amountMinor : 0) } == 140_531)
    }

    @Test("entries not booked stay out; charges not included are reported beside the amount")
    func statusesAndCharges() throws {
        let notification = StatementLines.lines(of: try StatementFixtureTests.load("moov-fi-camt054-sample.xml"))
        let notBooked = notification.filter { $0.notBookedReason != nil }
        #expect(!notBooked.isEmpty && notBooked.allSatisfy { $0.notBookedReason == "status INFO" })
        #expect(Set(notBooked.map(\.entryIndex)).count == 1, "only the INFO entry (its transactions) stays out")
        let swiss = StatementLines.lines(of: try StatementFixtureTests.load("viafintech-camt053-v4-postfinance.xml"))
        #expect(swiss.contains { $0.chargesNotIncludedMinor > 0 })
        let bookedTotal = swiss.filter { $0.kind == .credit || $0.kind == .creditReversal }.reduce(0) {
            $0 + $1.amountMinor
        }
        #expect(bookedTotal == 181_056, "splitting batches keeps the credited total of the entries")
    }

    @Test("MT940 lines: references where the bank gave them, weak keys where it did not")
    func mt940() throws {
        let lines = StatementLines.lines(of: try StatementFixtureTests.load("betterplace-sepa-mt940.sta"))
        #expect(lines.count == 97)
        #expect(lines.contains { !$0.identityIsWeak } && lines.contains { $0.identityIsWeak })
        #expect(lines.filter { $0.kind == .debitReversal }.count == 2)
    }
}
