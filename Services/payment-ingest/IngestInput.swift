import BillingContracts
import BillingDomain
import BillingIngest
import BillingKafka
import BillingPostgres
import BillingRuntime
import BillingSupport

/// One message on payment-ingest's topics, decoded. A statement file is parsed here (pure work):
/// a file that cannot be read is refused with the reason and dead-lettered, never half-booked.
enum IngestInput: Sendable {
    case statementFile(StatementFileInput)
    /// The ingest's copy of an account, for identification.
    case account(AccountSnapshot)
    /// A posted document: its number and reference name the account in remittances.
    case document(DocumentPosted)
    /// A gateway webhook whose signature was verified on its raw bytes.
    case gatewayEvent(GatewayInput)
    /// A command to a cash desk (its id is the CloudEvents id).
    case deskCommand(id: String, type: String, CashDeskCommand)
}

/// A verified gateway event and what it moves.
struct GatewayInput: Sendable {
    let event: GatewayEvent
    let raw: [UInt8]
    /// SHA-256 of the signature header: the same signed request seen twice is a replay.
    let signatureHash: String
    let signedAt: Int64
    let movements: [GatewayMovement]
    let topic: String
    let partition: Int32
    let offset: Int64
}

/// A bank statement file as it arrived: raw bytes, what its headers said, and what was read from it.
struct StatementFileInput: Sendable {
    /// From the `file_id` header (what `billing-ctl import` waits for), else the message's position.
    let fileID: String
    let fileName: String?
    let bytes: [UInt8]
    let parsed: ParsedStatementFile
    let topic: String
    let partition: Int32
    let offset: Int64
}

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
        return .deskCommand(id: event.id, type: event.type, command)
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

    /// Checks the signature on the raw body before anything reads it, then reads the event.
    func gatewayEvent(_ message: KafkaMessage) throws(MessageRejection) -> GatewayInput {
        guard !settings.gateway.secrets.isEmpty else {
            throw MessageRejection(
                code: "gateway_not_configured", reason: "no webhook secret is configured (GATEWAY_WEBHOOK_SECRETS)")
        }
        let header = message.headers.last { $0.name.lowercased() == "stripe-signature" }?.text
        let signedAt: Int64
        do {
            signedAt = try settings.gateway.verify(
                header: header, body: message.value, nowSeconds: wallClockMs() / 1_000)
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
                signatureHash: PGHex.encode(SHA256.hash(Array((header ?? "").utf8))), signedAt: signedAt,
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
        let fileID =
            headers.text(StatementFileHeaders.fileID) ?? "\(message.topic):\(message.partition):\(message.offset)"
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
            return StatementFileInput(
                fileID: fileID, fileName: headers.text(StatementFileHeaders.fileName), bytes: message.value,
                parsed: parsed, topic: message.topic, partition: message.partition, offset: message.offset)
        } catch {
            throw MessageRejection(code: error.code, reason: "\(error.reason) (\(error.location))")
        }
    }
}
