import BillingContracts
import BillingDomain
import BillingRuntime

/// One message on the invoicer's topics, decoded and checked for shape. Whether a command can be
/// carried out is decided later, in the batch, against the documents and the account copy.
enum DocumentInput: Sendable {
    /// An account opened, changed or changed state (from `billing.accounts`): the invoicer's copy.
    case account(AccountSnapshot)
    case command(DocumentCommand)
}

/// A document command: its id (the CloudEvents id), its type and its body.
struct DocumentCommand: Sendable {
    enum Body: Sendable {
        case create(DocumentCreateCommand)
        case update(DocumentUpdateCommand)
        case post(DocumentPostCommand)
        case reject(DocumentRejectCommand)
        case cancel(InvoiceCancelCommand)
    }

    let id: String
    let type: String
    let body: Body

    var account: String {
        switch body {
        case .create(let command): return command.account
        case .update(let command): return command.account
        case .post(let command): return command.account
        case .reject(let command): return command.account
        case .cancel(let command): return command.account
        }
    }

    var origin: CommandOrigin {
        switch body {
        case .create(let command): return command.origin
        case .update(let command): return command.origin
        case .post(let command): return command.origin
        case .reject(let command): return command.origin
        case .cancel(let command): return command.origin
        }
    }

    /// The stored documents the command names (by id, reference or number).
    var namedDocuments: [String] {
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
enum DocumentInputDecoder {
    static let router = EventRouter<DocumentInput>(
        Dictionary(uniqueKeysWithValues: DocumentTypes.commands.map { ($0, decodeCommand) })
            .merging(accountRoutes) { command, _ in command })

    static let decodeCommand: EventRouter<DocumentInput>.Decode = { event throws(MessageRejection) in
        let body: DocumentCommand.Body
        switch event.type {
        case DocumentTypes.create: body = .create(try EventBody.decodeStrict(event))
        case DocumentTypes.update: body = .update(try EventBody.decodeStrict(event))
        case DocumentTypes.post: body = .post(try EventBody.decodeStrict(event))
        case DocumentTypes.reject: body = .reject(try EventBody.decodeStrict(event))
        case DocumentTypes.cancel: body = .cancel(try EventBody.decodeStrict(event))
        default: throw MessageRejection(EnvelopeError.unknownType(event.type))
        }
        let command = DocumentCommand(id: event.id, type: event.type, body: body)
        guard (1...40).contains(command.account.count) else {
            throw EventBody.invalid("account '\(command.account)' is not an account number")
        }
        guard (1...200).contains(command.origin.requestedBy.count) else {
            throw EventBody.invalid("origin.requested_by must be 1 to 200 characters")
        }
        return .command(command)
    }

    static let accountRoutes: [String: EventRouter<DocumentInput>.Decode] = Dictionary(
        uniqueKeysWithValues: LedgerTypes.accountSnapshots.map { ($0, decodeAccount) })

    static let decodeAccount: EventRouter<DocumentInput>.Decode = { event throws(MessageRejection) in
        .account(try EventBody.accountSnapshot(event))
    }
}
