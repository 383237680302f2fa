import BillingContracts
import BillingDomain
import BillingIngest
import BillingPostgres
import BillingRuntime
import BillingSupport
import FoundationEssentials
import Logging
import PaymentIngestCore

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

/// A batch of statement files and copies, applied in the batch transaction: storage around the
/// decisions of `IngestDecisions` (PaymentIngestCore).
///
/// Round trips: one pipeline reads the identities already booked, the bank accounts known, and
/// every account, document and payer the lines' words could name; decisions are made in memory;
/// the writes (files, statements, lines, copies) and the events go with the COMMIT.
final class IngestBatch {
    let context: BatchContext
    let settings: IngestSettings
    let decisions: IngestDecisions

    init(context: BatchContext, settings: IngestSettings) {
        self.context = context
        self.settings = settings
        self.decisions = IngestDecisions(
            today: context.today,
            knownBankAccountsOnly: settings.knownBankAccountsOnly, accountMarkers: settings.accountMarkers)
    }

    func apply(_ batch: [DecodedMessage<IngestInput>]) throws {
        var files: [StatementFileInput] = []
        var events: [GatewayInput] = []
        var desks: [(id: String, kind: CashDeskCommandKind, command: CashDeskCommand)] = []
        for decoded in batch {
            switch decoded.payload {
            case .statementFile(let file): files.append(file)
            case .gatewayEvent(let event): events.append(event)
            case .deskCommand(let id, let kind, let command): desks.append((id, kind, command))
            case .account, .document: break
            }
        }
        try load(files, events, desks)
        for (index, decoded) in batch.enumerated() {
            do {
                try decisions.apply(decoded.payload)
            } catch {
                throw BatchFailure.rejected(index: index, error)
            }
        }
        report(decisions.notices)
        persist()
        context.publish(decisions.outgoing())
    }

    /// Logs and counts what the batch noticed.
    private func report(_ notices: [IngestNotice]) {
        for notice in notices {
            switch notice {
            case .fileImportedBefore(let fileID, let offset):
                context.logger.info(
                    "statement file imported before; nothing to do",
                    metadata: ["file_id": .string(fileID), "offset": .of(offset)])
            case .gatewayEventRepeated(let eventID, let type):
                context.logger.info(
                    "gateway event received again; nothing booked",
                    metadata: ["event_id": .string(eventID), "type": .string(type)])
                context.count(PaymentIngestMetrics.gatewayEventsDuplicate)
            case .gatewayTypeIgnored(let eventID, let type):
                context.logger.info(
                    "gateway event type not handled; ignored",
                    metadata: ["event_id": .string(eventID), "type": .string(type)])
                context.count(PaymentIngestMetrics.gatewayEventsIgnored)
            }
        }
    }

    // MARK: Reading

    private func load(
        _ files: [StatementFileInput], _ events: [GatewayInput],
        _ desks: [(id: String, kind: CashDeskCommandKind, command: CashDeskCommand)]
    ) throws {
        guard !files.isEmpty || !events.isEmpty || !desks.isEmpty else { return }
        if !desks.isEmpty { try loadDesks(desks) }
        if !events.isEmpty { try loadGateway(events) }
        let keys = LookupKeys(files, events, desks, accountMarkers: settings.accountMarkers)
        let results = try context.connection.pipeline(Self.lookups(keys))
        try readLookups(results)
    }

    /// What the batch's files, gateway events and desk commands ask of the books: line
    /// identities, the words that may name an account, payers' bank accounts, reversed
    /// end-to-end ids, our bank accounts and the files' ids.
    struct LookupKeys {
        var identities: [String] = []
        var looseKeys: [String] = []
        var words: [String] = []
        var payers: [String] = []
        var reversed: [String] = []
        var bankAccounts: [String] = []
        var fileIDs: [String] = []

        init(
            _ files: [StatementFileInput], _ events: [GatewayInput],
            _ desks: [(id: String, kind: CashDeskCommandKind, command: CashDeskCommand)],
            accountMarkers: [(marker: String, prefix: String)]
        ) {
            let lines = files.flatMap(\.lines)
            let booked = lines.filter { $0.notBookedReason == nil }
            identities = booked.flatMap { line in
                [line.identity] + (line.identityIsWeak ? [] : line.legacyIdentity.map { [$0] } ?? [])
            }
            looseKeys = booked.filter(\.identityIsWeak).compactMap(\.legacyIdentity)
            var words: Set<String> = Set(desks.compactMap(\.command.account))
            var payers: Set<String> = []
            for movement in events.flatMap(\.movements) {
                if case .payment(_, _, _, _, let clues) = movement {
                    words.formUnion(PaymentIdentifier.tokens(clues))
                    if let stated = clues.statedAccount { words.insert(stated) }
                }
            }
            for line in lines where line.kind == .credit {
                words.formUnion(PaymentIdentifier.tokens(line.clues))
                if let stated = line.clues.statedAccount { words.insert(stated) }
                words.formUnion(PaymentIdentifier.markedWords(line.clues, accountMarkers))
                if let reference = line.clues.creditorReference,
                    let body = PaymentIdentifier.creditorReferenceBody(reference)
                {
                    words.insert(body)
                }
                if let payer = line.clues.payerAccount { payers.insert(payer.filter { $0 != " " }) }
            }
            self.words = words.sorted()
            self.payers = payers.sorted()
            reversed = Set(lines.filter { $0.kind == .debitReversal }.compactMap(\.endToEndId)).sorted()
            bankAccounts = Set(files.flatMap { $0.parsed.statements.map(\.account) }).sorted()
            fileIDs = Set(files.map(\.fileID)).sorted()
        }
    }

