import BillingContracts
import BillingDomain
import BillingPostgres
import BillingRuntime
import FoundationEssentials
import InvoicerCore

extension DocumentBatch {
    // MARK: Reading (one pipeline)

    func load(_ inputs: [DocumentInput]) throws {
        let keys = LoadKeys(inputs)
        guard !keys.commandIDs.isEmpty else { return }
        typealias Question = (PGStatement, (PGRows) throws -> Void)
        var questions: [Question] = [
            // The accounts' rows first, locked in order until COMMIT: every command names its account
            // and every document it touches must be of that account, so two loops or replicas (fed
            // by any partitioner) never work on one account's documents at once. What follows is
            // read once the locks are held, so it sees what the other committed.
            (
                PGStatement(
                    """
                    SELECT account_id, number, name, currency, state, credit_rule FROM documents.accounts
                    WHERE number = ANY($1::text[]) ORDER BY number FOR UPDATE
                    """, [PGArray.strings(keys.accountNumbers.sorted())]),
                { rows in try self.readAccounts(rows) }
            ),
            (
                CommandOutcomes.lookup(table: "documents.command_outcomes", keys.commandIDs),
                { rows in self.decisions.finishedCommands = Set(rows.values.compactMap { $0[0] }) }
            ),
        ]
        if !keys.named.isEmpty {
            questions.append((documentsQuestion(keys.named.sorted()), { rows in try self.readDocuments(rows) }))
            questions.append((draftLinesQuestion(keys.named.sorted()), { rows in try self.readDraftLines(rows) }))
        }
        if !keys.references.isEmpty || !keys.codes.isEmpty {
            questions.append((takenQuestion(keys), { rows in try self.readTaken(rows) }))
        }
        if keys.freshNeeded > 0 {
            questions.append(
                (
                    PGStatement(
                        "SELECT nextval('documents.draft_reference_seq') FROM generate_series(1, $1::integer)",
                        [keys.freshNeeded]),
                    { rows in try self.readFreshReferences(rows) }
                ))
        }
        let results = try context.connection.pipeline(questions.map(\.0))
        for (question, rows) in zip(questions, results) { try question.1(rows) }
    }

    /// What the batch's commands name: their ids and accounts, the documents they touch, the
    /// draft references and back-office codes they claim, and how many fresh references they need.
    struct LoadKeys {
        var commandIDs: [String] = []
        var accountNumbers: Set<String> = []
        var named: Set<String> = []
        var references: Set<String> = []
        var codes: Set<String> = []
        var freshNeeded = 0

        init(_ inputs: [DocumentInput]) {
            for input in inputs {
                guard case .command(let command) = input else { continue }
                commandIDs.append(command.id)
                accountNumbers.insert(command.account)
                named.formUnion(command.namedDocuments)
                switch command.body {
                case .create(let body):
                    if let reference = body.reference { references.insert(reference) } else { freshNeeded += 1 }
                    if let code = body.backOfficeCode { codes.insert(code) }
                case .update(let body):
                    if let code = body.backOfficeCode, !code.isEmpty { codes.insert(code) }
                case .cancel:
                    freshNeeded += 1
                case .post, .reject:
                    break
                }
            }
        }
    }

    /// Draft references and back-office codes already taken, with the document holding each code.
    private func takenQuestion(_ keys: LoadKeys) -> PGStatement {
        PGStatement(
            """
            SELECT 'reference', reference, document_id FROM documents.documents WHERE reference = ANY($1::text[])
            UNION ALL
            SELECT 'code', back_office_code, document_id FROM documents.documents
            WHERE back_office_code = ANY($2::text[])
            """, [PGArray.strings(keys.references.sorted()), PGArray.strings(keys.codes.sorted())])
    }

    private func readTaken(_ rows: PGRows) throws {
        for row in rows.rows {
            if try row.string(0) == "reference" {
                decisions.takenReferences.insert(try row.string(1))
            } else {
                decisions.takenCodes[try row.string(1)] = try row.string(2)
            }
        }
    }

    private func readFreshReferences(_ rows: PGRows) throws {
        decisions.freshReferences = try rows.rows.map { row in
            let digits = String(try row.int64(0))
            return "\(numbering.draftReferencePrefix)-" + String(repeating: "0", count: max(0, 6 - digits.count)) + digits
        }
    }

