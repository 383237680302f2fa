import BillingDomain

/// ISO 20022 bank-to-customer messages: camt.053 statements, camt.054 debit/credit notifications
/// and camt.052 account reports, versions .001.02 to .001.10, read as a stream of XML events
/// (no DOM: a file of 100,000 entries costs its bytes plus one entry at a time).
///
/// Where versions differ the parser takes either form: `Sts` as text (≤ .05) or `Sts/Cd` (≥ .06);
/// a party's name directly under `Dbtr` (≤ .07) or under `Dbtr/Pty` (≥ .08); a detail's amount as
/// `TxDtls/Amt` (≥ .03) or `AmtDtls/TxAmt/Amt`; accounts by `IBAN` or `Othr/Id`.
public enum CamtParser {
    /// With `onEntry`, each entry is handed over as soon as it is read (with its statement's index)
    /// and not kept: a file of any size is read in the memory of one entry, and the statements
    /// returned carry their totals and balances only.
    public static func parse(_ bytes: [UInt8], onEntry: ((Int, ParsedEntry) -> Void)? = nil)
        throws(StatementFileError) -> ParsedStatementFile
    {
        var reader = XMLReader(bytes)
        var state = State()
        state.onEntry = onEntry
        do {
            while let event = try reader.next() {
                try state.handle(event, path: reader.path)
            }
        } catch let error as XMLError {
            throw StatementFileError("invalid_xml", error.problem, at: "byte \(error.offset)")
        } catch let error as StatementFileError {
            throw error
        } catch {
            throw StatementFileError("invalid_xml", "\(error)", at: "unknown")
        }
        guard let format = state.format else {
            throw StatementFileError(
                "unknown_format", "not an ISO 20022 camt.052, camt.053 or camt.054 document", at: "root element")
        }
        return ParsedStatementFile(format: format, statements: state.statements)
    }

    /// Pending balance fields while inside `Bal`.
    struct Balance {
        var code: String?
        var amount: String?
        var currency: String?
        var credit = true
        var date: String?
    }

    struct State {
        var onEntry: ((Int, ParsedEntry) -> Void)?
        var format: String?
        var messageKind: String?
        var statements: [ParsedStatement] = []
        var statement: ParsedStatement?
        var balance: Balance?
        var entry: ParsedEntry?
        var entryAmount: (text: String, currency: String)?
        var entryCredit: Bool?
        var detail: ParsedDetail?
        var detailAmount: (text: String, currency: String)?
        var transactionAmount: (text: String, currency: String)?
        var inCharges = false
        var chargeRecords = 0
        /// The charge being read: a `Rcrd`, or (older versions) the `Chrgs` block itself.
        var charge: (text: String?, currency: String?, included: Bool?)?
        var chargeTotal: (text: String, currency: String)?
        var domain: [String] = []
        /// Where inside a transaction the reader is (set on start, cleared on end): cheaper than
        /// searching the path on every text event.
        var party: String?
        var inDebtorAccount = false
        var inCreditorAccount = false
        var inReturn = false
        var inBankCode = false
        var attributeCurrency: String?
        var entryCount = 0

        var location: String {
            "Stmt \(statements.count + 1)" + (entry != nil ? " Ntry \(entryCount)" : "")
        }

        mutating func handle(_ event: XMLEvent, path: [String]) throws {
            switch event {
            case .start(let name, let attributes):
                try start(name, attributes, depth: path.count)
            case .end(let name):
                try end(name)
            case .text(let text):
                try self.text(text, path)
            }
        }

        mutating func start(_ name: String, _ attributes: [XMLAttribute], depth: Int) throws {
            attributeCurrency = attributes.first { $0.name == "Ccy" }?.value
            switch (name, depth) {
            case ("Document", 1):
                // xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"
                if let namespace = attributes.first(where: { $0.name == "xmlns" || $0.name.hasPrefix("xmlns") })?.value,
                    let range = namespace.firstRange(of: "camt.")
                {
                    format = String(namespace[range.lowerBound...])
                }
                return
            case ("BkToCstmrStmt", 2), ("BkToCstmrDbtCdtNtfctn", 2), ("BkToCstmrAcctRpt", 2):
                messageKind = name
                if format == nil {
                    format =
                        name == "BkToCstmrStmt" ? "camt.053" : name == "BkToCstmrDbtCdtNtfctn" ? "camt.054" : "camt.052"
                }
                return
            default:
                break
            }
            if depth == 3, messageKind != nil, name == "Stmt" || name == "Ntfctn" || name == "Rpt" {
                statement = ParsedStatement(account: "", location: "Stmt \(statements.count + 1)")
                entryCount = 0
                return
            }
            guard statement != nil else { return }
            switch name {
            case "Bal" where entry == nil:
                balance = Balance()
            case "Ntry" where entry == nil:
                entryCount += 1
                entry = ParsedEntry(amountMinor: 0, currency: "", isCredit: true, location: location)
                entryAmount = nil
                entryCredit = nil
            case "TxDtls" where entry != nil:
                detail = ParsedDetail()
                detailAmount = nil
                transactionAmount = nil
            case "Chrgs" where entry != nil:
                inCharges = true
                chargeRecords = 0
                chargeTotal = nil
                charge = (nil, nil, nil)
            case "Rcrd" where inCharges:
                charge = (nil, nil, nil)
            case "BkTxCd":
                domain = []
                inBankCode = true
            case "Dbtr", "Cdtr", "UltmtDbtr", "UltmtCdtr":
                if party == nil { party = name }
            case "DbtrAcct": inDebtorAccount = true
            case "CdtrAcct": inCreditorAccount = true
            case "RtrInf": inReturn = true
            default:
                break
            }
        }

