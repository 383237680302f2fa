import BillingContracts
import BillingDomain
import BillingIngest

/// What one batch of payment-ingest's inputs books, decided in memory: no I/O.
///
/// The ingest's storage fills in what the batch needs (identities booked before, bank accounts
/// known, the accounts, documents and payers the lines' words could name, files imported before,
/// desks and open shifts, gateway events seen), then calls `apply` for each input in order and
/// writes what this holds afterwards (files, statements, lines, copies, desk rows, gateway rows,
/// outcomes), publishes `events` and logs and counts `notices`.
public final class IngestDecisions {
    /// The day cash desk payments are received on.
    public let today: LocalDate
    /// Refuse statements for bank accounts not registered yet (`INGEST_KNOWN_BANK_ACCOUNTS_ONLY`).
    public let knownBankAccountsOnly: Bool
    public var directory = IdentificationDirectory()
    public var bookedIdentities: Set<String> = []
    /// Keys across statements of the weak lines booked before or earlier in this batch.
    public var bookedWeakKeys: Set<String> = []
    /// Weak lines booked before version 21 under their key across statements: their statement's
    /// reference and sequence.
    public var earlierWeakStatements: [String: (reference: String?, sequence: String?)] = [:]
    /// File ids imported before or earlier in this batch, with their content's SHA-256.
    public var importedFiles: [String: String] = [:]
    public var knownBankAccounts: Set<String> = []
    public var newBankAccounts: [(account: String, currency: String?, fileID: String)] = []
    public var accountCopies: [String: AccountSnapshot] = [:]
    public var documentCopies: [(name: String, account: String, id: String)] = []
    public var payerUpdates: [String: String] = [:]
    public var fileRows: [(input: StatementFileInput, report: ImportReport)] = []
    public var statementRows: [(id: String, fileID: String, position: Int, statement: ParsedStatement)] = []
    public var lineRows: [LineRow] = []
    public var finishedCommands: Set<String> = []
    public var deskStates: [String: DeskState] = [:]
    public var openShifts: [String: ShiftState] = [:]
    public var closedShifts: [ShiftState] = []
    public var deskPayments: [DeskPaymentRow] = []
    public var deskOutcomes: [(outcome: CommandOutcome, requestedBy: String)] = []
    public var seenEvents: Set<String> = []
    public var seenSignatures: [String: String] = [:]
    /// Gateway payment id → the account it was paid to.
    public var gatewayAccounts: [String: String] = [:]
    public var gatewayRows: [GatewayRow] = []
    /// Credit lines booked before, by end-to-end id: what a reversal reverses.
    public var creditsByEndToEnd: [String: (paymentID: String, account: String?)] = [:]

    /// A statement line as recorded: what was booked from it and why.
    public struct LineRow: Sendable {
        public let fileID: String
        public let statementID: String
        public let line: StatementLine
        public let identity: String?
        public var outcome: LineOutcome
        public var paymentID: String?
        public var account: String?
        public var rule: String?
        public var evidence: String?
        public var reasons: [String]
    }

    /// Events decided while applying, in order (see `outgoing()`).
    public internal(set) var events: [OutgoingEvent] = []
    /// What the worker logs and counts beside the books.
    public internal(set) var notices: [IngestNotice] = []

    public init(today: LocalDate, knownBankAccountsOnly: Bool, accountMarkers: [(marker: String, prefix: String)]) {
        self.today = today
        self.knownBankAccountsOnly = knownBankAccountsOnly
        directory.accountMarkers = accountMarkers
    }

    /// Everything the batch publishes: the events in the order decided, then the cash desk
    /// commands' outcomes.
    public func outgoing() -> [OutgoingEvent] {
        events
            + deskOutcomes.map {
                OutgoingEvent(
                    topic: Topics.commandOutcomes.name, key: $0.outcome.commandId, type: LedgerTypes.commandOutcome,
                    $0.outcome)
            }
    }

    /// Applies one input. Throws when the message can never be applied (it is dead-lettered):
    /// a replayed gateway signature, a file id seen before with other content.
    public func apply(_ input: IngestInput) throws(MessageRejection) {
        switch input {
        case .gatewayEvent(let event):
            try importEvent(event)
        case .deskCommand(let id, let kind, let command):
            runDeskCommand(id: id, kind: kind, command)
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
                    throw MessageRejection(
                        code: "duplicate_file_id",
                        reason:
                            "file_id \(file.fileID) was imported before with other content; send this file under a new file_id"
                    )
                }
                notices.append(.fileImportedBefore(fileID: file.fileID, offset: file.offset))
                return
            }
            importedFiles[file.fileID] = file.contentSHA256
            importFile(file)
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
        events.append(OutgoingEvent(topic: topic, key: key, type: type, body, id: id))
    }
}

/// What a batch noticed that is no booking: the worker logs it and counts it.
public enum IngestNotice: Sendable, Equatable {
    /// A statement file imported before (the same content under the same file id): nothing to do.
    case fileImportedBefore(fileID: String, offset: Int64)
    /// A gateway event received again (the same event id): nothing booked.
    case gatewayEventRepeated(eventID: String, type: String)
    /// A gateway event of a type payment-ingest does not handle: recorded and ignored.
    case gatewayTypeIgnored(eventID: String, type: String)
}

/// What became of a statement line (`ingest.statement_lines.outcome`).
public enum LineOutcome: String, Sendable, CaseIterable {
    case identified
    case unidentified
    case reversal
    case refundPaid = "refund-paid"
    case bankFee = "bank-fee"
    case outgoing
    case duplicate
    case notBooked = "not-booked"
}