    /// One pipeline; `readLookups` takes the answers in this order.
    private static func lookups(_ keys: LookupKeys) -> [PGStatement] {
        [
            // Replicas and loops import files side by side. A line's identity includes our bank
            // account, so two files can share a line only on the same account: a batch holds that
            // account's lock (in sorted order) until COMMIT, and reads the lines booked before it
            // only once it has the lock, so a line in two concurrent files books once.
            PGStatement(
                """
                SELECT pg_advisory_xact_lock(hashtextextended('billing.ingest.bank-account:' || account, 0))
                FROM unnest($1::text[]) AS account
                """, [PGArray.strings(keys.bankAccounts)]),
            PGStatement(
                """
                SELECT end_to_end_id, payment_id, account_number FROM ingest.statement_lines
                WHERE end_to_end_id = ANY($1::text[]) AND kind = 'credit' AND identity IS NOT NULL
                """, [PGArray.strings(keys.reversed)]),
            PGStatement(
                "SELECT identity FROM ingest.statement_lines WHERE identity = ANY($1::text[])",
                [PGArray.strings(keys.identities)]),
            PGStatement(
                "SELECT bank_account FROM ingest.bank_accounts WHERE bank_account = ANY($1::text[])",
                [PGArray.strings(keys.bankAccounts)]),
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
                """, [PGArray.strings(keys.words), PGArray.strings(keys.payers)]),
            PGStatement(
                "SELECT name, account_number FROM ingest.documents WHERE name = ANY($1::text[])",
                [PGArray.strings(keys.words)]),
            PGStatement(
                "SELECT payer_account, account_number FROM ingest.payers WHERE payer_account = ANY($1::text[])",
                [PGArray.strings(keys.payers)]),
            PGStatement(
                "SELECT file_id, content_sha256 FROM ingest.files WHERE file_id = ANY($1::text[])",
                [PGArray.strings(keys.fileIDs)]),
            // Weak lines alike booked from other statements; and those booked before version 21,
            // whose identity this key was, with their statement (the same statement again is a
            // duplicate, as it was then).
            PGStatement(
                "SELECT weak_key FROM ingest.statement_lines WHERE weak_key = ANY($1::text[])",
                [PGArray.strings(keys.looseKeys)]),
            PGStatement(
                """
                SELECT l.identity, s.statement_ref, s.sequence FROM ingest.statement_lines AS l
                JOIN ingest.statements AS s ON s.statement_id = l.statement_id
                WHERE l.identity = ANY($1::text[]) AND l.weak_key IS NULL AND l.identity_weak
                """, [PGArray.strings(keys.looseKeys)]),
        ]
    }

    private func readLookups(_ results: [PGRows]) throws {
        // results[0]: the locks.
        for row in results[1].rows {
            decisions.creditsByEndToEnd[try row.string(0)] = (try row.string(1), row.optionalString(2))
        }
        decisions.bookedIdentities = Set(results[2].values.compactMap { $0[0] })
        decisions.knownBankAccounts = Set(results[3].values.compactMap { $0[0] })
        for row in results[4].rows {
            let number = try row.string(0)
            decisions.directory.accounts[number] = KnownAccount(
                number: number, currency: try row.string(1), isTerminated: try row.string(2) == "terminated")
        }
        for row in results[5].rows { decisions.directory.documents[try row.string(0)] = try row.string(1) }
        for row in results[6].rows { decisions.directory.payers[try row.string(0)] = try row.string(1) }
        for row in results[7].rows { decisions.importedFiles[try row.string(0)] = try row.string(1) }
        decisions.bookedWeakKeys = Set(results[8].values.compactMap { $0[0] })
        for row in results[9].rows {
            let key = try row.string(0)
            decisions.bookedWeakKeys.insert(key)
            decisions.earlierWeakStatements[key] = (row.optionalString(1), row.optionalString(2))
        }
    }

    // MARK: Writing (with the COMMIT)
    private func persist() {
        persistGateway()
        persistDesks()
        persistCopies()
        guard !decisions.fileRows.isEmpty else { return }
        persistFiles()
        persistLines()
    }

    /// The copies of accounts, documents and payers' accounts that identification reads.
    private func persistCopies() {
        if !decisions.accountCopies.isEmpty {
            let copies = decisions.accountCopies.values.sorted { $0.number < $1.number }
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
        if !decisions.documentCopies.isEmpty {
            var latest: [String: (account: String, id: String)] = [:]
            for copy in decisions.documentCopies { latest[copy.name] = (copy.account, copy.id) }
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
        if !decisions.payerUpdates.isEmpty {
            let payers = decisions.payerUpdates.keys.sorted()
            context.deferStatement(
                PGStatement(
                    """
                    INSERT INTO ingest.payers (payer_account, account_number)
                    SELECT * FROM unnest($1::text[], $2::text[])
                    ON CONFLICT (payer_account) DO UPDATE SET account_number = EXCLUDED.account_number,
                        last_seen_at = now()
                    """, [PGArray.strings(payers), PGArray.strings(payers.map { decisions.payerUpdates[$0]! })]))
        }
    }
}

enum IngestVersion {
    /// Recorded with every file, so a payment can be traced to the code that read its bytes.
    static let parser = "billing-ingest 1"
}
