import ArgumentParser
import BillingContracts
import BillingPostgres
import BillingSupport

extension CommandSender {
    /// Cash-desk commands go to `BILLING_CASH_DESK_COMMANDS_TOPIC` (default `billing.cash-desk.commands`).
    static var cashDesk: CommandSender {
        to(Topics.cashDeskCommands, variable: "BILLING_CASH_DESK_COMMANDS_TOPIC", schema: "ingest")
    }
}

struct CashDeskCommandGroup: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cash-desk",
        abstract: "Cash desks: open a shift with a float, take payments, close it with the cash counted, show a desk.",
        subcommands: [OpenShift.self, Pay.self, CloseShift.self, Show.self])

    struct OpenShift: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Open a shift at a desk with the float in the drawer (a new desk needs --currency).")
        @Option(help: "The desk's id.")
        var desk: String
        @Option(help: "The desk's currency (required the first time).")
        var currency: String?
        @Option(help: "The cash float, decimal text (default 0).")
        var float: String?
        @OptionGroup var origin: OriginOptions
        @OptionGroup var wait: WaitOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            try CommandSender.cashDesk.send(
                type: CashDeskTypes.openShift, key: desk,
                body: CashDeskCommand(
                    origin: origin.origin(defaultNote: "shift opened"), desk: desk, currency: currency, float: float),
                wait: wait, output: output)
        }
    }

    struct Pay: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take a payment at a desk during its open shift; it is allocated like any payment.")
        @Option(help: "The desk's id.")
        var desk: String
        @Option(help: "Account number.")
        var account: String
        @Option(help: "Amount, decimal text in the desk's currency.")
        var amount: String
        @Option(help: "The payer's reference, e.g. the invoice number.")
        var reference: String?
        @OptionGroup var origin: OriginOptions
        @OptionGroup var wait: WaitOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            try CommandSender.cashDesk.send(
                type: CashDeskTypes.payment, key: desk,
                body: CashDeskCommand(
                    origin: origin.origin(defaultNote: "payment at desk"), desk: desk, account: account,
                    amount: amount, reference: reference),
                wait: wait, output: output)
        }
    }

    struct CloseShift: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Close a desk's shift with the cash counted; prints what was expected and the difference.")
        @Option(help: "The desk's id.")
        var desk: String
        @Option(help: "The cash counted in the drawer, decimal text.")
        var counted: String
        @OptionGroup var origin: OriginOptions
        @OptionGroup var wait: WaitOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            try CommandSender.cashDesk.send(
                type: CashDeskTypes.closeShift, key: desk,
                body: CashDeskCommand(origin: origin.origin(defaultNote: "shift closed"), desk: desk, counted: counted),
                wait: wait, output: output)
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A desk: its open shift and its last closed shifts.")
        @Argument(help: "The desk's id.")
        var desk: String
        @OptionGroup var output: OutputOptions

        struct Shift: Encodable {
            let shiftId: String
            let openedBy: String
            let openedAt: String
            let floatMinor: Int64
            let takenMinor: Int64
            let payments: Int
            let expectedMinor: Int64
            let closedAt: String?
            let countedMinor: Int64?
            let differenceMinor: Int64?
        }

        struct View: Encodable {
            let desk: String
            let currency: String
            let shifts: [Shift]
        }

        func run() throws {
            let connection = try connectDatabase()
            defer { connection.close() }
            let rows = try connection.query("SELECT currency FROM ingest.cash_desks WHERE desk_id = $1", [desk])
            guard let currency = try rows.rows.first?.string(0) else { throw CtlFailure.refused("no desk \(desk)") }
            let shifts = try connection.query(
                """
                SELECT shift_id, opened_by, opened_at::text, float_minor, taken_minor, payments, closed_at::text,
                    counted_minor, difference_minor
                FROM ingest.cash_shifts WHERE desk_id = $1 ORDER BY closed_at IS NULL DESC, opened_at DESC LIMIT 10
                """, [desk]
            ).rows.map { row in
                Shift(
                    shiftId: try row.string(0), openedBy: try row.string(1), openedAt: try row.string(2),
                    floatMinor: try row.int64(3), takenMinor: try row.int64(4), payments: try row.int(5),
                    expectedMinor: try row.int64(3) + row.int64(4), closedAt: row.optionalString(6),
                    countedMinor: try row.optionalInt64("counted_minor"),
                    differenceMinor: try row.optionalInt64("difference_minor"))
            }
            let view = View(desk: desk, currency: currency, shifts: shifts)
            if output.json {
                try printContractJSON(view)
                return
            }
            let money = { (minor: Int64?) in minor.map { (try? MoneyText.format($0, currency)) ?? String($0) } ?? "" }
            print("desk \(desk) (\(currency))")
            printTable(
                ["shift", "opened by", "float", "taken", "payments", "expected", "counted", "difference"],
                shifts.map {
                    [
                        $0.shiftId + ($0.closedAt == nil ? " (open)" : ""), $0.openedBy, money($0.floatMinor),
                        money($0.takenMinor), String($0.payments), money($0.expectedMinor), money($0.countedMinor),
                        money($0.differenceMinor),
                    ]
                })
        }
    }
}
