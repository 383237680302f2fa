import ArgumentParser
import BillingContracts
import BillingDomain
import BillingPostgres
import BillingSupport
import FoundationEssentials

/// Lines as typed: repeated `--line "DESCRIPTION;QUANTITY;UNIT_PRICE;TAX_RATE_PERCENT[;DISCOUNT…]"`,
/// or a JSON file holding an array of lines with the command's field names.
struct LineOptions: ParsableArguments {
    @Option(
        name: .customLong("line"),
        help: ArgumentHelp(
            "A line: \"DESCRIPTION;QUANTITY;UNIT_PRICE;TAX_RATE_PERCENT[;DISCOUNT…]\"; each DISCOUNT is a percentage (15%) or an amount off the line (20.00). Repeat for more lines.",
            valueName: "line"))
    var lines: [String] = []

    @Option(
        help: ArgumentHelp(
            "A JSON file with an array of lines: [{\"description\": …, \"quantity\": \"1\", \"unit_price\": \"100.00\", \"tax_rate\": \"20\", \"discounts\": [\"15%\"]}].",
            valueName: "file"))
    var linesFile: String?

    /// The lines given, or nil when none were (for `update`, which keeps the draft's lines).
    func specs() throws -> [DocumentLineSpec]? {
        var specs: [DocumentLineSpec] = []
        for text in lines {
            let fields = text.split(separator: ";", omittingEmptySubsequences: false).map {
                String($0).trimmingSpaces()
            }
            guard fields.count >= 4 else {
                throw CtlFailure.usage(
                    "--line \"\(text)\": expected DESCRIPTION;QUANTITY;UNIT_PRICE;TAX_RATE_PERCENT[;DISCOUNT…]")
            }
            let discounts = fields.dropFirst(4).filter { !$0.isEmpty }
            specs.append(
                DocumentLineSpec(
                    description: fields[0], quantity: fields[1], unitPrice: fields[2], taxRate: fields[3],
                    discounts: discounts.isEmpty ? nil : Array(discounts)))
        }
        if let linesFile {
            guard let data = FileManager.default.contents(atPath: linesFile) else {
                throw CtlFailure.usage("--lines-file: cannot read \(linesFile)")
            }
            do {
                specs += try ContractJSON.decodeStrictArray(DocumentLineSpec.self, from: data)
            } catch let error as DecodingError {
                throw CtlFailure.usage("--lines-file \(linesFile): \(Self.describe(error))")
            }
        }
        return specs.isEmpty ? nil : specs
    }

    static func describe(_ error: DecodingError) -> String {
        switch error {
        case .dataCorrupted(let context): return context.debugDescription
        case .keyNotFound(let key, _): return "field \(ContractJSON.snakeCase(key.stringValue)) is missing"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return
                "field \(context.codingPath.map { ContractJSON.snakeCase($0.stringValue) }.joined(separator: ".")) has the wrong type"
        @unknown default: return "\(error)"
        }
    }
}

/// Finds which account a document belongs to (commands are keyed by account), unless `--account` says.
func documentAccount(_ name: String, given: String?) throws -> String {
    if let given { return given }
    let connection = try connectDatabase()
    defer { connection.close() }
    let rows = try connection.query(
        """
        SELECT a.number FROM documents.documents AS d JOIN documents.accounts AS a USING (account_id)
        WHERE d.number = $1 OR d.reference = $1 OR d.document_id = $1
        """, [name])
    guard let row = rows.rows.first else { throw CtlFailure.refused("no document \(name)") }
    return try row.string(0)
}

