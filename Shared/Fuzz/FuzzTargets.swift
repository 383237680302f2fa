import BillingContracts
import BillingDomain
import BillingIngest
import Foundation

/// Every decoder that input reaches, as one function per fuzz target: the bank statement parsers
/// (camt, MT940, CSV by mapping, payment registries), gateway events and their signatures, and the
/// command contracts with the domain values they carry (amounts, invoice lines, dates).
///
/// A target must return for any bytes: refusing with an error is the expected outcome for most of
/// them; a trap (overflow, force-unwrap, out-of-range index) is a bug. `billing-fuzz` runs them
/// under libFuzzer (`Deploy/local/fuzz`), and the test suite replays every kept input
/// (`Tests/Fuzz/<target>/`) through them.
public enum FuzzTargets {
    public static let names = ["camt", "mt940", "csv", "registry", "gateway", "signature", "commands"]

    static let germanCSV = try? CSVMapping.parse(
        "date=Buchungstag|amount=Betrag|direction=S/H|remittance=Verwendungszweck|payer_name=Name|payer_account=IBAN|"
            + "reference=Referenz|account_value=DE02120300000000202051|currency_value=EUR|delimiter=;|decimal=,|"
            + "date_format=dd.MM.yyyy|credit_values=H|debit_values=S")
    static let signedCSV = try? CSVMapping.parse("date=date|amount=amount|account=account|currency=currency")
    static let registryCSV = try? CSVMapping.parse(
        "date=Date|amount=Amount|client_account=Account|transaction_id=TxnId|account_value=ERIP|currency_value=BYN")
    static let verifier = WebhookSignatureVerifier(secrets: ["whsec_fuzz"])

    /// Runs `target` on `bytes`. Unknown targets do nothing (the caller checks names).
    public static func run(_ target: String, _ bytes: [UInt8]) {
        switch target {
        case "camt": statement(bytes, format: "camt")
        case "mt940": statement(bytes, format: "mt940")
        case "csv":
            statement(bytes, format: "csv", mapping: germanCSV)
            statement(bytes, format: "csv", mapping: signedCSV)
        case "registry": statement(bytes, format: "csv", mapping: registryCSV)
        case "gateway":
            guard let event = try? GatewayEvent.parse(bytes) else { return }
            _ = try? GatewayEventMapper.movements(event, accountKeys: ["account", "account_number"])
        case "signature":
            // The first line is the header, the rest the body.
            let split = bytes.firstIndex(of: 0x0A) ?? bytes.endIndex
            let header = String(decoding: bytes[..<split], as: UTF8.self)
            let body = Array(bytes[min(split + 1, bytes.endIndex)...])
            _ = try? verifier.verify(header: header, body: body, nowSeconds: 1_780_000_000)
        case "commands": commands(bytes)
        default: return
        }
    }

    /// A statement file read whole and streamed, then turned into the lines the system books.
    static func statement(_ bytes: [UInt8], format: String?, mapping: CSVMapping? = nil) {
        if let file = try? StatementFiles.parse(bytes, format: format, csvMapping: mapping) {
            _ = try? StatementLines.lines(of: file)
        }
        _ = try? StatementFiles.parse(bytes, format: nil, csvMapping: mapping)
    }

    /// The command contracts, strictly as the workers read them, and the domain values inside.
    static func commands(_ bytes: [UInt8]) {
        let data = Data(bytes)
        let decoder = ContractJSON.decoder()
        let euro = try? Currency(code: "EUR")
        if let command = try? decoder.decode(MoneyCommand.self, from: data), let euro, let amount = command.amount {
            _ = try? Money.parse(amount, currency: euro)
        }
        _ = try? decoder.decode(AccountSettingsCommand.self, from: data)
        _ = try? decoder.decode(AccountStateCommand.self, from: data)
        _ = try? decoder.decode(RefundPayoutCommand.self, from: data)
        _ = try? decoder.decode(DocumentPosted.self, from: data)
        _ = try? decoder.decode(AccountSnapshot.self, from: data)
        if let create = try? ContractJSON.decodeStrict(DocumentCreateCommand.self, from: data), let euro {
            var lines: [LineAmounts] = []
            for spec in create.lines {
                guard
                    let line = try? InvoiceLine(
                        description: spec.description, quantity: spec.quantity, unitPrice: spec.unitPrice,
                        taxRatePercent: spec.taxRate, discounts: spec.discounts ?? [], currency: euro),
                    let amounts = try? line.amounts()
                else { continue }
                lines.append(amounts)
            }
            _ = try? DocumentTotals(lines: lines, currency: euro)
            for date in [create.issuedOn, create.dueOn, create.postedOn].compactMap({ $0 }) {
                _ = try? LocalDate.parse(date)
            }
        }
        _ = try? ContractJSON.decodeStrict(DocumentUpdateCommand.self, from: data)
        _ = try? ContractJSON.decodeStrict(DocumentPostCommand.self, from: data)
        _ = try? ContractJSON.decodeStrict(DocumentRejectCommand.self, from: data)
        _ = try? ContractJSON.decodeStrict(InvoiceCancelCommand.self, from: data)
        if let desk = try? ContractJSON.decodeStrict(CashDeskCommand.self, from: data), let euro {
            for amount in [desk.amount, desk.float, desk.counted].compactMap({ $0 }) {
                _ = try? Money.parse(amount, currency: euro)
            }
        }
        if let text = String(validating: bytes, as: UTF8.self) {
            _ = try? DecimalNumber.parse(text)
            _ = try? LocalDate.parse(text)
            _ = try? CreditRule.parse(text)
        }
    }
}

/// The inputs kept for each target: `Tests/Fuzz/<target>/corpus` (what fuzzing found worth
/// keeping) and `Tests/Fuzz/<target>/crashers` (inputs that crashed a target once, kept as tests).
public enum FuzzCorpus {
    /// Regular files at `path` (itself, or the files directly in it), sorted.
    public static func files(at path: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return [] }
        guard isDirectory.boolValue else { return [path] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { "\(path)/\($0)" }
    }

    public static func read(_ path: String) -> [UInt8] {
        FileManager.default.contents(atPath: path).map { [UInt8]($0) } ?? []
    }
}
