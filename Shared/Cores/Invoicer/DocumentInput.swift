import BillingContracts
import BillingDomain

/// One message on the invoicer's topics, decoded and checked for shape. Whether a command can be
/// carried out is decided later, in the batch, against the documents and the account copy.
public enum DocumentInput: Sendable {
    /// An account opened, changed or changed state (from `billing.accounts`): the invoicer's copy.
    case account(AccountSnapshot)
    case command(DocumentCommand)
}

/// A document command: its id (the CloudEvents id), its kind and its body.
public struct DocumentCommand: Sendable {
    /// The commands on `billing.document.commands`, each a CloudEvents type (`DocumentTypes.commands`).
    public enum Kind: EventTypeKind {
        case create, update, post, reject, cancel

        public var type: String {
            switch self {
            case .create: return DocumentTypes.create
            case .update: return DocumentTypes.update
            case .post: return DocumentTypes.post
            case .reject: return DocumentTypes.reject
            case .cancel: return DocumentTypes.cancel
            }
        }
    }

    public enum Body: Sendable {
        case create(DocumentCreateCommand)
        case update(DocumentUpdateCommand)
        case post(DocumentPostCommand)
        case reject(DocumentRejectCommand)
        case cancel(InvoiceCancelCommand)
    }

    public let id: String
    public let body: Body

    public init(id: String, body: Body) {
        self.id = id
        self.body = body
    }

    public var kind: Kind {
        switch body {
        case .create: return .create
        case .update: return .update
        case .post: return .post
        case .reject: return .reject
        case .cancel: return .cancel
        }
    }

    /// The CloudEvents type, as command outcomes record it.
    public var type: String { kind.type }

    public var account: String {
        switch body {
        case .create(let command): return command.account
        case .update(let command): return command.account
        case .post(let command): return command.account
        case .reject(let command): return command.account
        case .cancel(let command): return command.account
        }
    }

    public var origin: CommandOrigin {
        switch body {
        case .create(let command): return command.origin
        case .update(let command): return command.origin
        case .post(let command): return command.origin
        case .reject(let command): return command.origin
        case .cancel(let command): return command.origin
        }
    }

    /// The stored documents the command names (by id, reference or number).
    public var namedDocuments: [String] {
        switch body {
        case .create(let command): return command.invoice.map { [$0] } ?? []
        case .update(let command): return [command.document]
        case .post(let command): return [command.document]
        case .reject(let command): return [command.document]
        case .cancel(let command): return [command.invoice]
        }
    }
}

/// Decodes the invoicer's inputs. Anything refused here can never succeed and is dead-lettered
/// with the reason; a command that is well formed but breaks a rule is refused later, with an outcome.
public enum DocumentInputDecoder {
    public typealias Decode = @Sendable (CloudEvent) throws(MessageRejection) -> DocumentInput

    /// Every input the invoicer takes, by CloudEvents type: document commands and account snapshots.
    public static let routes: [String: Decode] = Dictionary(
        uniqueKeysWithValues: DocumentTypes.commands.map { ($0, decodeCommand) }
    )
    .merging(accountRoutes) { command, _ in command }

    static let decodeCommand: Decode = { event throws(MessageRejection) in
        guard let kind = DocumentCommand.Kind(type: event.type) else {
            throw MessageRejection(EnvelopeError.unknownType(event.type))
        }
        let body: DocumentCommand.Body
        switch kind {
        case .create: body = .create(try EventBody.decodeStrict(event))
        case .update: body = .update(try EventBody.decodeStrict(event))
        case .post: body = .post(try EventBody.decodeStrict(event))
        case .reject: body = .reject(try EventBody.decodeStrict(event))
        case .cancel: body = .cancel(try EventBody.decodeStrict(event))
        }
        let command = DocumentCommand(id: event.id, body: body)
        guard (1...40).contains(command.account.count) else {
            throw EventBody.invalid("account '\(command.account)' is not an account number")
        }
        guard (1...200).contains(command.origin.requestedBy.count) else {
            throw EventBody.invalid("origin.requested_by must be 1 to 200 characters")
        }
        return .command(command)
    }

    static let accountRoutes: [String: Decode] = Dictionary(
        uniqueKeysWithValues: LedgerTypes.accountSnapshots.map { ($0, decodeAccount) })

    static let decodeAccount: Decode = { event throws(MessageRejection) in
        .account(try EventBody.accountSnapshot(event))
    }
}