/// Before creating a document: when the ledger has the account but the invoicer's copy has not
/// arrived yet (it travels on `billing.accounts`), waits for it instead of sending a command that
/// would be refused. Skipped without `DATABASE_URL`.
func awaitAccountCopy(_ number: String, timeoutSeconds: Int) throws {
    guard ProcessEnvironment.current().optional("DATABASE_URL") != nil else { return }
    let connection = try connectDatabase()
    defer { connection.close() }
    let deadline = monotonicMs() + Int64(timeoutSeconds) * 1_000
    var announced = false
    while true {
        let row = try connection.query(
            """
            SELECT EXISTS (SELECT 1 FROM documents.accounts WHERE number = $1),
                   EXISTS (SELECT 1 FROM ledger.accounts WHERE number = $1)
            """, [number])[0]
        if try row.bool(0) || !(try row.bool(1)) { return }
        if monotonicMs() >= deadline {
            throw CtlFailure.unavailable(
                "account \(number) has not reached the invoicer after \(timeoutSeconds) s: is the invoicer running?")
        }
        if !announced {
            writeStandardError("waiting for the invoicer to learn of account \(number)…")
            announced = true
        }
        sleepThread(milliseconds: 100)
    }
}

/// Sends a document command; with `--wait`, prints the document as `show` does (or the outcome
/// when the command made no document to show).
func sendDocumentCommand<Body: Encodable>(
    type: String, account: String, body: Body, wait: WaitOptions, output: OutputOptions
) throws {
    let outcome = try CommandSender.documents.send(
        type: type, key: account, body: body, wait: wait, output: output, printsOutcome: false)
    guard let outcome, let id = outcome.result["document_id"] else { return }
    let connection = try connectDatabase()
    defer { connection.close() }
    let view = try DocumentView.load(connection, id)
    if output.json { try printContractJSON(view) } else { view.printForPeople() }
}

/// The draft a command works on, and its account (looked up unless given).
struct DraftTarget: ParsableArguments {
    @Argument(help: "The draft's reference.")
    var document: String

    @Option(help: "Account number (default: looked up from the draft).")
    var account: String?

    func owner() throws -> String { try documentAccount(document, given: account) }
}

/// Who asks, `--wait` and `--json`: what every document command takes.
struct DocumentCommandOptions: ParsableArguments {
    @OptionGroup var origin: OriginOptions
    @OptionGroup var wait: WaitOptions
    @OptionGroup var output: OutputOptions

    func send<Body: Encodable>(_ type: String, account: String, _ body: Body) throws {
        try sendDocumentCommand(type: type, account: account, body: body, wait: wait, output: output)
    }
}

