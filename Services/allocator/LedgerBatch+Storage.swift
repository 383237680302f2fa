import AllocatorCore
import BillingContracts
import BillingDomain
import BillingPostgres
import BillingRuntime
import FoundationEssentials

extension LedgerBatch {
    // MARK: Reading

    /// What the batch asks before it locks anything: which commands were carried out before, where
    /// account-less reversals' payments are, and which reversals wait for the batch's payments.
    struct Questions {
        enum Kind { case outcomes, paymentAccounts, parked }
        var statements: [PGStatement] = []
        var kinds: [Kind] = []
    }

    /// The batch's reads and locks, and what tells their results apart.
    struct Reads {
        var questions: Questions
        var load: LoadPlan
    }

    struct LoadPlan {
        var statements: [PGStatement]
        var targetQueries: Bool
        var refunds: Bool
    }

    /// The reads as one opening for the batch's first round trip, unless the batch opens accounts
    /// (they must exist before the lock) or reverses payments without naming their account (the
    /// account to lock comes from a lookup): such batches read in round trips of their own.
    static func opening(_ inputs: [LedgerInput]) -> BatchOpening? {
        for input in inputs {
            switch input {
            case .command(let command) where command.kind == .accountOpen: return nil
            case .reversal(let reversal) where reversal.account == nil: return nil
            default: continue
            }
        }
        let reads = Reads(
            questions: questions(inputs), load: loadPlan(inputs, opened: [], paymentAccounts: [:]))
        return BatchOpening(statements: reads.questions.statements + reads.load.statements, plan: reads)
    }

    /// Reads what the batch needs: from the first round trip's results when it carried them,
    /// otherwise in two round trips (questions, then opening accounts, then locks and items).
    func read(_ inputs: [LedgerInput], opened: OpenedBatch?) throws {
        if let opened, let reads = opened.plan as? Reads {
            let answers = reads.questions.statements.count
            try readAnswers(reads.questions.kinds, opened.results[..<answers])
            try readLoad(reads.load, opened.results[answers...])
            return
        }
        let questions = Self.questions(inputs)
        try readAnswers(questions.kinds, connection.pipeline(questions.statements)[...])
        try openAccounts(inputs)
        let plan = Self.loadPlan(inputs, opened: openedNumbers, paymentAccounts: ledger.paymentAccounts)
        try readLoad(plan, connection.pipeline(plan.statements)[...])
    }

    /// Only the questions this batch has (an empty array still costs its statement a scan).
    static func questions(_ inputs: [LedgerInput]) -> Questions {
        var commandIDs: [String] = []
        var lookups: [String] = []
        var paymentIDs: [String] = []
        var reversalIDs: [String] = []
        for input in inputs {
            switch input {
            case .command(let command): commandIDs.append(command.id)
            case .reversal(let reversal):
                reversalIDs.append(reversal.reversalId)
                if reversal.account == nil { lookups.append(reversal.paymentId) }
            case .payment(let payment): paymentIDs.append(payment.paymentId)
            default: break
            }
        }
        var questions = Questions()
        if !commandIDs.isEmpty {
            questions.statements.append(CommandOutcomes.lookup(table: "ledger.command_outcomes", commandIDs))
            questions.kinds.append(.outcomes)
        }
        if !lookups.isEmpty {
            questions.statements.append(
                PGStatement(
                    """
                    SELECT j.document_id, a.number FROM ledger.journal_entries AS j JOIN ledger.accounts AS a USING (account_id)
                    WHERE j.document_kind = 'payment' AND j.document_id = ANY($1::text[])
                    """, [PGArray.strings(lookups)]))
            questions.kinds.append(.paymentAccounts)
        }
        if !(paymentIDs.isEmpty && reversalIDs.isEmpty) {
            questions.statements.append(
                PGStatement(
                    """
                    SELECT reversal_id, payment_id, event::text FROM ledger.parked_reversals
                    WHERE resolved_at IS NULL AND (payment_id = ANY($1::text[]) OR reversal_id = ANY($2::text[]))
                    ORDER BY parked_at, reversal_id
                    """, [PGArray.strings(paymentIDs), PGArray.strings(reversalIDs)], prepared: true))
            questions.kinds.append(.parked)
        }
        return questions
    }

