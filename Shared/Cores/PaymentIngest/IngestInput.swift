import BillingContracts
import BillingIngest

/// One message on payment-ingest's topics, decoded. A statement file is parsed here (pure work):
/// a file that cannot be read is refused with the reason and dead-lettered, never half-booked.
public enum IngestInput: Sendable {
    case statementFile(StatementFileInput)
    /// The ingest's copy of an account, for identification.
    case account(AccountSnapshot)
    /// A posted document: its number and reference name the account in remittances.
    case document(DocumentPosted)
    /// A gateway webhook whose signature was verified on its raw bytes.
    case gatewayEvent(GatewayInput)
    /// A command to a cash desk (its id is the CloudEvents id).
    case deskCommand(id: String, kind: CashDeskCommandKind, CashDeskCommand)
}

/// A verified gateway event and what it moves.
public struct GatewayInput: Sendable {
    public let event: GatewayEvent
    public let raw: [UInt8]
    /// SHA-256 of the signature header: the same signed request seen twice is a replay.
    public let signatureHash: String
    public let signedAt: Int64
    public let movements: [GatewayMovement]
    public let topic: String
    public let partition: Int32
    public let offset: Int64

    public init(
        event: GatewayEvent, raw: [UInt8], signatureHash: String, signedAt: Int64, movements: [GatewayMovement],
        topic: String, partition: Int32, offset: Int64
    ) {
        self.event = event
        self.raw = raw
        self.signatureHash = signatureHash
        self.signedAt = signedAt
        self.movements = movements
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }
}

/// A bank statement file as it arrived: raw bytes, what its headers said, and what was read from it.
public struct StatementFileInput: Sendable {
    /// From the `file_id` header (what `billing-ctl import` waits for), else from the message
    /// itself: `sha256:<content hash>@<produce timestamp ms>`, never from where it sits in the log.
    /// A copy produced again is another import (its lines are duplicates); the same message
    /// delivered twice (a producer's retry) is the same one.
    public let fileID: String
    public let contentSHA256: String
    public let fileName: String?
    public let bytes: [UInt8]
    public let parsed: ParsedStatementFile
    /// The lines the system books, read from `parsed` when the message was decoded.
    public let lines: [StatementLine]
    public let topic: String
    public let partition: Int32
    public let offset: Int64

    public init(
        fileID: String, contentSHA256: String, fileName: String?, bytes: [UInt8], parsed: ParsedStatementFile,
        lines: [StatementLine], topic: String, partition: Int32, offset: Int64
    ) {
        self.fileID = fileID
        self.contentSHA256 = contentSHA256
        self.fileName = fileName
        self.bytes = bytes
        self.parsed = parsed
        self.lines = lines
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }
}

/// The commands on `billing.cash-desk.commands`.
public enum CashDeskCommandKind: EventTypeKind {
    case openShift, payment, closeShift

    public var type: String {
        switch self {
        case .openShift: return CashDeskTypes.openShift
        case .payment: return CashDeskTypes.payment
        case .closeShift: return CashDeskTypes.closeShift
        }
    }
}