    /// The named documents (by id, reference or number), the invoices that named credit-note
    /// drafts credit, what posted credit notes have credited each, and any cancellation.
    private func documentsQuestion(_ names: [String]) -> PGStatement {
        PGStatement(
            """
            SELECT d.document_id, d.kind, d.state, d.account_id, a.number AS account_number, d.reference, d.number,
                d.back_office_code, d.currency, d.rounding, d.issued_on::text, d.posted_on::text, d.due_on::text,
                d.notes, d.related_document_id, d.net_minor, d.discount_minor, d.tax_minor, d.total_minor,
                (SELECT coalesce(sum(c.total_minor), 0) FROM documents.documents AS c
                 WHERE c.related_document_id = d.document_id AND c.kind = 'credit-note' AND c.state = 'posted')
                    AS credited_minor,
                (SELECT coalesce(c.number, c.reference) FROM documents.documents AS c
                 WHERE c.related_document_id = d.document_id AND c.kind = 'invoice-cancellation') AS cancelled_by
            FROM documents.documents AS d JOIN documents.accounts AS a USING (account_id)
            WHERE d.document_id = ANY($1::text[]) OR d.reference = ANY($1::text[]) OR d.number = ANY($1::text[])
               OR d.document_id IN (
                   SELECT n.related_document_id FROM documents.documents AS n
                   WHERE (n.document_id = ANY($1::text[]) OR n.reference = ANY($1::text[]))
                     AND n.kind = 'credit-note' AND n.state = 'draft')
            """, [PGArray.strings(names)])
    }

    private func draftLinesQuestion(_ names: [String]) -> PGStatement {
        PGStatement(
            """
            SELECT l.document_id, l.description, l.quantity::text, l.unit_price_minor, l.tax_rate::text,
                l.discounts::text, d.currency
            FROM documents.document_lines AS l JOIN documents.documents AS d USING (document_id)
            WHERE d.state = 'draft' AND (d.document_id = ANY($1::text[]) OR d.reference = ANY($1::text[]))
            ORDER BY l.document_id, l.line_number
            """, [PGArray.strings(names)])
    }

    private func readAccounts(_ rows: PGRows) throws {
        for row in rows.rows {
            let number = try row.string(1)
            decisions.accounts[number] = AccountCopy(
                id: try row.int64(0), number: number, name: try row.string(2),
                currency: try Currency(code: try row.string(3)),
                state: AccountState(rawValue: try row.string(4)) ?? .terminated,
                creditRule: try CreditRule.parse(try row.string(5)))
        }
    }

    private func readDocuments(_ rows: PGRows) throws {
        for row in rows.rows {
            let state = try row.string("state")
            let record = DocumentRecord(
                id: try row.string("document_id"), kind: DocumentKind(rawValue: try row.string("kind")) ?? .invoice,
                accountID: try row.int64("account_id"), accountNumber: try row.string("account_number"),
                currency: try Currency(code: try row.string("currency")),
                rounding: RoundingRule(rawValue: try row.string("rounding")) ?? .halfUp,
                state: DocumentState(rawValue: state) ?? .rejected, reference: try row.string("reference"),
                issuedOn: try LocalDate.parse(try row.string("issued_on")),
                related: try row.optionalString("related_document_id"), isNew: false)
            record.number = try row.optionalString("number")
            record.backOfficeCode = try row.optionalString("back_office_code")
            record.postedOn = try row.optionalString("posted_on").map(LocalDate.parse)
            record.dueOn = try row.optionalString("due_on").map(LocalDate.parse)
            record.notes = try row.optionalString("notes")
            record.net = try row.int64("net_minor")
            record.discount = try row.int64("discount_minor")
            record.tax = try row.int64("tax_minor")
            record.total = try row.int64("total_minor")
            record.credited = try row.int64("credited_minor")
            record.cancelledBy = try row.optionalString("cancelled_by")
            decisions.add(record)
        }
    }

    private func readDraftLines(_ rows: PGRows) throws {
        for row in rows.rows {
            guard let record = decisions.documents[try row.string(0)] else { continue }
            let currency = try Currency(code: try row.string(6))
            let discounts = try ContractJSON.decoder().decode([String].self, from: Data(try row.string(5).utf8))
            let line = try InvoiceLine(
                description: try row.string(1), quantity: try DecimalNumber.parse(try row.string(2)),
                unitPrice: Money(minor: try row.int64(3), currency: currency),
                taxRatePercent: try DecimalNumber.parse(try row.string(4)),
                discounts: try discounts.map { text throws(DomainError) in
                    try Discount.parse(text, currency: currency)
                })
            record.storedLines = (record.storedLines ?? []) + [line]
        }
    }

    // MARK: Numbers