    private func readAnswers(_ kinds: [Questions.Kind], _ results: ArraySlice<PGRows>) throws {
        for (kind, rows) in zip(kinds, results) {
            switch kind {
            case .outcomes:
                ledger.finishedCommands = Set(rows.values.compactMap { $0[0] })
            case .paymentAccounts:
                for row in rows.rows { ledger.paymentAccounts[try row.string(0)] = try row.string(1) }
            case .parked:
                let decoder = ContractJSON.decoder()
                for row in rows.rows {
                    ledger.parkedIDs.insert(try row.string(0))
                    let reversal = try decoder.decode(PaymentReversed.self, from: Data(try row.string(2).utf8))
                    ledger.parkedByPayment[try row.string(1), default: []].append(
                        try LedgerInputDecoder.booked(reversal))
                }
            }
        }
    }

    /// Inserts the accounts of fresh `account open` commands; refusals are kept for their outcomes.
    private func openAccounts(_ inputs: [LedgerInput]) throws {
        var opening: [(command: LedgerCommand, account: Account)] = []
        var numbers: Set<String> = []
        for case .command(let command) in inputs where command.kind == .accountOpen {
            guard !ledger.finishedCommands.contains(command.id), case .settings(let settings) = command.body else {
                continue
            }
            do {
                let account = try AccountSettings.opening(settings)
                guard numbers.insert(account.number).inserted else {
                    ledger.openRefusals[command.id] = Refusal(
                        code: "account_exists", reason: "account \(account.number) is already being opened")
                    continue
                }
                opening.append((command, account))
            } catch {
                ledger.openRefusals[command.id] = error
            }
        }
        guard !opening.isEmpty else { return }
        let accounts = opening.map(\.account)
        let inserted = try connection.query(
            """
            INSERT INTO ledger.accounts (number, name, currency, credit_limit_minor, credit_rule, allocation_principle,
                presentment, email, phone, owning_group)
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[],
                $8::text[], $9::text[], $10::text[])
            ON CONFLICT (number) DO NOTHING
            RETURNING number
            """,
            [
                PGArray.strings(accounts.map(\.number)), PGArray.strings(accounts.map(\.name)),
                PGArray.strings(accounts.map(\.currency.code)),
                PGArray.strings(accounts.map { $0.creditLimit.map { String($0.minor) } }),
                PGArray.strings(accounts.map(\.creditRule.specification)),
                PGArray.strings(accounts.map(\.allocationPrinciple.rawValue)),
                PGArray.strings(accounts.map(\.presentment.rawValue)), PGArray.strings(accounts.map(\.email)),
                PGArray.strings(accounts.map(\.phone)), PGArray.strings(accounts.map(\.owningGroup)),
            ])
        let created = Set(inserted.values.compactMap { $0[0] })
        for (command, account) in opening where !created.contains(account.number) {
            ledger.openRefusals[command.id] = Refusal(
                code: "account_exists", reason: "account \(account.number) already exists")
        }
        openedNumbers = created
    }

    /// The main read: locks every account the batch names (in account-id order, so replicas never
    /// deadlock), and reads what allocation needs: open debits always; free credits only where the
    /// batch posts a debit or undoes something (elsewhere a new credit has nothing to meet them);
    /// items about to be closed with their allocations in force and the other sides of those.
    static func loadPlan(_ inputs: [LedgerInput], opened: Set<String>, paymentAccounts: [String: String]) -> LoadPlan {
        let keys = LoadKeys(inputs, opened: opened, paymentAccounts: paymentAccounts)
        var statements = [accountLock(keys), postedDocuments(keys), openItemsStatement(keys)]
        if !keys.targets.isEmpty { statements += targetStatements(keys.targets) }
        if !keys.refundIDs.isEmpty { statements.append(refundLock(keys.refundIDs)) }
        return LoadPlan(statements: statements, targetQueries: !keys.targets.isEmpty, refunds: !keys.refundIDs.isEmpty)
    }

    /// What the batch's inputs name: the accounts to lock, the documents that may be posted
    /// already, the accounts whose free credits matter, the items named as targets (account,
    /// document) and the refunds to lock.
    struct LoadKeys {
        var numbers: Set<String>
        var needCredits: Set<String> = []
        var documentKeys: [(String, String)] = []
        var targets: [(String, String)] = []
        var refundIDs: [String] = []

        init(_ inputs: [LedgerInput], opened: Set<String>, paymentAccounts: [String: String]) {
            numbers = opened
            for input in inputs { add(input, paymentAccounts: paymentAccounts) }
        }

