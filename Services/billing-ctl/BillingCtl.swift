import ArgumentParser
import BillingSupport

#if canImport(Glibc)
    import Glibc
#endif

/// The operator's command line.
///
/// Conventions every subcommand follows: `--help`; human output by default and `--json` for
/// machines; commands that travel through Kafka carry a command id and accept `--wait`; exit codes
/// 0 done, 1 refused by a business rule (reason printed), 2 usage error, 3 infrastructure unavailable.
@main
struct BillingCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "billing-ctl",
        abstract:
            "Operate the billing backend: accounts, balances, statements, money movements, checks, schema, topics.",
        discussion: """
            Configuration: DATABASE_URL (libpq connection string), KAFKA_BOOTSTRAP_SERVERS and any
            KAFKA_* librdkafka property, as for the workers.

            Exit codes: 0 done, 1 refused by a business rule, 2 usage error, 3 infrastructure unavailable.
            After exit 3 a command may or may not have been carried out: send every command that moves
            money with --idempotency-key KEY, and run it again with the same key. The same key with the
            same content is carried out once and prints the first outcome; with other content it is
            refused (exit 1, idempotency_key_reused).
            """,
        subcommands: [
            AccountCommand.self, BalanceCommand.self, StatementCommand.self, PaymentCommand.self, RefundCommand.self,
            RefundsCommand.self, TransferCommand.self, WriteOffCommand.self, VerifyCommand.self, MigrateCommand.self,
            TopicsCommand.self, DeadLettersCommand.self, InvoiceCommand.self, CreditNoteCommand.self,
            ImportCommand.self, CashDeskCommandGroup.self,
        ])

    static func main() {
        TerminationSignals.ignoreBrokenPipe()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let failure as CtlFailure {
            writeStandardError(failure.message)
            Glibc.exit(failure.exitCode)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Glibc.exit(0)
            }
            if code == .validationFailure {
                writeStandardError(fullMessage(for: error))
                Glibc.exit(CtlFailure.usageExitCode)
            }
            if let exitCode = error as? ExitCode { Glibc.exit(exitCode.rawValue) }
            let failure = CtlFailure(error)
            writeStandardError(failure.message)
            Glibc.exit(failure.exitCode)
        }
    }
}
