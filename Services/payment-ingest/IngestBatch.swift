import BillingContracts
import BillingDomain
import BillingIngest
import BillingPostgres
import BillingRuntime
import BillingSupport
import FoundationEssentials
import Logging

/// payment-ingest's settings beyond the runtime's.
struct IngestSettings: Sendable {
    /// `INGEST_CSV_MAPPING`: the column mapping for CSV files (see `CSVMapping`).
    var defaultCSVMapping: CSVMapping?
    var csvMappings: [String: CSVMapping] = [:]
    /// `INGEST_ENCODINGS`: `ACCOUNT=cp852,ACCOUNT2=latin-1`, for banks whose files are not UTF-8.
    var encodings: [String: TextEncoding] = [:]
    /// `INGEST_REGISTRY_MAPPING`: the column mapping of payment registry files (a CSV mapping with
    /// `client_account` and `transaction_id`; `account_value` names the network).
    var registryMapping: CSVMapping?
    /// `INGEST_ACCOUNT_MARKERS`: `Kd-Nr.=A-,customer no=` (marker=prefix): the word after a marker in a
    /// remittance, with the prefix before it, is tried as an account number when nothing else matched.
    var accountMarkers: [(marker: String, prefix: String)] = []
    /// `INGEST_KNOWN_BANK_ACCOUNTS_ONLY`: refuse statements for bank accounts not registered yet.
    var knownBankAccountsOnly = false
    /// `GATEWAY_WEBHOOK_SECRETS` (comma-separated, several while rotating) and
    /// `GATEWAY_SIGNATURE_TOLERANCE_SECONDS` (300).
    var gateway = WebhookSignatureVerifier(secrets: [])
    /// `GATEWAY_ACCOUNT_METADATA_KEYS`: metadata keys of a gateway payment that name the account.
    var gatewayAccountKeys = ["account", "account_number", "billing_account"]

    static func fromEnvironment(_ environment: ProcessEnvironment) throws -> IngestSettings {
        var settings = IngestSettings()
        if let text = environment.optional("INGEST_CSV_MAPPING") {
            do {
                settings.defaultCSVMapping = try CSVMapping.parse(text)
            } catch {
                throw ConfigurationError(variable: "INGEST_CSV_MAPPING", problem: error.reason)
            }
        }
        if let text = environment.optional("INGEST_REGISTRY_MAPPING") {
            do {
                let mapping = try CSVMapping.parse(text)
                guard mapping.columns["client_account"] != nil, mapping.columns["transaction_id"] != nil else {
                    throw StatementFileError(
                        "invalid_mapping", "a registry needs client_account and transaction_id columns", at: "mapping")
                }
                settings.registryMapping = mapping
            } catch let error as StatementFileError {
                throw ConfigurationError(variable: "INGEST_REGISTRY_MAPPING", problem: error.reason)
            }
        }
        for pair in (environment.optional("INGEST_ENCODINGS") ?? "").split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingSpaces() }
            guard parts.count == 2, let encoding = TextEncoding(rawValue: parts[1].lowercased()) else {
                throw ConfigurationError(
                    variable: "INGEST_ENCODINGS", problem: "'\(pair)' is not ACCOUNT=utf-8|latin-1|cp852")
            }
            settings.encodings[parts[0]] = encoding
        }
        settings.knownBankAccountsOnly = try environment.bool("INGEST_KNOWN_BANK_ACCOUNTS_ONLY", default: false)
        for pair in (environment.optional("INGEST_ACCOUNT_MARKERS") ?? "").split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map {
                $0.trimmingSpaces()
            }
            guard !parts[0].isEmpty else {
                throw ConfigurationError(variable: "INGEST_ACCOUNT_MARKERS", problem: "'\(pair)' has no marker")
            }
            settings.accountMarkers.append((parts[0], parts.count > 1 ? parts[1] : ""))
        }
        let secrets = (environment.optional("GATEWAY_WEBHOOK_SECRETS") ?? "").split(separator: ",")
            .map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
        settings.gateway = WebhookSignatureVerifier(
            secrets: secrets,
            toleranceSeconds: Int64(
                try environment.int("GATEWAY_SIGNATURE_TOLERANCE_SECONDS", default: 300, range: 1...86_400)))
        if let keys = environment.optional("GATEWAY_ACCOUNT_METADATA_KEYS") {
            settings.gatewayAccountKeys = keys.split(separator: ",").map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
        }
        return settings
    }
}