    /// Takes every legal number the batch needs: one statement, series in (kind, year) order so
    /// that replicas lock the series rows in the same order; the rows stay locked until COMMIT and
    /// a rollback gives the numbers back, so the series has no gaps and no duplicates.
    func takeNumbers() throws {
        let requests = decisions.numberRequests()
        guard !requests.isEmpty else { return }
        let rows = try context.connection.query(
            """
            INSERT INTO documents.number_series AS s (document_kind, year, prefix, last_sequence)
            SELECT * FROM unnest($1::text[], $2::integer[], $3::text[], $4::bigint[])
            ON CONFLICT (document_kind, year) DO UPDATE SET last_sequence = s.last_sequence + EXCLUDED.last_sequence
            RETURNING document_kind, year, prefix, last_sequence
            """,
            [
                PGArray.strings(requests.map(\.series.kind.rawValue)), PGArray.integers(requests.map(\.series.year)),
                PGArray.strings(requests.map(\.prefix)), PGArray.integers(requests.map(\.count)),
            ])
        var counts: [NumberSeries: Int] = [:]
        for request in requests { counts[request.series] = request.count }
        var first: [NumberSeries: (prefix: String, sequence: Int64)] = [:]
        for row in rows.rows {
            guard let kind = DocumentKind(rawValue: try row.string(0)) else { continue }
            let series = NumberSeries(kind: kind, year: Int(try row.int64(1)))
            first[series] = (try row.string(2), try row.int64(3) - Int64(counts[series] ?? 0) + 1)
        }
        try decisions.assignNumbers(first)
    }

    // MARK: Writing (with the COMMIT)

    func persist() {
        let copies = decisions.accounts.values.filter(\.changed).sorted { $0.id < $1.id }
        if !copies.isEmpty {
            context.deferStatement(
                PGStatement(
                    """
                    INSERT INTO documents.accounts AS a (account_id, number, name, currency, state, credit_rule)
                    SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
                    ON CONFLICT (account_id) DO UPDATE SET number = EXCLUDED.number, name = EXCLUDED.name,
                        currency = EXCLUDED.currency, state = EXCLUDED.state, credit_rule = EXCLUDED.credit_rule,
                        updated_at = now()
                    """,
                    [
                        PGArray.integers(copies.map(\.id)), PGArray.strings(copies.map(\.number)),
                        PGArray.strings(copies.map(\.name)), PGArray.strings(copies.map(\.currency.code)),
                        PGArray.strings(copies.map(\.state.rawValue)),
                        PGArray.strings(copies.map(\.creditRule.specification)),
                    ]))
        }
        let made = decisions.documents.values.filter(\.isNew).sorted { $0.id < $1.id }
        let changed = decisions.documents.values.filter { !$0.isNew && $0.changed }.sorted { $0.id < $1.id }
        if !made.isEmpty { context.deferStatement(insertDocuments(made)) }
        if !changed.isEmpty { context.deferStatement(updateDocuments(changed)) }
        let relined = changed.filter(\.linesChanged)
        if !relined.isEmpty {
            context.deferStatement(
                PGStatement(
                    "DELETE FROM documents.document_lines WHERE document_id = ANY($1::text[])",
                    [PGArray.strings(relined.map(\.id))]))
        }
        let withLines = (made + relined).filter { $0.linesChanged && $0.draft != nil }
        if !withLines.isEmpty { context.deferStatement(insertLines(withLines)) }
        if !decisions.outcomes.isEmpty {
            context.deferStatement(CommandOutcomes.insert(table: "documents.command_outcomes", decisions.outcomes, context: context))
        }
    }

    private func insertDocuments(_ records: [DocumentRecord]) -> PGStatement {
        PGStatement(
            """
            INSERT INTO documents.documents (document_id, account_id, kind, state, reference, number,
                back_office_code, command_id, related_document_id, currency, rounding, issued_on, posted_on, due_on,
                net_minor, discount_minor, tax_minor, total_minor, rejection_category, rejection_reason, notes,
                created_by, posted_by)
            SELECT v.id, v.account_id, v.kind, v.state, v.reference, v.number, v.code, v.command_id, v.related,
                v.currency, v.rounding, v.issued_on::date, v.posted_on::date, v.due_on::date, v.net, v.discount,
                v.tax, v.total, v.rejection_category, v.rejection_reason, v.notes, v.created_by, v.posted_by
            FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::bigint[],
                $16::bigint[], $17::bigint[], $18::bigint[], $19::text[], $20::text[], $21::text[], $22::text[],
                $23::text[])
                AS v(id, account_id, kind, state, reference, number, code, command_id, related, currency, rounding,
                     issued_on, posted_on, due_on, net, discount, tax, total, rejection_category, rejection_reason,
                     notes, created_by, posted_by)
            """,
            [
                PGArray.strings(records.map(\.id)), PGArray.integers(records.map(\.accountID)),
                PGArray.strings(records.map(\.kind.rawValue)), PGArray.strings(records.map(\.state.rawValue)),
                PGArray.strings(records.map(\.reference)), PGArray.strings(records.map(\.number)),
                PGArray.strings(records.map(\.backOfficeCode)), PGArray.strings(records.map(\.commandID)),
                PGArray.strings(records.map(\.related)), PGArray.strings(records.map(\.currency.code)),
                PGArray.strings(records.map(\.rounding.rawValue)),
                PGArray.strings(records.map(\.issuedOn.description)),
                PGArray.strings(records.map { $0.postedOn?.description }),
                PGArray.strings(records.map { $0.dueOn?.description }), PGArray.integers(records.map(\.net)),
                PGArray.integers(records.map(\.discount)), PGArray.integers(records.map(\.tax)),
                PGArray.integers(records.map(\.total)), PGArray.strings(records.map { $0.rejection?.category.rawValue }),
                PGArray.strings(records.map { $0.rejection?.reason }), PGArray.strings(records.map(\.notes)),
                PGArray.strings(records.map(\.createdBy)), PGArray.strings(records.map(\.postedBy)),
            ])
    }

