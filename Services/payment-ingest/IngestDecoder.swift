import BillingContracts
import BillingDomain
import BillingIngest
import BillingKafka
import BillingPostgres
import BillingRuntime
import BillingSupport
import PaymentIngestCore

struct IngestDecoder: Sendable {
    let settings: IngestSettings

    static let events = EventRouter<IngestInput>(
        Dictionary(uniqueKeysWithValues: LedgerTypes.accountSnapshots.map { ($0, decodeAccount) }).merging([
            LedgerTypes.documentPosted: { event throws(MessageRejection) in .document(try EventBody.decode(event)) },
            CashDeskTypes.openShift: decodeDeskCommand, CashDeskTypes.payment: decodeDeskCommand,
            CashDeskTypes.closeShift: decodeDeskCommand,
        ]) { snapshot, _ in snapshot })

    static let decodeDeskCommand: EventRouter<IngestInput>.Decode = { event throws(MessageRejection) in
        let command: CashDeskCommand = try EventBody.decodeStrict(event)
        guard (1...200).contains(command.origin.requestedBy.count) else {
            throw EventBody.invalid("origin.requested_by must be 1 to 200 characters")
        }
        guard let kind = CashDeskCommandKind(type: event.type) else {
            throw MessageRejection(EnvelopeError.unknownType(event.type))
        }
        return .deskCommand(id: event.id, kind: kind, command)
    }

    static let decodeAccount: EventRouter<IngestInput>.Decode = { event throws(MessageRejection) in
        .account(try EventBody.accountSnapshot(event))
    }

    func decode(_ message: KafkaMessage) throws(MessageRejection) -> IngestInput {
        if message.headers.text("ce_type") != nil, message.headers.text("file_name") == nil {
            return try Self.events.decode(message).payload
        }
        if message.topic.hasPrefix(Topics.gatewayEventsRaw.name) {
            return .gatewayEvent(try gatewayEvent(message))
        }
        if message.topic.hasPrefix(Topics.paymentRegistriesRaw.name) {
            guard let mapping = settings.registryMapping else {
                throw MessageRejection(
                    code: "registry_not_configured",
                    reason: "no registry mapping is configured (INGEST_REGISTRY_MAPPING)")
            }
            return .statementFile(try statementFile(message, registry: mapping))
        }
        guard message.topic.hasPrefix(Topics.bankStatementsRaw.name) else {
            throw MessageRejection(
                code: "not_handled", reason: "raw messages on \(message.topic) are not handled by this build")
        }
        return .statementFile(try statementFile(message))
    }

    /// Values that become keys of indexed columns (our bank account, end-to-end ids, payers'
    /// accounts) are refused past lengths no bank writes (ISO 20022 allows 34 and 35 characters),
    /// so a file can never fail an index's size limit half-way.
    static func checkKeyLengths(_ parsed: ParsedStatementFile, _ lines: [StatementLine]) throws(StatementFileError) {
        for statement in parsed.statements where statement.account.utf8.count > 70 {
            throw StatementFileError(
                "field_too_long", "the account identifier is longer than 70 bytes", at: statement.location)
        }
        for line in lines {
            if let value = line.endToEndId, value.utf8.count > 200 {
                throw StatementFileError("field_too_long", "the end-to-end id is longer than 200 bytes", at: line.location)
            }
            if let value = line.clues.payerAccount, value.utf8.count > 200 {
                throw StatementFileError(
                    "field_too_long", "the payer's account is longer than 200 bytes", at: line.location)
            }
        }
    }