/// A batch of statement files and copies, applied in the batch transaction.
///
/// Round trips: one pipeline reads the identities already booked, the bank accounts known, and
/// every account, document and payer the lines' words could name; decisions are made in memory;
/// the writes (files, statements, lines, copies) and the events go with the COMMIT.
final class IngestBatch {
    let context: BatchContext
    let settings: IngestSettings
    var directory = IdentificationDirectory()
    var bookedIdentities: Set<String> = []
    /// Keys across statements of the weak lines booked before or earlier in this batch.
    var bookedWeakKeys: Set<String> = []
    /// Weak lines booked before version 21 under their key across statements: their statement's
    /// reference and sequence.
    var earlierWeakStatements: [String: (reference: String?, sequence: String?)] = [:]
    /// File ids imported before or earlier in this batch, with their content's SHA-256.
    var importedFiles: [String: String] = [:]
    var knownBankAccounts: Set<String> = []
    var newBankAccounts: [(account: String, currency: String?, fileID: String)] = []
    var accountCopies: [String: AccountSnapshot] = [:]
    var documentCopies: [(name: String, account: String, id: String)] = []
    var payerUpdates: [String: String] = [:]
    var fileRows: [(input: StatementFileInput, report: ImportReport)] = []
    var statementRows: [(id: String, fileID: String, position: Int, statement: ParsedStatement)] = []
    var lineRows: [LineRow] = []
    var finishedCommands: Set<String> = []
    var deskStates: [String: DeskState] = [:]
    var openShifts: [String: ShiftState] = [:]
    var closedShifts: [ShiftState] = []
    var deskPayments: [DeskPaymentRow] = []
    var deskOutcomes: [(outcome: CommandOutcome, requestedBy: String)] = []
    var seenEvents: Set<String> = []
    var seenSignatures: [String: String] = [:]
    /// Gateway payment id → the account it was paid to.
    var gatewayAccounts: [String: String] = [:]
    var gatewayRows: [GatewayRow] = []
    /// Credit lines booked before, by end-to-end id: what a reversal reverses.
    var creditsByEndToEnd: [String: (paymentID: String, account: String?)] = [:]

    struct LineRow {
        let fileID: String
        let statementID: String
        let line: StatementLine
        let identity: String?
        var outcome: String
        var paymentID: String?
        var account: String?
        var rule: String?
        var evidence: String?
        var reasons: [String]
    }

    init(context: BatchContext, settings: IngestSettings) {
        self.context = context
        self.settings = settings
        directory.accountMarkers = settings.accountMarkers
    }