struct InvoiceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invoice",
        abstract: "Invoices: create, change, post, reject, cancel, show, list.",
        discussion: """
            Drafts are named by their reference (given, or DRAFT-000042 from the invoicer), posted
            documents by their legal number (INV-2026-000123). `post`, `reject` and `update` work on any
            draft, credit notes included.
            """,
        subcommands: [Create.self, Update.self, Post.self, Reject.self, Cancel.self, Show.self, List.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a draft invoice from its lines; with --post, post it at once.")

        @Option(help: "Account number.")
        var account: String
        @OptionGroup var lines: LineOptions
        @Option(help: "Due date YYYY-MM-DD; checked against the account's credit rule on posting (else computed).")
        var dueOn: String?
        @Option(help: "Issue date YYYY-MM-DD (default today).")
        var issuedOn: String?
        @Option(help: "The draft's reference (default: given by the invoicer).")
        var reference: String?
        @Option(help: "A back-office code, unique across documents.")
        var backOfficeCode: String?
        @Option(help: "Notes printed on the invoice.")
        var notes: String?
        @Option(help: "Rounding of percentages and quantities per line: half-up (default) or half-even.")
        var rounding: String?
        @Flag(help: "Post at once: legal number, posting and due dates.")
        var post = false
        @Option(help: "With --post: the posting date (default today).")
        var postedOn: String?
        @OptionGroup var origin: OriginOptions
        @OptionGroup var wait: WaitOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            guard let specs = try lines.specs() else {
                throw CtlFailure.usage("give at least one --line or --lines-file")
            }
            try awaitAccountCopy(account, timeoutSeconds: wait.waitTimeoutSeconds)
            try sendDocumentCommand(
                type: DocumentTypes.create, account: account,
                body: DocumentCreateCommand(
                    origin: origin.origin(defaultNote: "invoice created"), kind: "invoice", account: account,
                    reference: reference, lines: specs, issuedOn: issuedOn, dueOn: dueOn,
                    backOfficeCode: backOfficeCode, notes: notes, rounding: rounding, post: post ? true : nil,
                    postedOn: postedOn),
                wait: wait, output: output)
        }
    }

    struct Update: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a draft: its lines (all replaced), due date, back-office code or notes.")

        @OptionGroup var draft: DraftTarget
        @OptionGroup var lines: LineOptions
        @Option(help: "Due date YYYY-MM-DD, or \"\" to have it computed.")
        var dueOn: String?
        @Option(help: "Back-office code, or \"\" to remove it.")
        var backOfficeCode: String?
        @Option(help: "Notes, or \"\" to remove them.")
        var notes: String?
        @OptionGroup var command: DocumentCommandOptions

        func run() throws {
            let account = try draft.owner()
            try command.send(
                DocumentTypes.update, account: account,
                DocumentUpdateCommand(
                    origin: command.origin.origin(defaultNote: "draft changed"), account: account,
                    document: draft.document, lines: try lines.specs(), dueOn: dueOn, backOfficeCode: backOfficeCode,
                    notes: notes))
        }
    }

    struct Post: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Post a draft: it takes its legal number and its posting and due dates.")

        @OptionGroup var draft: DraftTarget
        @Option(help: "Posting date YYYY-MM-DD (default today).")
        var postedOn: String?
        @OptionGroup var command: DocumentCommandOptions

        func run() throws {
            let account = try draft.owner()
            try command.send(
                DocumentTypes.post, account: account,
                DocumentPostCommand(
                    origin: command.origin.origin(defaultNote: "posted"), account: account, document: draft.document,
                    postedOn: postedOn))
        }
    }

    struct Reject: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Reject a draft with a reason category.")

        @OptionGroup var draft: DraftTarget
        @Option(help: "duplicate, wrong-account, wrong-amount, not-authorised or other.")
        var category: String
        @Option(help: "Why, in words.")
        var reason: String
        @OptionGroup var command: DocumentCommandOptions

        func run() throws {
            let account = try draft.owner()
            try command.send(
                DocumentTypes.reject, account: account,
                DocumentRejectCommand(
                    origin: command.origin.origin(defaultNote: reason), account: account, document: draft.document,
                    category: category, reason: reason))
        }
    }

    struct Cancel: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Cancel a posted invoice: an invoice cancellation for its whole total; the invoice stays for reference."
        )

        @Argument(help: "The invoice's number.")
        var invoice: String
        @Option(help: "Account number (default: looked up from the invoice).")
        var account: String?
        @Option(help: "Why it is cancelled.")
        var reason: String
        @Option(help: "Cancellation date YYYY-MM-DD (default today).")
        var cancelledOn: String?
        @OptionGroup var origin: OriginOptions
        @OptionGroup var wait: WaitOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let account = try documentAccount(invoice, given: account)
            try sendDocumentCommand(
                type: DocumentTypes.cancel, account: account,
                body: InvoiceCancelCommand(
                    origin: origin.origin(defaultNote: reason), account: account, invoice: invoice, reason: reason,
                    cancelledOn: cancelledOn),
                wait: wait, output: output)
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "An invoice as a person reads it: dates, lines with discounts and tax, totals, what is open.")

        @Argument(help: "Number, reference or id.")
        var document: String
        @OptionGroup var output: OutputOptions

        func run() throws { try showDocument(document, output: output) }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Documents, newest first.")

        @Option(help: "Only this account's.")
        var account: String?
        @Option(help: "Only documents in this state: draft, posted, rejected.")
        var state: String?
        @Option(help: "Only this kind: invoice, credit-note, invoice-cancellation.")
        var kind: String?
        @Option(help: "At most this many (default 50).")
        var limit: Int = 50
        @OptionGroup var output: OutputOptions

        struct Row: Encodable {
            let id: String
            let kind: String
            let name: String
            let account: String
            let state: String
            let issuedOn: String
            let dueOn: String?
            let currency: String
            let totalMinor: Int64
        }

        func run() throws {
            guard (1...10_000).contains(limit) else { throw CtlFailure.usage("--limit must be 1 to 10000") }
            let connection = try connectDatabase()
            defer { connection.close() }
            let rows = try connection.query(
                """
                SELECT d.document_id, d.kind, coalesce(d.number, d.reference), a.number, d.state, d.issued_on::text,
                    d.due_on::text, d.currency, d.total_minor
                FROM documents.documents AS d JOIN documents.accounts AS a USING (account_id)
                WHERE ($1::text IS NULL OR a.number = $1) AND ($2::text IS NULL OR d.state = $2)
                  AND ($3::text IS NULL OR d.kind = $3)
                ORDER BY d.created_at DESC, d.document_id LIMIT $4
                """, [account, state, kind, limit])
            let list = try rows.rows.map { row in
                Row(
                    id: try row.string(0), kind: try row.string(1), name: try row.string(2), account: try row.string(3),
                    state: try row.string(4), issuedOn: try row.string(5), dueOn: row.optionalString(6),
                    currency: try row.string(7), totalMinor: try row.int64(8))
            }
            if output.json {
                try printContractJSON(list)
                return
            }
            printTable(
                ["document", "kind", "account", "state", "issued", "due", "total"],
                try list.map {
                    [
                        $0.name, $0.kind, $0.account, $0.state, $0.issuedOn, $0.dueOn ?? "",
                        "\(try MoneyText.format($0.totalMinor, $0.currency)) \($0.currency)",
                    ]
                })
        }
    }
}