        mutating func end(_ name: String) throws {
            switch name {
            case "Stmt", "Ntfctn", "Rpt":
                guard var finished = statement, entry == nil else { return }
                if finished.currency == nil {
                    finished.currency = finished.opening?.currency ?? finished.closing?.currency
                }
                statements.append(finished)
                statement = nil
            case "Bal":
                guard let pending = balance, entry == nil else { return }
                balance = nil
                guard let amount = pending.amount, let currency = pending.currency else {
                    throw StatementFileError("invalid_statement", "a balance without an amount", at: location)
                }
                let minor = try minorUnits(amount, currency, at: location + " Bal")
                let stated = StatedBalance(
                    minor: pending.credit ? minor : -minor, currency: currency,
                    date: try pending.date.map { text throws(StatementFileError) in try date(text) })
                switch pending.code {
                case "OPBD", "PRCD": if statement?.opening == nil { statement?.opening = stated }
                case "CLBD": statement?.closing = stated
                default: break
                }
            case "Ntry":
                guard var finished = entry else { return }
                entry = nil
                guard let amount = entryAmount else {
                    throw StatementFileError("invalid_statement", "an entry without an amount", at: finished.location)
                }
                guard let credit = entryCredit else {
                    throw StatementFileError(
                        "invalid_statement", "an entry without a credit/debit indicator", at: finished.location)
                }
                finished.currency = amount.currency
                finished.amountMinor = try minorUnits(amount.text, amount.currency, at: finished.location)
                finished.isCredit = credit
                try statement?.add(finished, keep: onEntry == nil)
                onEntry?(statements.count, finished)
            case "TxDtls":
                guard var finished = detail else { return }
                detail = nil
                if let amount = detailAmount ?? transactionAmount {
                    finished.currency = amount.currency
                    finished.amountMinor = try minorUnits(amount.text, amount.currency, at: location + " TxDtls")
                }
                entry?.details.append(finished)
            case "Rcrd" where inCharges:
                try appendCharge()
                chargeRecords += 1
                charge = nil
            case "Chrgs" where inCharges:
                if chargeRecords == 0 {
                    if charge?.text == nil, let total = chargeTotal { charge = (total.text, total.currency, nil) }
                    try appendCharge()
                }
                inCharges = false
                charge = nil
            case "BkTxCd":
                inBankCode = false
                if entry != nil, detail == nil, entry?.transactionCode == nil, !domain.isEmpty {
                    entry?.transactionCode = domain.joined(separator: "/")
                }
            case "Dbtr", "Cdtr", "UltmtDbtr", "UltmtCdtr":
                if party == name { party = nil }
            case "DbtrAcct": inDebtorAccount = false
            case "CdtrAcct": inCreditorAccount = false
            case "RtrInf": inReturn = false
            default:
                break
            }
        }