        private mutating func add(_ input: LedgerInput, paymentAccounts: [String: String]) {
            numbers.formUnion(input.accountNumbers)
            switch input {
            case .payment(let payment):
                documentKeys.append(("payment", payment.paymentId))
                documentKeys.append(("unidentified-payment", payment.paymentId))
            case .unidentified(let payment):
                documentKeys.append(("unidentified-payment", payment.paymentId))
            case .bankFee(let fee):
                documentKeys.append(("bank-fee", fee.feeId))
            case .reversal(let reversal):
                documentKeys.append(("payment-reversal", reversal.reversalId))
                documentKeys.append(("unidentified-payment", reversal.paymentId))
                if let number = reversal.account ?? paymentAccounts[reversal.paymentId] {
                    numbers.insert(number)
                    needCredits.insert(number)
                    targets.append((number, reversal.paymentId))
                }
            case .document(let document):
                documentKeys.append((document.fields.kind.rawValue, document.documentId))
                if document.fields.kind != .creditNote { needCredits.insert(document.account) }
                if let related = document.relatedDocumentId, document.fields.kind == .invoiceCancellation {
                    targets.append((document.account, related))
                }
            case .command(let command):
                switch command.kind {
                case .refund, .transfer, .accountTerminate:
                    if let account = command.account { needCredits.insert(account) }
                case .writeOff:
                    if case .money(let money) = command.body, let invoice = money.against?.first {
                        targets.append((money.account, invoice))
                    }
                case .refundsExported, .refundPaid:
                    if case .payout(let payout) = command.body { refundIDs += payout.refundIds }
                default: break
                }
            }
        }
    }

    private static func accountLock(_ keys: LoadKeys) -> PGStatement {
        PGStatement(
            """
            SELECT account_id, number, name, currency, state, credit_limit_minor, credit_rule,
                   allocation_principle, presentment, email, phone, owning_group, balance_minor, item_sequence
            FROM ledger.accounts WHERE number = ANY($1::text[]) ORDER BY account_id FOR UPDATE
            """, [PGArray.strings(keys.numbers.sorted())], prepared: true)
    }

    private static func postedDocuments(_ keys: LoadKeys) -> PGStatement {
        PGStatement(
            """
            SELECT document_kind, document_id FROM ledger.journal_entries
            WHERE (document_kind, document_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
            """, [PGArray.strings(keys.documentKeys.map(\.0)), PGArray.strings(keys.documentKeys.map(\.1))],
            prepared: true)
    }

    private static func openItemsStatement(_ keys: LoadKeys) -> PGStatement {
        // Two branches, each on its side's open-items index. Free credits only where the batch
        // posts a debit or undoes an allocation: every posting allocates, so an account at rest
        // never holds free credit beside an open debit, and a new credit alone has nothing to
        // meet them. That includes a parked reversal posted after its payment in this batch: it
        // releases only what that payment paid, and the payment itself is in the book.
        PGStatement(
            """
            SELECT a.number AS account_number, \(Self.itemColumns)
            FROM ledger.accounts AS a CROSS JOIN LATERAL (\(Self.openItems("debit"))) AS i
            WHERE a.number = ANY($1::text[])
            UNION ALL
            SELECT a.number AS account_number, \(Self.itemColumns)
            FROM ledger.accounts AS a CROSS JOIN LATERAL (\(Self.openItems("credit"))) AS i
            WHERE a.number = ANY($2::text[])
            """, [PGArray.strings(keys.numbers.sorted()), PGArray.strings(keys.needCredits.sorted())],
            prepared: true)
    }

    /// Items named as targets, their allocations in force and the items on those allocations' other side.
    private static func targetStatements(_ targets: [(String, String)]) -> [PGStatement] {
        let parameters: [any PGParameterConvertible] = [
            PGArray.strings(targets.map(\.0)), PGArray.strings(targets.map(\.1)),
        ]
        return [
            PGStatement(
                sql: "\(Self.targetAllocations) SELECT DISTINCT * FROM found",
                parameters: parameters.map(\.pgParameter)),
            PGStatement(
                sql: """
                    \(Self.targetAllocations)
                    SELECT a.number AS account_number, \(Self.itemColumns)
                    FROM ledger.items AS i JOIN ledger.accounts AS a USING (account_id)
                    WHERE (i.account_id, i.document_id) IN (
                        SELECT account_id, document_id FROM targets
                        UNION SELECT account_id, credit_document_id FROM found
                        UNION SELECT account_id, debit_document_id FROM found)
                    """, parameters: parameters.map(\.pgParameter)),
        ]
    }

    private static func refundLock(_ refundIDs: [String]) -> PGStatement {
        PGStatement(
            """
            SELECT r.refund_id, r.account_id, a.number, r.currency, r.amount_minor, r.state, r.export_batch,
                   r.requested_by, r.note, r.payee_reference
            FROM ledger.refunds AS r JOIN ledger.accounts AS a USING (account_id)
            WHERE r.refund_id = ANY($1::text[]) ORDER BY r.refund_id FOR UPDATE OF r
            """, [PGArray.strings(refundIDs)])
    }