    func apply(_ batch: [DecodedMessage<IngestInput>]) throws {
        let files = batch.compactMap {
            if case .statementFile(let file) = $0.payload { return file } else { return nil }
        }
        let events = batch.compactMap {
            if case .gatewayEvent(let event) = $0.payload { return event } else { return nil }
        }
        let desks = batch.compactMap {
            if case .deskCommand(let id, let type, let command) = $0.payload {
                return (id, type, command)
            } else {
                return nil
            }
        }
        let fileLines = files.map(\.lines)
        try load(files, fileLines, events, desks)
        for (index, decoded) in batch.enumerated() {
            switch decoded.payload {
            case .gatewayEvent(let event):
                try importEvent(event, index: index)
            case .deskCommand(let id, let type, let command):
                runDeskCommand(id: id, type: type, command)
            case .account(let snapshot):
                accountCopies[snapshot.number] = snapshot
                directory.accounts[snapshot.number] = KnownAccount(
                    number: snapshot.number, currency: snapshot.currency, isTerminated: snapshot.state == "terminated")
            case .document(let document):
                for name in [document.number, document.reference].compactMap({ $0 }) {
                    documentCopies.append((name, document.account, document.documentId))
                    directory.documents[name] = document.account
                }
            case .statementFile(let file):
                if let earlier = importedFiles[file.fileID] {
                    // The same file again (a redelivered message, or its content re-sent without a
                    // file_id): it was read once, and reading it again would change nothing.
                    guard earlier == file.contentSHA256 else {
                        throw BatchFailure.rejected(
                            index: index,
                            MessageRejection(
                                code: "duplicate_file_id",
                                reason:
                                    "file_id \(file.fileID) was imported before with other content; send this file under a new file_id"
                            ))
                    }
                    context.logger.info(
                        "statement file imported before; nothing to do",
                        metadata: ["file_id": .string(file.fileID), "offset": .of(file.offset)])
                    continue
                }
                importedFiles[file.fileID] = file.contentSHA256
                let position = files.firstIndex { $0.fileID == file.fileID && $0.offset == file.offset }!
                importFile(file, fileLines[position])
            }
        }
        persist()
    }

    // MARK: Reading

