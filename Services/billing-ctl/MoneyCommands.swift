import ArgumentParser
import BillingContracts
import BillingDomain
import BillingPostgres
import BillingSupport

/// Decimal text for minor units of a currency, as operators read it.
enum MoneyText {
    static func format(_ minor: Int64, _ currencyCode: String) throws -> String {
        Money(minor: minor, currency: try Currency(code: currencyCode)).decimalText
    }
}

struct PaymentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "payment", abstract: "Payments taken by hand.", subcommands: [Record.self])

    struct Record: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record a payment taken at a cash desk or by an operator; it is allocated like any other.")

        @Option(help: "Account number.")
        var account: String

        @Option(help: "Amount, decimal text in the account's currency (e.g. 46.20).")
        var amount: String

        @Option(help: "Currency of the amount; refused unless it is the account's.")
        var currency: String?

        @Option(help: "Invoices to pay first (numbers, comma-separated), under the against-item principle.")
        var against: String?

        @Option(help: "The payer's reference.")
        var reference: String?

        @Option(help: "Cash desk that took the money (else the operator channel).")
        var desk: String?

        @OptionGroup var origin: OriginOptions
        @OptionGroup var wait: WaitOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let against = self.against.map { $0.split(separator: ",").map { String($0.filter { $0 != " " }) } }
            try CommandSender.ledger.send(
                type: LedgerTypes.paymentRecord, key: account,
                body: MoneyCommand(
                    origin: origin.origin(defaultNote: "payment recorded"), account: account, amount: amount,
                    currency: currency, against: against, reference: reference, desk: desk),
                wait: wait, output: output)
        }
    }
}

struct RefundCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "refund",
        abstract: "Refund part or all of a client's credit: a refund due to the client, paid out later (see `refunds`)."
    )

    @Option(help: "Account number.")
    var account: String

    @Option(help: "Amount, decimal text in the account's currency; at most the client's credit.")
    var amount: String

    @Option(help: "Currency of the amount; refused unless it is the account's.")
    var currency: String?

    @Option(help: "Where to pay it, e.g. the client's IBAN.")
    var payee: String?

    @OptionGroup var origin: OriginOptions
    @OptionGroup var wait: WaitOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        try CommandSender.ledger.send(
            type: LedgerTypes.refund, key: account,
            body: MoneyCommand(
                origin: origin.origin(defaultNote: "refund of credit balance"), account: account, amount: amount,
                currency: currency, reference: payee),
            wait: wait, output: output)
    }
}

struct TransferCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transfer", abstract: "Move credit from one account to another of the same currency.")

    @Option(help: "The account giving its credit.")
    var from: String

    @Option(help: "The account receiving it.")
    var to: String

    @Option(help: "Amount, decimal text; at most the giving account's credit.")
    var amount: String

    @Option(help: "Currency of the amount; refused unless it is the accounts'.")
    var currency: String?

    @OptionGroup var origin: OriginOptions
    @OptionGroup var wait: WaitOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        try CommandSender.ledger.send(
            type: LedgerTypes.transfer, key: from,
            body: MoneyCommand(
                origin: origin.origin(defaultNote: "balance transfer"), account: from, amount: amount,
                currency: currency, toAccount: to),
            wait: wait, output: output)
    }
}

struct WriteOffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "write-off", abstract: "Write off all or part of what is open on an invoice.")

    @Option(help: "Invoice number (or document id).")
    var invoice: String

    @Option(help: "Amount, decimal text (default: all that is open).")
    var amount: String?

    @Option(help: "Reason category: uncollectible, small-balance, goodwill, dispute, bankruptcy.")
    var reason: String

    @OptionGroup var origin: OriginOptions
    @OptionGroup var wait: WaitOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard WriteOffCategory(rawValue: reason) != nil else {
            throw ValidationError(
                "--reason must be one of \(WriteOffCategory.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() throws {
        // The command travels keyed by the invoice's account, so find it.
        let connection = try connectDatabase()
        let rows = try connection.query(
            """
            SELECT a.number FROM ledger.items AS i JOIN ledger.accounts AS a USING (account_id)
            WHERE (i.number = $1 OR i.document_id = $1) AND i.document_kind = 'invoice'
            """, [invoice])
        connection.close()
        guard let account = rows.rows.first.flatMap({ $0.optionalString(0) }) else {
            throw CtlFailure.refused("invoice \(invoice) is not posted on any account")
        }
        try CommandSender.ledger.send(
            type: LedgerTypes.writeOff, key: account,
            body: MoneyCommand(
                origin: origin.origin(defaultNote: "write-off: \(reason)"), account: account, amount: amount,
                against: [invoice], category: reason),
            wait: wait, output: output)
    }
}