struct CreditNoteCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "credit-note", abstract: "Credit notes: create (and post), show.",
        subcommands: [Create.self, Show.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Create and post a credit note for an invoice (at most what is left of it after earlier credit notes) or standalone."
        )

        @Option(help: "The invoice credited (its number); the account is the invoice's.")
        var invoice: String?
        @Option(help: "Account number (for a standalone credit note, or to skip the lookup).")
        var account: String?
        @OptionGroup var lines: LineOptions
        @Option(help: "The draft's reference (default: given by the invoicer).")
        var reference: String?
        @Option(help: "Notes printed on the credit note.")
        var notes: String?
        @Flag(help: "Keep it as a draft (post it later with `invoice post`).")
        var draft = false
        @OptionGroup var origin: OriginOptions
        @OptionGroup var wait: WaitOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            guard let specs = try lines.specs() else {
                throw CtlFailure.usage("give at least one --line or --lines-file")
            }
            guard invoice != nil || account != nil else { throw CtlFailure.usage("give --invoice or --account") }
            let owner = try invoice.map { try documentAccount($0, given: account) } ?? account!
            try awaitAccountCopy(owner, timeoutSeconds: wait.waitTimeoutSeconds)
            try sendDocumentCommand(
                type: DocumentTypes.create, account: owner,
                body: DocumentCreateCommand(
                    origin: origin.origin(defaultNote: "credit note"), kind: "credit-note", account: owner,
                    reference: reference, lines: specs, notes: notes, invoice: invoice, post: draft ? nil : true),
                wait: wait, output: output)
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A credit note as a person reads it.")

        @Argument(help: "Number, reference or id.")
        var document: String
        @OptionGroup var output: OutputOptions

        func run() throws { try showDocument(document, output: output) }
    }
}

func showDocument(_ name: String, output: OutputOptions) throws {
    let connection = try connectDatabase()
    defer { connection.close() }
    let view = try DocumentView.load(connection, name)
    if output.json { try printContractJSON(view) } else { view.printForPeople() }
}