    private func load(
        _ files: [StatementFileInput], _ fileLines: [[StatementLine]], _ events: [GatewayInput],
        _ desks: [(id: String, type: String, command: CashDeskCommand)]
    ) throws {
        guard !files.isEmpty || !events.isEmpty || !desks.isEmpty else { return }
        if !desks.isEmpty { try loadDesks(desks) }
        let booked = fileLines.flatMap { $0.filter { $0.notBookedReason == nil } }
        let identities = booked.flatMap { line in
            [line.identity] + (line.identityIsWeak ? [] : line.legacyIdentity.map { [$0] } ?? [])
        }
        let looseKeys = booked.filter(\.identityIsWeak).compactMap(\.legacyIdentity)
        var words: Set<String> = Set(desks.compactMap(\.command.account))
        var payers: Set<String> = []
        for movement in events.flatMap(\.movements) {
            if case .payment(_, _, _, _, let clues) = movement {
                words.formUnion(PaymentIdentifier.tokens(clues))
                if let stated = clues.statedAccount { words.insert(stated) }
            }
        }
        for line in fileLines.joined() where line.kind == .credit {
            words.formUnion(PaymentIdentifier.tokens(line.clues))
            if let stated = line.clues.statedAccount { words.insert(stated) }
            words.formUnion(PaymentIdentifier.markedWords(line.clues, settings.accountMarkers))
            if let reference = line.clues.creditorReference,
                let body = PaymentIdentifier.creditorReferenceBody(reference)
            {
                words.insert(body)
            }
            if let payer = line.clues.payerAccount { payers.insert(payer.filter { $0 != " " }) }
        }
        let sortedWords = words.sorted()
        let reversed = Set(fileLines.joined().filter { $0.kind == .debitReversal }.compactMap(\.endToEndId)).sorted()
        if !events.isEmpty { try loadGateway(events) }
        let bankAccounts = Set(files.flatMap { $0.parsed.statements.map(\.account) }).sorted()
        let results = try context.connection.pipeline([
            // Replicas and loops import files side by side. A line's identity includes our bank
            // account, so two files can share a line only on the same account: a batch holds that
            // account's lock (in sorted order) until COMMIT, and reads the lines booked before it
            // only once it has the lock, so a line in two concurrent files books once.
            PGStatement(
                """
                SELECT pg_advisory_xact_lock(hashtextextended('billing.ingest.bank-account:' || account, 0))
                FROM unnest($1::text[]) AS account
                """, [PGArray.strings(bankAccounts)]),
            PGStatement(
                """
                SELECT end_to_end_id, payment_id, account_number FROM ingest.statement_lines
                WHERE end_to_end_id = ANY($1::text[]) AND kind = 'credit' AND identity IS NOT NULL
                """, [PGArray.strings(reversed)]),
            PGStatement(
                "SELECT identity FROM ingest.statement_lines WHERE identity = ANY($1::text[])",
                [PGArray.strings(identities)]),
            PGStatement(
                "SELECT bank_account FROM ingest.bank_accounts WHERE bank_account = ANY($1::text[])",
                [PGArray.strings(bankAccounts)]),
            // Accounts the words name, and the accounts of the documents and payers they name: one
            // set of keys, then the accounts by key. (Written as three ORed conditions it could only
            // scan every account, testing each against the batch's thousands of words: 850 ms a
            // batch on average in a money-bench run.)
            PGStatement(
                """
                SELECT a.account_number, a.currency, a.state FROM ingest.accounts AS a
                WHERE a.account_number IN (
                    SELECT unnest($1::text[])
                    UNION SELECT d.account_number FROM ingest.documents AS d WHERE d.name = ANY($1::text[])
                    UNION SELECT p.account_number FROM ingest.payers AS p WHERE p.payer_account = ANY($2::text[]))
                """, [PGArray.strings(sortedWords), PGArray.strings(payers.sorted())]),
            PGStatement(
                "SELECT name, account_number FROM ingest.documents WHERE name = ANY($1::text[])",
                [PGArray.strings(sortedWords)]),
            PGStatement(
                "SELECT payer_account, account_number FROM ingest.payers WHERE payer_account = ANY($1::text[])",
                [PGArray.strings(payers.sorted())]),
            PGStatement(
                "SELECT file_id, content_sha256 FROM ingest.files WHERE file_id = ANY($1::text[])",
                [PGArray.strings(Set(files.map(\.fileID)).sorted())]),
            // Weak lines alike booked from other statements; and those booked before version 21,
            // whose identity this key was, with their statement (the same statement again is a
            // duplicate, as it was then).
            PGStatement(
                "SELECT weak_key FROM ingest.statement_lines WHERE weak_key = ANY($1::text[])",
                [PGArray.strings(looseKeys)]),
            PGStatement(
                """
                SELECT l.identity, s.statement_ref, s.sequence FROM ingest.statement_lines AS l
                JOIN ingest.statements AS s ON s.statement_id = l.statement_id
                WHERE l.identity = ANY($1::text[]) AND l.weak_key IS NULL AND l.identity_weak
                """, [PGArray.strings(looseKeys)]),
        ])
        // results[0]: the locks.
        for row in results[1].rows {
            creditsByEndToEnd[try row.string(0)] = (try row.string(1), row.optionalString(2))
        }
        bookedIdentities = Set(results[2].values.compactMap { $0[0] })
        knownBankAccounts = Set(results[3].values.compactMap { $0[0] })
        for row in results[4].rows {
            let number = try row.string(0)
            directory.accounts[number] = KnownAccount(
                number: number, currency: try row.string(1), isTerminated: try row.string(2) == "terminated")
        }
        for row in results[5].rows { directory.documents[try row.string(0)] = try row.string(1) }
        for row in results[6].rows { directory.payers[try row.string(0)] = try row.string(1) }
        for row in results[7].rows { importedFiles[try row.string(0)] = try row.string(1) }
        bookedWeakKeys = Set(results[8].values.compactMap { $0[0] })
        for row in results[9].rows {
            let key = try row.string(0)
            bookedWeakKeys.insert(key)
            earlierWeakStatements[key] = (row.optionalString(1), row.optionalString(2))
        }
    }

    // MARK: Deciding

    /// Money received, from any channel.
    struct Received {
        let paymentID: String
        let amountMinor: Int64
        let currency: String
        let channel: String
        let receivedOn: String
        let reference: String?
        var payerName: String? = nil
        var payerAccount: String? = nil
        /// For suspense, when the payment has no reference of its own.
        var fallbackReference: String? = nil
    }

