import BillingDomain
import BillingIngest
import BillingTestSupport
import Foundation
import Testing

/// Every bank file in `Tests/Fixtures/bank/` (see its PROVENANCE.md), parsed and checked
/// against figures read from the files by hand: statements, entries, credit and debit counts and
/// totals per currency as the bank wrote the entries, and whether the stated balances add up.
/// (The totals were summed from the raw entry lines with grep and awk, never from this parser; a
/// camt balance is its own `Bal/Amt`, not the `Avlbty/Amt` inside it.)
@Suite("bank statement fixtures")
struct StatementFixtureTests {
    struct Expected {
        let file: String
        let format: String
        let statements: Int
        let entries: Int
        let currency: String
        let credits: (count: Int, minor: Int64)
        let debits: (count: Int, minor: Int64)
        /// Per statement: opening and closing as stated (nil: none), and whether they reconcile.
        let balances: [(opening: Int64?, closing: Int64?, reconciles: Bool?)]
        let reversals: Int
    }


    static let expected: [Expected] = [
        Expected(
            file: "billing-camt053-reversed-direct-debits.xml", format: "camt.053.001.02", statements: 1, entries: 3,
            currency: "EUR", credits: (1, 102_075), debits: (2, 55_740), balances: [(841_250, 800_000, false)],
            reversals: 1),
        Expected(
            file: "moov-fi-camt053-sample.xml", format: "camt.053.001.02", statements: 1, entries: 10,
            currency: "EUR", credits: (6, 2_307_500), debits: (4, 943_017), balances: [(1_000_000, 2_364_483, true)],
            reversals: 0),
        Expected(
            file: "moov-fi-camt054-sample.xml", format: "camt.054.001.02", statements: 1, entries: 6,
            currency: "EUR", credits: (4, 560_000), debits: (2, 523_005), balances: [(nil, nil, nil)], reversals: 1),
        Expected(
            file: "subite-be-camt053-202411.xml", format: "camt.053.001.02", statements: 1, entries: 268,
            currency: "EUR", credits: (4, 18_000_000), debits: (264, 15_183_125),
            balances: [(5_937_037, 8_753_912, true)], reversals: 0),
        Expected(
            file: "subite-lt-camt053-v08.xml", format: "camt.053.001.08", statements: 2, entries: 15, currency: "EUR",
            credits: (3, 94_050_525), debits: (12, 520_968_501),
            balances: [(2_146_383_035, 1_719_465_059, true), (280_155, 280_155, true)], reversals: 0),
        Expected(
            file: "viafintech-camt053-v4-postfinance.xml", format: "camt.053.001.04", statements: 1, entries: 13,
            currency: "CHF", credits: (5, 181_056), debits: (8, 127_295), balances: [(32_215_216, 32_268_977, true)],
            reversals: 2),
        Expected(
            file: "betterplace-sepa-mt940.sta", format: "mt940", statements: 26, entries: 97, currency: "EUR",
            credits: (41, 518_847_494), debits: (56, 1_445_761_084), balances: [], reversals: 2),
        Expected(
            file: "raiffeisen-hu-cp852-mt940.sta", format: "mt940", statements: 1, entries: 7, currency: "HUF",
            credits: (1, 206_663_700), debits: (6, 307_885_050), balances: [(2_517_063_710, 2_528_168_760, false)],
            reversals: 0),
        Expected(
            file: "asnb-mt940.txt", format: "mt940", statements: 31, entries: 8, currency: "EUR",
            credits: (3, 282_890), debits: (5, 277_196), balances: [], reversals: 0),
        Expected(
            file: "bunq-mt940.txt", format: "mt940", statements: 1, entries: 111, currency: "EUR",
            credits: (26, 76_166), debits: (85, 78_833), balances: [(3_233, nil, true)], reversals: 0),
        Expected(
            file: "billing-ing-nl-structured.940", format: "mt940", statements: 1, entries: 8, currency: "EUR",
            credits: (4, 20_975), debits: (4, 29_414), balances: [(125_000, 116_561, true)], reversals: 0),
    ]

    static func load(_ file: String) throws -> ParsedStatementFile {
        let bytes = try Fixtures.bytes(Fixtures.bank(file))
        return try StatementFiles.parse(bytes)
    }

    @Test("each fixture: format, statements, entries, credit and debit totals, balances", arguments: expected)
    func fixture(_ expected: Expected) throws {
        let parsed = try Self.load(expected.file)
        #expect(parsed.format == expected.format, "\(expected.file)")
        #expect(parsed.statements.count == expected.statements, "\(expected.file)")
        let entries = parsed.statements.flatMap(\.entries)
        #expect(entries.count == expected.entries, "\(expected.file)")
        #expect(entries.allSatisfy { $0.currency == expected.currency }, "\(expected.file)")
        let credits = entries.filter(\.isCredit)
        let debits = entries.filter { !$0.isCredit }
        #expect(credits.count == expected.credits.count, "\(expected.file) credits")
        #expect(credits.reduce(0) { $0 + $1.amountMinor } == expected.credits.minor, "\(expected.file) credits")
        #expect(debits.count == expected.debits.count, "\(expected.file) debits")
        #expect(debits.reduce(0) { $0 + $1.amountMinor } == expected.debits.minor, "\(expected.file) debits")
        #expect(entries.filter(\.isReversal).count == expected.reversals, "\(expected.file) reversals")
        if expected.balances.isEmpty {
            // Many statements: every one of them reconciles (checked by hand for each file).
            #expect(parsed.statements.allSatisfy { $0.reconciles == true }, "\(expected.file)")
        }
        for (statement, balance) in zip(parsed.statements, expected.balances) {
            #expect(statement.opening?.minor == balance.opening, "\(expected.file) opening")
            if let closing = balance.closing {
                #expect(statement.closing?.minor == closing, "\(expected.file) closing")
            }
            #expect(statement.reconciles == balance.reconciles, "\(expected.file) reconciles")
        }
    }
}

extension StatementFixtureTests.Expected: CustomTestStringConvertible {
    var testDescription: String { file }
}
