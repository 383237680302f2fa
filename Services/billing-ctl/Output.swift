import ArgumentParser
import BillingPostgres
import BillingSupport
import FoundationEssentials

/// `--json` for every command.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print JSON for machines instead of text for people.")
    var json = false
}

/// `--wait` on every state-changing command, so scripts need not know which commands travel
/// through Kafka: those wait for their outcome; synchronous ones (like `migrate`) are done on return.
struct WaitOptions: ParsableArguments {
    @Flag(name: .long, help: "Wait until the command has taken effect and print its outcome.")
    var wait = false

    @Option(name: .long, help: "Give up waiting after this many seconds (exit 3).")
    var waitTimeoutSeconds: Int = 60
}

/// Prints a value as indented JSON with stable key order.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// Prints rows as an aligned text table.
func printTable(_ header: [String], _ rows: [[String]]) {
    var widths = header.map(\.count)
    for row in rows {
        for (index, cell) in row.enumerated() where index < widths.count {
            widths[index] = max(widths[index], cell.count)
        }
    }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { index, cell in
            index == cells.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
        }.joined(separator: "  ")
    }
    print(line(header))
    for row in rows { print(line(row)) }
}

/// A database connection from `DATABASE_URL`, or exit code 3 with a clear line.
func connectDatabase(applicationName: String = "billing-ctl") throws -> PGConnection {
    let environment = ProcessEnvironment.current()
    let url = try environment.required("DATABASE_URL")
    do {
        return try PGConnection(conninfo: url, applicationName: applicationName, ioTimeoutMs: 30_000)
    } catch {
        throw CtlFailure.unavailable("cannot connect to the database (DATABASE_URL): \(error)")
    }
}
