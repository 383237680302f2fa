import ArgumentParser
import BillingContracts
import BillingPostgres

struct AccountCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "account",
        abstract: "Open, show, change, suspend, reactivate and terminate accounts receivable.",
        subcommands: [Open.self, Show.self, Update.self, Suspend.self, Reactivate.self, Terminate.self])

    /// Settings shared by `open` and `update`.
    struct Settings: ParsableArguments {
        @Option(help: "The client's name.")
        var name: String?

        @Option(help: "Most the client may owe, decimal in the account's currency ('none' removes it).")
        var creditLimit: String?

        @Option(
            help:
                "When invoices fall due: \"day:15,months:1\", \"days:10\" or \"days:10,proximity:-5\" (default days:14)."
        )
        var creditRule: String?

        @Option(help: "How credits meet debits: fifo or against-item.")
        var allocation: String?

        @Option(help: "How bills reach the client: email, sms or print.")
        var presentment: String?

        @Option(help: "Email address for bills (empty text clears it).")
        var email: String?

        @Option(help: "Phone number for SMS bills (empty text clears it).")
        var phone: String?

        @Option(help: "The group the account belongs to.")
        var owningGroup: String?

        func command(number: String, currency: String?, origin: CommandOrigin) -> AccountSettingsCommand {
            AccountSettingsCommand(
                origin: origin, number: number, name: name, currency: currency, creditLimit: creditLimit,
                creditRule: creditRule, allocation: allocation, presentment: presentment, email: email, phone: phone,
                owningGroup: owningGroup)
        }
    }

    struct Open: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Open an account.")

        @Option(help: "Account number (1-40 letters, digits, - _ / .).")
        var number: String

        @Option(help: "ISO 4217 currency of the account, e.g. EUR.")
        var currency: String

        @OptionGroup var settings: Settings
        @OptionGroup var origin: OriginOptions
        @OptionGroup var wait: WaitOptions
        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard settings.name != nil else { throw ValidationError("--name is required to open an account") }
        }

        func run() throws {
            try CommandSender.ledger.send(
                type: LedgerTypes.accountOpen, key: number,
                body: settings.command(
                    number: number, currency: currency, origin: origin.origin(defaultNote: "account opened")),
                wait: wait, output: output)
        }
    }

    struct Update: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change an account's settings (only those given).")

        @Argument(help: "Account number.")
        var number: String

        @OptionGroup var settings: Settings
        @OptionGroup var origin: OriginOptions
        @OptionGroup var wait: WaitOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            try CommandSender.ledger.send(
                type: LedgerTypes.accountUpdate, key: number,
                body: settings.command(
                    number: number, currency: nil, origin: origin.origin(defaultNote: "settings changed")),
                wait: wait, output: output)
        }
    }

    struct Suspend: AccountStateChange {
        static let configuration = CommandConfiguration(abstract: "Suspend an account (still billed, still pays).")
        static let commandType = LedgerTypes.accountSuspend
        static let defaultNote = "suspended"

        @Argument(help: "Account number.")
        var number: String

        @OptionGroup var origin: OriginOptions
        @OptionGroup var wait: WaitOptions
        @OptionGroup var output: OutputOptions
    }

    struct Reactivate: AccountStateChange {
        static let configuration = CommandConfiguration(abstract: "Make a suspended account active again.")
        static let commandType = LedgerTypes.accountReactivate
        static let defaultNote = "reactivated"

        @Argument(help: "Account number.")
        var number: String

        @OptionGroup var origin: OriginOptions
        @OptionGroup var wait: WaitOptions
        @OptionGroup var output: OutputOptions
    }

    struct Terminate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Terminate an account: at zero balance, or moving its credit / writing off its debt first.")

        @Argument(help: "Account number.")
        var number: String

        @Option(help: "Move a credit balance to this account first.")
        var transferTo: String?

        @Option(
            help:
                "Write a debt off first, with this reason: uncollectible, small-balance, goodwill, dispute, bankruptcy."
        )
        var writeOff: String?

        @OptionGroup var origin: OriginOptions
        @OptionGroup var wait: WaitOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            try CommandSender.ledger.send(
                type: LedgerTypes.accountTerminate, key: number,
                body: AccountStateCommand(
                    origin: origin.origin(defaultNote: "terminated"), number: number, transferTo: transferTo,
                    writeOffCategory: writeOff),
                wait: wait, output: output)
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show an account's settings, state and balance.")

        @Argument(help: "Account number.")
        var number: String

        @OptionGroup var output: OutputOptions

        struct View: Encodable {
            let number: String
            let name: String
            let currency: String
            let state: String
            let creditLimitMinor: Int64?
            let creditRule: String
            let allocation: String
            let presentment: String
            let email: String?
            let phone: String?
            let owningGroup: String?
            let balanceMinor: Int64
            let balance: String
            let createdAt: String
        }

        func run() throws {
            let connection = try connectDatabase()
            defer { connection.close() }
            let rows = try connection.query(
                """
                SELECT number, name, currency, state, credit_limit_minor, credit_rule, allocation_principle,
                       presentment, email, phone, owning_group, balance_minor,
                       to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS created_at
                FROM ledger.accounts WHERE number = $1
                """, [number])
            guard let row = rows.rows.first else { throw CtlFailure.refused("account \(number) does not exist") }
            let currency = try row.string("currency")
            let view = View(
                number: try row.string("number"), name: try row.string("name"), currency: currency,
                state: try row.string("state"), creditLimitMinor: try row.optionalInt64("credit_limit_minor"),
                creditRule: try row.string("credit_rule"), allocation: try row.string("allocation_principle"),
                presentment: try row.string("presentment"), email: try row.optionalString("email"),
                phone: try row.optionalString("phone"), owningGroup: try row.optionalString("owning_group"),
                balanceMinor: try row.int64("balance_minor"),
                balance: try MoneyText.format(try row.int64("balance_minor"), currency),
                createdAt: try row.string("created_at"))
            if output.json { return try printContractJSON(view) }
            printTable(
                ["field", "value"],
                [
                    ["number", view.number], ["name", view.name], ["currency", view.currency], ["state", view.state],
                    ["balance", "\(view.balance) \(currency)"],
                    ["credit limit", try view.creditLimitMinor.map { try MoneyText.format($0, currency) } ?? "none"],
                    ["credit rule", view.creditRule], ["allocation", view.allocation],
                    ["presentment", view.presentment], ["email", view.email ?? ""], ["phone", view.phone ?? ""],
                    ["owning group", view.owningGroup ?? ""], ["opened", view.createdAt],
                ])
        }
    }
}

/// `suspend` and `reactivate`: the account number, who asks and why, and nothing else.
protocol AccountStateChange: ParsableCommand {
    static var commandType: String { get }
    static var defaultNote: String { get }
    var number: String { get }
    var origin: OriginOptions { get }
    var wait: WaitOptions { get }
    var output: OutputOptions { get }
}

extension AccountStateChange {
    func run() throws {
        try CommandSender.ledger.send(
            type: Self.commandType, key: number,
            body: AccountStateCommand(
                origin: origin.origin(defaultNote: Self.defaultNote), number: number),
            wait: wait, output: output)
    }
}
