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

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Carry this command out at most once: run again with the same key and the same content, it prints the first outcome; with other content it is refused (exit 1). Use it to retry after exit 3.",
            valueName: "KEY"))
    var idempotencyKey: String?

    /// The command id a key stands for (`key:KEY`), or a new one without a key.
    func commandID() throws -> String {
        guard let key = idempotencyKey else { return UUID().uuidString.lowercased() }
        guard (1...128).contains(key.utf8.count), key.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw CtlFailure.usage("--idempotency-key must be 1 to 128 visible ASCII characters (no spaces)")
        }
        return "key:" + key
    }
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