    /// Publishes money received: to its account when identified (naming the invoice it matched),
    /// else to suspense with the reasons it could not be tied.
    func publishReceived(_ identification: Identification, _ received: Received) {
        switch identification {
        case .identified(let account, let rule, let evidence):
            publish(
                Topics.payments.name, key: account, type: LedgerTypes.paymentIdentified,
                PaymentIdentified(
                    paymentId: received.paymentID, account: account, amountMinor: received.amountMinor,
                    currency: received.currency, channel: received.channel, receivedOn: received.receivedOn,
                    reference: received.reference, namedItems: rule == "document-in-remittance" ? [evidence] : nil,
                    payerName: received.payerName))
        case .unidentified(let reasons, let account):
            publish(
                Topics.unidentifiedPayments.name, key: received.paymentID, type: LedgerTypes.paymentUnidentified,
                PaymentUnidentified(
                    paymentId: received.paymentID, amountMinor: received.amountMinor, currency: received.currency,
                    channel: received.channel, receivedOn: received.receivedOn,
                    reference: received.reference ?? received.fallbackReference, payerName: received.payerName,
                    payerIban: received.payerAccount, account: account, reason: reasons.joined(separator: "; ")))
        }
    }

    func publish<T: Encodable>(_ topic: String, key: String, type: String, _ body: T, id: String? = nil) {
        context.publish(
            topic: topic, key: key,
            event: CloudEvent(
                id: id ?? CloudEvent.newID(), type: type, source: context.service.eventSource, time: UTCClock.timestamp(),
                data: ContractJSON.encode(body)))
    }

    // MARK: Writing (with the COMMIT)
    private func persist() {
        persistGateway()
        persistDesks()
        persistCopies()
        guard !fileRows.isEmpty else { return }
        persistFiles()
        persistLines()
    }

    /// The copies of accounts, documents and payers' accounts that identification reads.
    private func persistCopies() {
        if !accountCopies.isEmpty {
            let copies = accountCopies.values.sorted { $0.number < $1.number }
            context.deferStatement(
                PGStatement(
                    """
                    INSERT INTO ingest.accounts AS a (account_number, account_id, currency, state)
                    SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[])
                    ON CONFLICT (account_number) DO UPDATE SET account_id = EXCLUDED.account_id,
                        currency = EXCLUDED.currency, state = EXCLUDED.state, updated_at = now()
                    """,
                    [
                        PGArray.strings(copies.map(\.number)), PGArray.integers(copies.map { $0.accountId ?? 0 }),
                        PGArray.strings(copies.map(\.currency)), PGArray.strings(copies.map(\.state)),
                    ]))
        }
        if !documentCopies.isEmpty {
            var latest: [String: (account: String, id: String)] = [:]
            for copy in documentCopies { latest[copy.name] = (copy.account, copy.id) }
            let names = latest.keys.sorted()
            context.deferStatement(
                PGStatement(
                    """
                    INSERT INTO ingest.documents (name, account_number, document_id)
                    SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
                    ON CONFLICT (name) DO UPDATE SET account_number = EXCLUDED.account_number,
                        document_id = EXCLUDED.document_id
                    """,
                    [
                        PGArray.strings(names), PGArray.strings(names.map { latest[$0]!.account }),
                        PGArray.strings(names.map { latest[$0]!.id }),
                    ]))
        }
        if !payerUpdates.isEmpty {
            let payers = payerUpdates.keys.sorted()
            context.deferStatement(
                PGStatement(
                    """
                    INSERT INTO ingest.payers (payer_account, account_number)
                    SELECT * FROM unnest($1::text[], $2::text[])
                    ON CONFLICT (payer_account) DO UPDATE SET account_number = EXCLUDED.account_number,
                        last_seen_at = now()
                    """, [PGArray.strings(payers), PGArray.strings(payers.map { payerUpdates[$0]! })]))
        }
    }
}

enum IngestVersion {
    /// Recorded with every file, so a payment can be traced to the code that read its bytes.
    static let parser = "billing-ingest 1"
}