    /// Takes in the locked accounts, what is posted already, every account's allocation book and
    /// the locked refunds, in the order `loadPlan` asked for them.
    private func readLoad(_ plan: LoadPlan, _ slice: ArraySlice<PGRows>) throws {
        let results = Array(slice)
        try readAccounts(results[0])
        for row in results[1].rows {
            // Only kinds this batch asked about come back.
            guard let kind = EntryKind(rawValue: try row.string(0)) else { continue }
            ledger.markPosted(kind, try row.string(1))
        }
        var itemRows = results[2].rows
        var allocations: [String: [Int64: Allocation]] = [:]
        if plan.targetQueries {
            allocations = try readAllocations(results[3])
            itemRows += results[4].rows
        }
        try readBooks(itemRows, allocations: allocations)
        if plan.refunds { try readRefunds(results[results.count - 1]) }
    }

    private func readAccounts(_ rows: PGRows) throws {
        for row in rows.rows {
            let account = LockedAccount(
                id: try row.int64("account_id"), number: try row.string("number"), name: try row.string("name"),
                currency: try Currency(code: try row.string("currency")),
                state: AccountState(rawValue: try row.string("state")) ?? .active,
                creditLimitMinor: try row.optionalInt64("credit_limit_minor"),
                creditRule: try row.string("credit_rule"),
                principle: AllocationPrinciple(rawValue: try row.string("allocation_principle")) ?? .fifo,
                presentment: PresentmentChannel(rawValue: try row.string("presentment")) ?? .print,
                email: try row.optionalString("email"),
                phone: try row.optionalString("phone"), owningGroup: try row.optionalString("owning_group"),
                balance: try row.int64("balance_minor"), itemSequence: try row.int64("item_sequence"))
            account.opened = openedNumbers.contains(account.number)
            ledger.add(account)
            accountsByID[account.id] = account
        }
    }

    /// Allocations in force on the targeted items, per account number and by allocation id.
    private func readAllocations(_ rows: PGRows) throws -> [String: [Int64: Allocation]] {
        var allocations: [String: [Int64: Allocation]] = [:]
        for row in rows.rows {
            guard let account = accountsByID[try row.int64("account_id")] else { continue }
            allocations[account.number, default: [:]][try row.int64("allocation_id")] = Allocation(
                creditID: try row.string("credit_document_id"), debitID: try row.string("debit_document_id"),
                amount: Money(minor: try row.int64("amount_minor"), currency: account.currency),
                reason: try Allocation.Reason(code: try row.string("reason")))
        }
        return allocations
    }

    /// Every locked account's allocation book from its loaded items and allocations; each item's
    /// stored state is kept so `persist` writes only what changed.
    private func readBooks(_ itemRows: [PGRow], allocations: [String: [Int64: Allocation]]) throws {
        let decoder = ContractJSON.decoder()
        var loadedItems: [String: [String: (LedgerItem, Int64)]] = [:]
        for row in itemRows {
            let number = try row.string("account_number")
            guard let account = ledger.accounts[number] else { continue }
            let id = try row.string("document_id")
            guard let kind = DocumentKind(rawValue: try row.string("document_kind")) else { continue }
            // Most items name nothing: only those that do cost a JSON decode.
            let namedItems = try row.optionalString("named_items_json").map {
                try decoder.decode([String].self, from: Data($0.utf8))
            }
            let item = try LedgerItem(
                id: id, side: kind.side,
                amount: Money(minor: try row.int64("amount_minor"), currency: account.currency),
                postedOn: try LocalDate.parse(try row.string("posted_on")), sequence: try row.int64("sequence"),
                dueOn: try row.optionalString("due_on").map { text throws(DomainError) in try LocalDate.parse(text) },
                number: try row.optionalString("number"), reference: try row.optionalString("reference"),
                namedItems: namedItems ?? [],
                closes: try row.optionalString("closes"),
                releasesClosedItem: kind == .invoiceCancellation || kind == .paymentReversal)
            let remaining = try row.int64("open_minor")
            loadedItems[number, default: [:]][id] = (item, remaining)
            account.kinds[id] = kind
            let closedBy = try row.optionalString("closed_by")
            account.stored[id] = LockedAccount.StoredItem(remaining: remaining, closedBy: closedBy)
            if let closedBy { account.closedBy[id] = closedBy }
        }
        for account in ledger.accounts.values {
            let items = (loadedItems[account.number] ?? [:]).values.map { (item: $0.0, remaining: $0.1) }
            account.book = try AllocationBook(
                currency: account.currency, principle: account.principle, items: items,
                allocations: (allocations[account.number] ?? [:]).sorted { $0.key < $1.key }.map(\.value))
        }
    }