    private func updateDocuments(_ records: [DocumentRecord]) -> PGStatement {
        PGStatement(
            """
            UPDATE documents.documents AS d
            SET state = v.state, number = v.number, back_office_code = v.code, posted_on = v.posted_on::date,
                due_on = v.due_on::date, net_minor = v.net, discount_minor = v.discount, tax_minor = v.tax,
                total_minor = v.total, rejection_category = v.rejection_category,
                rejection_reason = v.rejection_reason, notes = v.notes, posted_by = coalesce(v.posted_by, d.posted_by),
                updated_at = now()
            FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[],
                $8::bigint[], $9::bigint[], $10::bigint[], $11::text[], $12::text[], $13::text[], $14::text[])
                AS v(id, state, number, code, posted_on, due_on, net, discount, tax, total, rejection_category,
                     rejection_reason, notes, posted_by)
            WHERE d.document_id = v.id
            """,
            [
                PGArray.strings(records.map(\.id)), PGArray.strings(records.map(\.state.rawValue)),
                PGArray.strings(records.map(\.number)), PGArray.strings(records.map(\.backOfficeCode)),
                PGArray.strings(records.map { $0.postedOn?.description }),
                PGArray.strings(records.map { $0.dueOn?.description }), PGArray.integers(records.map(\.net)),
                PGArray.integers(records.map(\.discount)), PGArray.integers(records.map(\.tax)),
                PGArray.integers(records.map(\.total)), PGArray.strings(records.map { $0.rejection?.category.rawValue }),
                PGArray.strings(records.map { $0.rejection?.reason }), PGArray.strings(records.map(\.notes)),
                PGArray.strings(records.map(\.postedBy)),
            ])
    }

    private func insertLines(_ records: [DocumentRecord]) -> PGStatement {
        var ids: [String] = []
        var numbers: [Int] = []
        var accountIDs: [Int64] = []
        var descriptions: [String] = []
        var quantities: [String] = []
        var prices: [Int64] = []
        var rates: [String] = []
        var discounts: [String] = []
        var amounts: [[Int64]] = [[], [], [], [], []]
        for record in records {
            guard let draft = record.draft else { continue }
            for (index, line) in draft.lines.enumerated() {
                // Derived amounts were computed when the line was accepted; they cannot fail now.
                guard let computed = try? line.amounts(rounding: draft.rounding) else { continue }
                ids.append(record.id)
                numbers.append(index + 1)
                accountIDs.append(record.accountID)
                descriptions.append(line.description)
                quantities.append(line.quantity.description)
                prices.append(line.unitPrice.minor)
                rates.append(line.taxRatePercent.description)
                discounts.append(ContractJSON.text(line.discounts.map(\.text)))
                for (slot, value) in [computed.gross, computed.discount, computed.net, computed.tax, computed.total]
                    .enumerated()
                {
                    amounts[slot].append(value.minor)
                }
            }
        }
        return PGStatement(
            """
            INSERT INTO documents.document_lines (document_id, line_number, account_id, description, quantity,
                unit_price_minor, tax_rate, discounts, gross_minor, discount_minor, net_minor, tax_minor, total_minor)
            SELECT * FROM unnest($1::text[], $2::integer[], $3::bigint[], $4::text[], $5::numeric[], $6::bigint[],
                $7::numeric[], $8::jsonb[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], $13::bigint[])
            """,
            [
                PGArray.strings(ids), PGArray.integers(numbers), PGArray.integers(accountIDs),
                PGArray.strings(descriptions), PGArray.strings(quantities), PGArray.integers(prices),
                PGArray.strings(rates), PGArray.strings(discounts), PGArray.integers(amounts[0]),
                PGArray.integers(amounts[1]), PGArray.integers(amounts[2]), PGArray.integers(amounts[3]),
                PGArray.integers(amounts[4]),
            ])
    }
}