struct RefundsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "refunds", abstract: "Refunds due to clients: list, export for payment, confirm paid.",
        subcommands: [List.self, Export.self, Confirm.self])

    struct Row: Encodable {
        let refund: String
        let account: String
        let currency: String
        let amountMinor: Int64
        let amount: String
        let state: String
        let payee: String?
        let requestedBy: String
        let createdAt: String
    }

    static func rows(_ connection: PGConnection, state: String?) throws -> [Row] {
        let rows = try connection.query(
            """
            SELECT r.refund_id, a.number, r.currency, r.amount_minor, r.state, r.payee_reference, r.requested_by,
                   to_char(r.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS created_at
            FROM ledger.refunds AS r JOIN ledger.accounts AS a USING (account_id)
            WHERE $1::text IS NULL OR r.state = $1 ORDER BY r.created_at, r.refund_id
            """, [state])
        return try rows.rows.map { row in
            Row(
                refund: try row.string(0), account: try row.string(1), currency: try row.string(2),
                amountMinor: try row.int64(3), amount: try MoneyText.format(try row.int64(3), try row.string(2)),
                state: try row.string(4), payee: row.optionalString(5), requestedBy: try row.string(6),
                createdAt: try row.string(7))
        }
    }

    static func show(_ rows: [Row], json: Bool) throws {
        if json { return try printContractJSON(rows) }
        printTable(
            ["refund", "account", "amount", "state", "payee", "requested by", "created"],
            rows.map {
                [
                    $0.refund, $0.account, "\($0.amount) \($0.currency)", $0.state, $0.payee ?? "", $0.requestedBy,
                    $0.createdAt,
                ]
            })
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List refunds, oldest first.")

        @Option(help: "Only refunds in this state: due, exported or paid.")
        var state: String?

        @OptionGroup var output: OutputOptions

        func run() throws {
            let connection = try connectDatabase()
            defer { connection.close() }
            try RefundsCommand.show(try RefundsCommand.rows(connection, state: state), json: output.json)
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the refunds due (the payment file's content) and mark them exported.")

        @Option(help: "A name for this export, kept with each refund.")
        var batch: String = "export-\(UTCClock.timestamp())"

        @OptionGroup var origin: OriginOptions
        @OptionGroup var wait: WaitOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let connection = try connectDatabase()
            let due = try RefundsCommand.rows(connection, state: "due")
            connection.close()
            guard !due.isEmpty else {
                if output.json { try printContractJSON([Row]()) } else { print("no refunds are due") }
                return
            }
            try RefundsCommand.show(due, json: output.json)
            try CommandSender.ledger.send(
                type: LedgerTypes.refundsExported, key: batch,
                body: RefundPayoutCommand(
                    origin: origin.origin(defaultNote: "refunds exported for payment"), refundIds: due.map(\.refund),
                    exportBatch: batch),
                wait: wait, output: output, printsOutcome: false)
        }
    }

    struct Confirm: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Confirm a refund paid (as the bank statement shows): clears refunds payable against cash.")

        @Argument(help: "Refund id (RF-…).")
        var refund: String

        @Option(help: "Date it left the bank, YYYY-MM-DD (default today).")
        var paidOn: String?

        @Option(help: "The bank's reference for the payment.")
        var bankReference: String?

        @Option(help: "Cash channel it left from (default bank).")
        var channel: String?

        @OptionGroup var origin: OriginOptions
        @OptionGroup var wait: WaitOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            try CommandSender.ledger.send(
                type: LedgerTypes.refundPaid, key: refund,
                body: RefundPayoutCommand(
                    origin: origin.origin(defaultNote: "refund paid"), refundIds: [refund], paidOn: paidOn,
                    bankReference: bankReference, channel: channel),
                wait: wait, output: output)
        }
    }
}