    private func readRefunds(_ rows: PGRows) throws {
        for row in rows.rows {
            guard let state = RefundState(rawValue: try row.string(5)) else {
                throw DomainError.invalidDocument("refund \(try row.string(0)) is in an unknown state")
            }
            let refund = LedgerDecisions.RefundRow(
                id: try row.string(0), accountID: try row.int64(1), accountNumber: try row.string(2),
                currency: try Currency(code: try row.string(3)), amountMinor: try row.int64(4),
                state: state, exportBatch: try row.optionalString("export_batch"),
                requestedBy: try row.string(7), note: try row.optionalString("note"),
                payeeReference: try row.optionalString("payee_reference"))
            ledger.refunds[refund.id] = refund
        }
    }

    static let itemColumns = """
        i.account_id, i.document_id, i.document_kind, i.amount_minor, i.posted_on::text AS posted_on,
        i.due_on::text AS due_on, i.sequence, i.number, i.reference,
        CASE WHEN cardinality(i.named_items) > 0 THEN array_to_json(i.named_items)::text END AS named_items_json,
        i.closes, i.open_minor, i.closed_by
        """

    /// One account's open items on `side` (a literal, never input), looked up per account through
    /// that side's partial index. `OFFSET 0` keeps the planner from flattening the lookup into a
    /// join it may drive from the index instead: statistics taken while the index was empty (a
    /// new ledger, vacuumed before its first invoices) make a scan of the whole index look like one
    /// row. In a money-bench run that plan read 121,000 buffers a batch (71 ms on average).
    static func openItems(_ side: String) -> String {
        "SELECT * FROM ledger.items WHERE account_id = a.account_id AND is_open AND side = '\(side)' OFFSET 0"
    }

    /// Items named as targets (by document id, number or reference) and their allocations in force,
    /// looked up per target for the reason `openItems` gives.
    static let targetAllocations = """
        WITH targets AS (
            SELECT i.account_id, i.document_id
            FROM unnest($1::text[], $2::text[]) AS v(number, name)
            JOIN ledger.accounts AS a ON a.number = v.number
            JOIN ledger.items AS i ON i.account_id = a.account_id
                AND (i.document_id = v.name OR i.number = v.name OR i.reference = v.name)
        ), found AS (
            SELECT al.* FROM targets AS t CROSS JOIN LATERAL (
                SELECT allocation_id, account_id, credit_document_id, debit_document_id, amount_minor, reason
                FROM ledger.allocations
                WHERE account_id = t.account_id AND credit_document_id = t.document_id AND released_at IS NULL
                UNION ALL
                SELECT allocation_id, account_id, credit_document_id, debit_document_id, amount_minor, reason
                FROM ledger.allocations
                WHERE account_id = t.account_id AND debit_document_id = t.document_id AND released_at IS NULL
                OFFSET 0) AS al
        )
        """

    // MARK: Writing

    /// Everything the batch decided, netted per account, as statements that travel with COMMIT.
    func persist() throws {
        var statements: [PGStatement] = []
        if !ledger.journal.isEmpty { statements.append(journalStatement()) }
        statements += ItemWrites(ledger.accounts.values).statements()
        statements += accountStatements()
        if !ledger.changedRefunds.isEmpty { statements.append(refundStatement()) }
        statements += parkedStatements()
        if !ledger.outcomes.isEmpty {
            statements.append(
                CommandOutcomes.insert(table: "ledger.command_outcomes", ledger.outcomes, context: context))
        }
        for statement in statements { context.deferStatement(statement) }
    }

    /// What changed in the accounts' allocation books, gathered across accounts in account-id
    /// order so each kind of change is one statement.
    struct ItemWrites {
        var releaseAccounts: [Int64] = []
        var releaseTargets: [String] = []
        var newItems: [(LockedAccount, LedgerItem)] = []
        var changedItems: [(LockedAccount, String)] = []
        var newAllocations: [(LockedAccount, Allocation, Bool)] = []