        mutating func text(_ text: String, _ path: [String]) throws {
            guard statement != nil, let name = path.last else { return }
            let parent = path.count >= 2 ? path[path.count - 2] : ""
            if balance != nil, entry == nil {
                switch (parent, name) {
                case ("CdOrPrtry", "Cd"), ("CdOrPrtry", "Prtry"): balance?.code = text
                case (_, "Amt") where parent == "Bal":
                    balance?.amount = text
                    balance?.currency = attributeCurrency
                case ("Bal", "CdtDbtInd"): balance?.credit = text != "DBIT"
                case ("Dt", "Dt"), ("Dt", "DtTm"): balance?.date = text
                default: break
                }
                return
            }
            if entry == nil {
                switch (parent, name) {
                case ("Stmt", "Id"), ("Ntfctn", "Id"), ("Rpt", "Id"): statement?.id = text
                case ("Id", "IBAN") where path.contains("Acct") && path[path.count - 3] == "Acct":
                    statement?.account = text
                case ("Othr", "Id") where path.count >= 4 && path[path.count - 4] == "Acct":
                    if statement?.account.isEmpty ?? true { statement?.account = text }
                case ("Acct", "Ccy"): statement?.currency = text
                case (_, "ElctrncSeqNb"), (_, "LglSeqNb"):
                    if statement?.sequence == nil { statement?.sequence = text }
                default: break
                }
                return
            }
            if inCharges {
                switch name {
                case "TtlChrgsAndTaxAmt": chargeTotal = (text, attributeCurrency ?? "")
                case "Amt" where parent == "Rcrd" || parent == "Chrgs":
                    charge?.text = text
                    charge?.currency = attributeCurrency
                case "ChrgInclInd": charge?.included = text == "true"
                default: break
                }
                return
            }
            if detail != nil {
                try detailText(text, name: name, parent: parent, path: path)
                return
            }
            switch name {
            case "Amt" where parent == "Ntry":
                entryAmount = (text, attributeCurrency ?? "")
                if attributeCurrency == nil {
                    throw StatementFileError("invalid_statement", "an entry amount without Ccy", at: location)
                }
            case "CdtDbtInd" where parent == "Ntry": entryCredit = try indicator(text)
            case "RvslInd" where parent == "Ntry": entry?.isReversal = text == "true" || text == "1"
            case "Sts" where parent == "Ntry": entry?.status = text
            case "Cd" where parent == "Sts": entry?.status = text
            case "Dt", "DtTm":
                if parent == "BookgDt" {
                    let parsed = try date(text)
                    entry?.bookingDate = parsed
                } else if parent == "ValDt" {
                    let parsed = try date(text)
                    entry?.valueDate = parsed
                }
            case "AcctSvcrRef" where parent == "Ntry": entry?.accountServicerReference = text
            case "NtryRef" where parent == "Ntry": entry?.entryReference = text
            case "AddtlNtryInf" where parent == "Ntry": entry?.information = text
            case "Cd" where parent == "Domn" || parent == "Fmly", "SubFmlyCd": domain.append(text)
            case "Cd" where parent == "Prtry" && inBankCode:
                if domain.isEmpty { domain.append(text) }
            default: break
            }
        }

        mutating func detailText(_ text: String, name: String, parent: String, path: [String]) throws {
            switch name {
            case "Amt":
                if parent == "TxDtls" {
                    detailAmount = (text, attributeCurrency ?? "")
                } else if parent == "TxAmt" {
                    transactionAmount = (text, attributeCurrency ?? "")
                }
            case "CdtDbtInd" where parent == "TxDtls":
                let credit = try indicator(text)
                detail?.isCredit = credit
            case "EndToEndId" where parent == "Refs": detail?.endToEndId = text
            case "InstrId" where parent == "Refs": detail?.instructionId = text
            case "TxId" where parent == "Refs": detail?.transactionId = text
            case "AcctSvcrRef" where parent == "Refs": detail?.accountServicerReference = text
            case "Ustrd" where parent == "RmtInf": detail?.remittance.append(text)
            case "Ref" where parent == "CdtrRefInf": detail?.creditorReference = text.trimmingSpaces()
            case "Cd" where parent == "Rsn" && inReturn: detail?.returnReason = text
            case "AddtlTxInf" where parent == "TxDtls": detail?.additionalInformation = text
            case "Nm" where parent == "Dbtr" || parent == "Pty" || parent == "Cdtr":
                if party == "Dbtr" { detail?.debtorName = text } else if party == "Cdtr" { detail?.creditorName = text }
            case "IBAN" where parent == "Id":
                if inDebtorAccount {
                    detail?.debtorAccount = text
                } else if inCreditorAccount {
                    detail?.creditorAccount = text
                }
            case "Id" where parent == "Othr":
                if inDebtorAccount, detail?.debtorAccount == nil {
                    detail?.debtorAccount = text
                } else if inCreditorAccount, detail?.creditorAccount == nil {
                    detail?.creditorAccount = text
                }
            default: break
            }
        }

        mutating func appendCharge() throws(StatementFileError) {
            guard let pending = charge, let text = pending.text, let currency = pending.currency, entry != nil else {
                return
            }
            let minor = try minorUnits(text, currency, at: location + " Chrgs")
            entry?.charges.append((minor, currency, pending.included))
        }

        func indicator(_ text: String) throws(StatementFileError) -> Bool {
            switch text {
            case "CRDT": return true
            case "DBIT": return false
            default: throw StatementFileError("invalid_statement", "credit/debit indicator '\(text)'", at: location)
            }
        }

        func date(_ text: String) throws(StatementFileError) -> LocalDate {
            do {
                return try LocalDate.parse(String(text.prefix(10)))
            } catch {
                throw StatementFileError("invalid_date", error.description, at: location)
            }
        }
    }
}
