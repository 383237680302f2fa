import BillingKafka
import BillingPostgres
import BillingSupport

/// A failure with the exit code the conventions give it.
struct CtlFailure: Error {
    static let refusedExitCode: Int32 = 1
    static let usageExitCode: Int32 = 2
    static let unavailableExitCode: Int32 = 3

    let message: String
    let exitCode: Int32

    static func refused(_ reason: String) -> CtlFailure {
        CtlFailure(message: "refused: \(reason)", exitCode: refusedExitCode)
    }
    static func usage(_ reason: String) -> CtlFailure {
        CtlFailure(message: "usage: \(reason)", exitCode: usageExitCode)
    }
    static func unavailable(_ reason: String) -> CtlFailure {
        CtlFailure(message: "unavailable: \(reason)", exitCode: unavailableExitCode)
    }

    init(message: String, exitCode: Int32) {
        self.message = message
        self.exitCode = exitCode
    }

    /// Classifies an error from the layers below: connection problems are "unavailable" (3).
    init(_ error: any Error) {
        switch error {
        case let failure as CtlFailure:
            self = failure
        case let error as PGError where error.isTransient:
            self = .unavailable("database: \(error)")
        case let error as PGError:
            self.init(message: "database error: \(error)", exitCode: 1)
        case let error as KafkaError:
            self = .unavailable("kafka: \(error)")
        case let error as ConfigurationError:
            self = .usage(error.description)
        default:
            self.init(message: "error: \(error)", exitCode: 1)
        }
    }
}
