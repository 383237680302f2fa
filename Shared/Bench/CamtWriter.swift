/// One credit entry of a generated camt.053 statement.
public struct CamtCredit: Sendable {
    public var amountMinor: Int64
    /// The bank's own reference (`AcctSvcrRef`): what makes a line the same line in two files.
    public var bankReference: String
    public var endToEndID: String
    public var payerName: String
    public var payerIBAN: String
    public var remittance: String
    public var bookedOn: String

    public init(
        amountMinor: Int64, bankReference: String, endToEndID: String, payerName: String, payerIBAN: String,
        remittance: String, bookedOn: String
    ) {
        self.amountMinor = amountMinor
        self.bankReference = bankReference
        self.endToEndID = endToEndID
        self.payerName = payerName
        self.payerIBAN = payerIBAN
        self.remittance = remittance
        self.bookedOn = bookedOn
    }
}

/// Writes camt.053.001.08 statements as a bank sends them (one entry per credit transfer, with
/// references, the payer and the remittance text) for benchmarks and load generators.
public enum CamtWriter {
    /// A whole file: one statement of `credits` to `iban`, in EUR.
    public static func statement(id: String, iban: String, credits: [CamtCredit]) -> [UInt8] {
        var text =
            #"<?xml version="1.0" encoding="UTF-8"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt><GrpHdr><MsgId>\#(id)</MsgId></GrpHdr><Stmt><Id>\#(id)</Id><Acct><Id><IBAN>\#(iban)</IBAN></Id><Ccy>EUR</Ccy></Acct>"#
        text += "\n"
        text.reserveCapacity(credits.count * 700)
        for credit in credits {
            text += """
                <Ntry><Amt Ccy="EUR">\(decimal(credit.amountMinor))</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
                <BookgDt><Dt>\(credit.bookedOn)</Dt></BookgDt><ValDt><Dt>\(credit.bookedOn)</Dt></ValDt><AcctSvcrRef>\(credit.bankReference)</AcctSvcrRef>
                <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>
                <NtryDtls><TxDtls><Refs><EndToEndId>\(credit.endToEndID)</EndToEndId></Refs>
                <RltdPties><Dbtr><Pty><Nm>\(credit.payerName)</Nm></Pty></Dbtr><DbtrAcct><Id><IBAN>\(credit.payerIBAN)</IBAN></Id></DbtrAcct></RltdPties>
                <RmtInf><Ustrd>\(credit.remittance)</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>

                """
        }
        text += "</Stmt></BkToCstmrStmt></Document>\n"
        return Array(text.utf8)
    }

    /// Minor units as the decimal text of a two-decimal currency (`12345` → `123.45`).
    public static func decimal(_ minor: Int64) -> String {
        let cents = minor % 100
        return "\(minor / 100).\(cents < 10 ? "0" : "")\(cents)"
    }
}

/// A SplitMix64 generator: reproducible streams from a seed.
public struct BenchRandom: Sendable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// A number in 0..<bound.
    public mutating func next(_ bound: Int) -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int((z ^ (z >> 31)) % UInt64(bound))
    }

    /// True in `percent` of 100 draws.
    public mutating func chance(percent: Int) -> Bool { next(100) < percent }
}