    /// Checks the signature on the raw body before anything reads it, then reads the event.
    func gatewayEvent(_ message: KafkaMessage) throws(MessageRejection) -> GatewayInput {
        guard !settings.gateway.secrets.isEmpty else {
            throw MessageRejection(
                code: "gateway_not_configured", reason: "no webhook secret is configured (GATEWAY_WEBHOOK_SECRETS)")
        }
        let header = message.headers.last { $0.name.lowercased() == "stripe-signature" }?.text
        // Judged against when the webhook arrived, never when it is read: the same message decides
        // the same way however late, and however often, it is consumed.
        let receivedAtMs: Int64
        if let text = message.headers.text(GatewayEventHeaders.receivedAtMs) {
            guard let value = Int64(text), value > 0 else {
                throw MessageRejection(
                    code: "invalid_header", reason: "\(GatewayEventHeaders.receivedAtMs) must be milliseconds since the epoch")
            }
            receivedAtMs = value
        } else if let timestamp = message.timestampMs, timestamp > 0 {
            receivedAtMs = timestamp
        } else {
            throw MessageRejection(
                code: "no_receive_time",
                reason: "neither a \(GatewayEventHeaders.receivedAtMs) header nor a message timestamp says when it arrived")
        }
        let signedAt: Int64
        do {
            signedAt = try settings.gateway.verify(
                header: header, body: message.value, nowSeconds: receivedAtMs / 1_000)
        } catch {
            throw MessageRejection(code: error.code, reason: error.description)
        }
        do {
            let event = try GatewayEvent.parse(message.value)
            guard (1...200).contains(event.id.utf8.count) else {
                throw StatementFileError("invalid_event", "the event id must be 1 to 200 bytes", at: "body")
            }
            return GatewayInput(
                event: event, raw: message.value,
                signatureHash: Hex.encode(Digests.sha256((header ?? "").utf8)), signedAt: signedAt,
                movements: try GatewayEventMapper.movements(event, accountKeys: settings.gatewayAccountKeys),
                topic: message.topic, partition: message.partition, offset: message.offset)
        } catch let error as StatementFileError {
            throw MessageRejection(code: error.code, reason: "\(error.reason) (\(error.location))")
        } catch {
            throw MessageRejection(code: "invalid_event", reason: "\(error)")
        }
    }

    /// A bank statement file, or (with `registry`) a payment registry file read by that mapping.
    func statementFile(_ message: KafkaMessage, registry: CSVMapping? = nil) throws(MessageRejection)
        -> StatementFileInput
    {
        let headers = message.headers
        let contentSHA256 = Hex.encode(Digests.sha256(contiguous: message.value))
        let fileID =
            headers.text(StatementFileHeaders.fileID)
            ?? "sha256:\(contentSHA256)" + (message.timestampMs.map { "@\($0)" } ?? "")
        guard (1...200).contains(fileID.utf8.count) else {
            throw MessageRejection(code: "invalid_header", reason: "file_id must be 1 to 200 bytes")
        }
        let bankAccount = headers.text(StatementFileHeaders.bankAccount)
        var encoding: TextEncoding?
        if let name = headers.text(StatementFileHeaders.encoding) {
            guard let known = TextEncoding(rawValue: name.lowercased()) else {
                throw MessageRejection(
                    code: "wrong_encoding",
                    reason:
                        "encoding '\(name)' is not one of \(TextEncoding.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            encoding = known
        } else if let bankAccount {
            encoding = settings.encodings[bankAccount]
        }
        let format = registry == nil ? headers.text(StatementFileHeaders.format) : "csv"
        let mapping = registry ?? bankAccount.flatMap { settings.csvMappings[$0] } ?? settings.defaultCSVMapping
        do {
            var parsed = try StatementFiles.parse(
                message.value, format: format, encoding: encoding, csvMapping: mapping)
            if registry != nil { parsed.format = "registry" }
            let lines = try StatementLines.lines(of: parsed, fileKey: String(contentSHA256.prefix(32)))
            try Self.checkKeyLengths(parsed, lines)
            return StatementFileInput(
                fileID: fileID, contentSHA256: contentSHA256, fileName: headers.text(StatementFileHeaders.fileName),
                bytes: message.value,
                parsed: parsed, lines: lines, topic: message.topic, partition: message.partition,
                offset: message.offset)
        } catch {
            throw MessageRejection(code: error.code, reason: "\(error.reason) (\(error.location))")
        }
    }
}
