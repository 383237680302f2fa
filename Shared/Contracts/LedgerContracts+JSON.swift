import BillingSupport

/// The ledger events the allocator writes for nearly every payment, written without an `Encoder`.
/// Keys in sorted order, as `ContractJSONWriter` sorts them; tested byte for byte against it.

extension BalanceChanged: DirectJSONWritable {
    public func writeJSON(to out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        JSONBytes.appendKey("account", first: true, to: &out)
        JSONBytes.appendQuoted(account, to: &out)
        JSONBytes.appendKey("balance_minor", to: &out)
        JSONBytes.appendDigits(balanceMinor, to: &out)
        JSONBytes.appendKey("currency", to: &out)
        JSONBytes.appendQuoted(currency, to: &out)
        JSONBytes.appendKey("movements", to: &out)
        JSONBytes.appendArray(movements, to: &out) { movement, out in
            out.append(UInt8(ascii: "{"))
            JSONBytes.appendKey("amount_minor", first: true, to: &out)
            JSONBytes.appendDigits(movement.amountMinor, to: &out)
            JSONBytes.appendKey("document", to: &out)
            JSONBytes.appendQuoted(movement.document, to: &out)
            JSONBytes.appendKey("kind", to: &out)
            JSONBytes.appendQuoted(movement.kind, to: &out)
            out.append(UInt8(ascii: "}"))
        }
        JSONBytes.appendKey("previous_minor", to: &out)
        JSONBytes.appendDigits(previousMinor, to: &out)
        out.append(UInt8(ascii: "}"))
    }
}

extension AllocationsChanged: DirectJSONWritable {
    public func writeJSON(to out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        JSONBytes.appendKey("account", first: true, to: &out)
        JSONBytes.appendQuoted(account, to: &out)
        JSONBytes.appendKey("allocations", to: &out)
        JSONBytes.appendArray(allocations, to: &out) { line, out in
            out.append(UInt8(ascii: "{"))
            JSONBytes.appendKey("amount_minor", first: true, to: &out)
            JSONBytes.appendDigits(line.amountMinor, to: &out)
            JSONBytes.appendKey("credit", to: &out)
            JSONBytes.appendQuoted(line.credit, to: &out)
            JSONBytes.appendKey("debit", to: &out)
            JSONBytes.appendQuoted(line.debit, to: &out)
            JSONBytes.appendKey("reason", to: &out)
            JSONBytes.appendQuoted(line.reason, to: &out)
            out.append(UInt8(ascii: "}"))
        }
        JSONBytes.appendKey("currency", to: &out)
        JSONBytes.appendQuoted(currency, to: &out)
        out.append(UInt8(ascii: "}"))
    }
}

extension DebitStateChanged: DirectJSONWritable {
    public func writeJSON(to out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        JSONBytes.appendKey("account", first: true, to: &out)
        JSONBytes.appendQuoted(account, to: &out)
        JSONBytes.appendKey("document", to: &out)
        JSONBytes.appendQuoted(document, to: &out)
        JSONBytes.appendKey("kind", to: &out)
        JSONBytes.appendQuoted(kind, to: &out)
        if let number {
            JSONBytes.appendKey("number", to: &out)
            JSONBytes.appendQuoted(number, to: &out)
        }
        JSONBytes.appendKey("open_minor", to: &out)
        JSONBytes.appendDigits(openMinor, to: &out)
        JSONBytes.appendKey("state", to: &out)
        JSONBytes.appendQuoted(state, to: &out)
        JSONBytes.appendKey("total_minor", to: &out)
        JSONBytes.appendDigits(totalMinor, to: &out)
        out.append(UInt8(ascii: "}"))
    }
}