        init(_ accounts: some Collection<LockedAccount>) {
            for account in accounts.sorted(by: { $0.id < $1.id }) {
                for target in account.releaseTargets {
                    releaseAccounts.append(account.id)
                    releaseTargets.append(target)
                }
                for id in account.newItems { newItems.append((account, account.book.items[id]!)) }
                for (id, stored) in account.stored
                where stored.remaining != account.book.remaining[id] || stored.closedBy != account.closedBy[id] {
                    changedItems.append((account, id))
                }
                for (allocation, released) in account.newAllocations {
                    newAllocations.append((account, allocation, released))
                }
            }
        }

        func statements() -> [PGStatement] {
            var statements: [PGStatement] = []
            if !releaseTargets.isEmpty { statements.append(releaseStatement()) }
            if !newItems.isEmpty { statements.append(newItemStatement()) }
            if !changedItems.isEmpty { statements.append(changedItemStatement()) }
            if !newAllocations.isEmpty { statements.append(allocationStatement()) }
            return statements
        }

        /// Allocations in force against items this batch undid are released.
        private func releaseStatement() -> PGStatement {
            PGStatement(
                """
                UPDATE ledger.allocations AS al SET released_at = now()
                FROM unnest($1::bigint[], $2::text[]) AS v(account_id, target)
                WHERE al.account_id = v.account_id AND al.released_at IS NULL
                  AND (al.credit_document_id = v.target OR al.debit_document_id = v.target)
                """, [PGArray.integers(releaseAccounts), PGArray.strings(releaseTargets)])
        }

        private func newItemStatement() -> PGStatement {
            PGStatement(
                """
                INSERT INTO ledger.items (account_id, document_id, document_kind, side, currency, amount_minor,
                    posted_on, due_on, sequence, number, reference, named_items, closes, open_minor, closed_by)
                SELECT v.account_id, v.document_id, v.kind, v.side, v.currency, v.amount, v.posted_on, v.due_on,
                       v.sequence, v.number, v.reference,
                       CASE WHEN v.named IS NULL THEN '{}'::text[]
                            ELSE ARRAY(SELECT json_array_elements_text(v.named::json)) END,
                       v.closes, v.open, v.closed_by
                FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::date[],
                    $8::date[], $9::bigint[], $10::text[], $11::text[], $12::text[], $13::text[], $14::bigint[],
                    $15::text[])
                    AS v(account_id, document_id, kind, side, currency, amount, posted_on, due_on, sequence, number,
                         reference, named, closes, open, closed_by)
                """,
                [
                    PGArray.integers(newItems.map(\.0.id)), PGArray.strings(newItems.map(\.1.id)),
                    PGArray.strings(newItems.map { $0.0.kinds[$0.1.id]!.rawValue }),
                    PGArray.strings(newItems.map(\.1.side.rawValue)),
                    PGArray.strings(newItems.map(\.0.currency.code)),
                    PGArray.integers(newItems.map(\.1.amount.minor)),
                    PGArray.strings(newItems.map(\.1.postedOn.description)),
                    PGArray.strings(newItems.map { $0.1.dueOn?.description }),
                    PGArray.integers(newItems.map(\.1.sequence)), PGArray.strings(newItems.map(\.1.number)),
                    PGArray.strings(newItems.map(\.1.reference)),
                    PGArray.strings(
                        newItems.map { $0.1.namedItems.isEmpty ? nil : ContractJSON.text($0.1.namedItems) }),
                    PGArray.strings(newItems.map(\.1.closes)),
                    PGArray.integers(newItems.map { $0.0.book.remaining[$0.1.id]! }),
                    PGArray.strings(newItems.map { $0.0.closedBy[$0.1.id] }),
                ], prepared: true)
        }

        /// Open amounts and closing documents of items already stored.
        private func changedItemStatement() -> PGStatement {
            PGStatement(
                """
                UPDATE ledger.items AS i SET open_minor = v.open, closed_by = v.closed_by
                FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[])
                    AS v(account_id, document_id, open, closed_by)
                WHERE i.account_id = v.account_id AND i.document_id = v.document_id
                """,
                [
                    PGArray.integers(changedItems.map(\.0.id)), PGArray.strings(changedItems.map(\.1)),
                    PGArray.integers(changedItems.map { $0.0.book.remaining[$0.1]! }),
                    PGArray.strings(changedItems.map { $0.0.closedBy[$0.1] }),
                ], prepared: true)
        }

        private func allocationStatement() -> PGStatement {
            PGStatement(
                """
                INSERT INTO ledger.allocations (account_id, credit_document_id, debit_document_id, currency,
                    amount_minor, reason, released_at)
                SELECT v.account_id, v.credit, v.debit, v.currency, v.amount, v.reason,
                       CASE WHEN v.released THEN now() END
                FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::bool[])
                    AS v(account_id, credit, debit, currency, amount, reason, released)
                """,
                [
                    PGArray.integers(newAllocations.map(\.0.id)),
                    PGArray.strings(newAllocations.map(\.1.creditID)),
                    PGArray.strings(newAllocations.map(\.1.debitID)),
                    PGArray.strings(newAllocations.map(\.0.currency.code)),
                    PGArray.integers(newAllocations.map(\.1.amount.minor)),
                    PGArray.strings(newAllocations.map(\.1.reason.code)),
                    PGArray.strings(newAllocations.map { $0.2 ? "true" : "false" }),
                ], prepared: true)
        }
    }

    /// Accounts whose settings, state or opening changed get the full update; most accounts in a
    /// batch only moved money, and their update carries just the balance.
    private func accountStatements() -> [PGStatement] {
        let changedAccounts = ledger.accounts.values.filter(\.isChanged).sorted { $0.id < $1.id }
        let resettled = changedAccounts.filter { $0.settingsChanged || $0.stateChanged || $0.opened }
        let moved = changedAccounts.filter { !($0.settingsChanged || $0.stateChanged || $0.opened) }
        var statements: [PGStatement] = []
        if !resettled.isEmpty { statements.append(accountStatement(resettled)) }
        if !moved.isEmpty {
            statements.append(
                PGStatement(
                    """
                    UPDATE ledger.accounts AS a SET balance_minor = v.balance, item_sequence = v.item_sequence,
                        updated_at = now()
                    FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS v(account_id, balance, item_sequence)
                    WHERE a.account_id = v.account_id
                    """,
                    [
                        PGArray.integers(moved.map(\.id)), PGArray.integers(moved.map(\.balance)),
                        PGArray.integers(moved.map(\.itemSequence)),
                    ], prepared: true))
        }
        return statements
    }

    /// Reversals parked until their payment arrives, and those this batch resolved.
    private func parkedStatements() -> [PGStatement] {
        var statements: [PGStatement] = []
        if !ledger.newParked.isEmpty {
            statements.append(
                PGStatement(
                    """
                    INSERT INTO ledger.parked_reversals (reversal_id, payment_id, account_number, currency,
                        amount_minor, event, reason)
                    SELECT v.id, v.payment, v.account, v.currency, v.amount, v.event::jsonb, v.reason
                    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[])
                        AS v(id, payment, account, currency, amount, event, reason)
                    ON CONFLICT (reversal_id) DO NOTHING
                    """,
                    [
                        PGArray.strings(ledger.newParked.map(\.reversal.reversalId)),
                        PGArray.strings(ledger.newParked.map(\.reversal.paymentId)),
                        PGArray.strings(ledger.newParked.map(\.reversal.account)),
                        PGArray.strings(ledger.newParked.map(\.reversal.currency)),
                        PGArray.integers(ledger.newParked.map(\.reversal.amountMinor)),
                        PGArray.strings(
                            ledger.newParked.map { ContractJSON.text($0.reversal.body) }),
                        PGArray.strings(ledger.newParked.map(\.reason)),
                    ]))
        }
        if !ledger.resolvedParked.isEmpty {
            statements.append(
                PGStatement(
                    "UPDATE ledger.parked_reversals SET resolved_at = now() WHERE reversal_id = ANY($1::text[])",
                    [PGArray.strings(ledger.resolvedParked)]))
        }
        return statements
    }

    /// Journal entries and their postings in one statement: the entries' ids come back from the
    /// INSERT and join their postings by document.
    private func journalStatement() -> PGStatement {
        var postingKinds: [String] = []
        var postingDocuments: [String] = []
        var postingAccounts: [String?] = []
        var ledgerAccounts: [String] = []
        var currencies: [String] = []
        var amounts: [Int64] = []
        for row in ledger.journal {
            for posting in row.entry.postings {
                postingKinds.append(row.kind.rawValue)
                postingDocuments.append(row.documentID)
                postingAccounts.append(posting.account.client.flatMap { ledger.accounts[$0] }.map { String($0.id) })
                ledgerAccounts.append(posting.account.code)
                currencies.append(posting.amount.currency.code)
                amounts.append(posting.amount.minor)
            }
        }
        return PGStatement(
            """
            WITH entries AS (
                INSERT INTO ledger.journal_entries (account_id, document_kind, document_id, requested_by, note, command_id,
                    posted_at)
                SELECT *, clock_timestamp()  -- this runs in COMMIT's round trip: the time it is posted
                FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
                RETURNING entry_id, document_kind, document_id
            )
            INSERT INTO ledger.postings (entry_id, account_id, ledger_account, currency, amount_minor)
            SELECT e.entry_id, p.account_id, p.ledger_account, p.currency, p.amount
            FROM unnest($7::text[], $8::text[], $9::bigint[], $10::text[], $11::text[], $12::bigint[])
                AS p(kind, document_id, account_id, ledger_account, currency, amount)
            JOIN entries AS e ON e.document_kind = p.kind AND e.document_id = p.document_id
            """,
            [
                PGArray.strings(ledger.journal.map { $0.accountID.map(String.init) }),
                PGArray.strings(ledger.journal.map(\.kind.rawValue)),
                PGArray.strings(ledger.journal.map(\.documentID)),
                PGArray.strings(ledger.journal.map(\.origin?.requestedBy)),
                PGArray.strings(ledger.journal.map(\.origin?.note)), PGArray.strings(ledger.journal.map(\.commandID)),
                PGArray.strings(postingKinds), PGArray.strings(postingDocuments), PGArray.strings(postingAccounts),
                PGArray.strings(ledgerAccounts), PGArray.strings(currencies), PGArray.integers(amounts),
            ], prepared: true)
    }

    private func accountStatement(_ changed: [LockedAccount]) -> PGStatement {
        PGStatement(
            """
            UPDATE ledger.accounts AS a SET balance_minor = v.balance, item_sequence = v.item_sequence, name = v.name,
                state = v.state, credit_limit_minor = v.credit_limit, credit_rule = v.credit_rule,
                allocation_principle = v.principle, presentment = v.presentment, email = v.email, phone = v.phone,
                owning_group = v.owning_group, updated_at = now(),
                terminated_at = CASE WHEN v.state = 'terminated' THEN coalesce(a.terminated_at, now()) END
            FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::bigint[], $7::text[],
                $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
                AS v(account_id, balance, item_sequence, name, state, credit_limit, credit_rule, principle, presentment,
                     email, phone, owning_group)
            WHERE a.account_id = v.account_id
            """,
            [
                PGArray.integers(changed.map(\.id)), PGArray.integers(changed.map(\.balance)),
                PGArray.integers(changed.map(\.itemSequence)), PGArray.strings(changed.map(\.name)),
                PGArray.strings(changed.map(\.state.rawValue)),
                PGArray.strings(changed.map { $0.creditLimitMinor.map(String.init) }),
                PGArray.strings(changed.map(\.creditRule)), PGArray.strings(changed.map(\.principle.rawValue)),
                PGArray.strings(changed.map(\.presentment.rawValue)), PGArray.strings(changed.map(\.email)),
                PGArray.strings(changed.map(\.phone)), PGArray.strings(changed.map(\.owningGroup)),
            ])
    }

    private func refundStatement() -> PGStatement {
        let all = ledger.changedRefunds.compactMap { ledger.refunds[$0] }
        return PGStatement(
            """
            INSERT INTO ledger.refunds AS r (refund_id, account_id, currency, amount_minor, state, payee_reference,
                requested_by, note, exported_at, export_batch, paid_at, paid_on, bank_reference)
            SELECT v.id, v.account_id, v.currency, v.amount, v.state, v.payee_reference, v.requested_by, v.note,
                   CASE WHEN v.state <> 'due' THEN now() END, v.export_batch,
                   CASE WHEN v.state = 'paid' THEN now() END, v.paid_on, v.bank_reference
            FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[],
                $8::text[], $9::text[], $10::date[], $11::text[])
                AS v(id, account_id, currency, amount, state, payee_reference, requested_by, note, export_batch,
                     paid_on, bank_reference)
            ON CONFLICT (refund_id) DO UPDATE SET state = excluded.state,
                exported_at = CASE WHEN excluded.state = 'exported' THEN now() ELSE r.exported_at END,
                export_batch = coalesce(excluded.export_batch, r.export_batch),
                paid_at = excluded.paid_at, paid_on = excluded.paid_on, bank_reference = excluded.bank_reference
            """,
            [
                PGArray.strings(all.map(\.id)), PGArray.integers(all.map(\.accountID)),
                PGArray.strings(all.map(\.currency.code)), PGArray.integers(all.map(\.amountMinor)),
                PGArray.strings(all.map(\.state.rawValue)), PGArray.strings(all.map(\.payeeReference)),
                PGArray.strings(all.map(\.requestedBy)), PGArray.strings(all.map(\.note)),
                PGArray.strings(all.map(\.exportBatch)), PGArray.strings(all.map(\.paidOn)),
                PGArray.strings(all.map(\.bankReference)),
            ])
    }
}
