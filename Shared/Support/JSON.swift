/// JSON written straight into a String (log lines, the ops endpoint's small documents), through
/// the same escaping as `JSONBytes`.
public enum JSONText {
    /// Appends `text` as a JSON string literal.
    public static func appendString(_ text: String, to output: inout String) {
        output += quoted(text)
    }

    /// `text` as a JSON string literal.
    public static func quoted(_ text: String) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count + 2)
        JSONBytes.appendQuoted(text, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// The one JSON writer path: the pieces contract bodies (`ContractJSONWriter`, `DirectJSONWritable`),
/// log lines and the ops endpoint's documents are written with.
public enum JSONBytes {
    /// `"key":`, preceded by a comma unless it opens the object. Keys are written as given
    /// (the callers' are snake_case ASCII literals).
    @inlinable
    public static func appendKey(_ key: StaticString, first: Bool = false, to out: inout [UInt8]) {
        if !first { out.append(UInt8(ascii: ",")) }
        out.append(UInt8(ascii: "\""))
        key.withUTF8Buffer { out.append(contentsOf: $0) }
        out.append(UInt8(ascii: "\""))
        out.append(UInt8(ascii: ":"))
    }

    /// `[…]`, each element written by `element`, comma-separated.
    @inlinable
    public static func appendArray<T>(
        _ elements: [T], to out: inout [UInt8], _ element: (T, inout [UInt8]) -> Void
    ) {
        out.append(UInt8(ascii: "["))
        for (index, value) in elements.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            element(value, &out)
        }
        out.append(UInt8(ascii: "]"))
    }

    /// An integer's decimal digits, written without going through `String`. Inlinable, as every
    /// function here: callers in other modules get it specialised for their integer type (unspecialised
    /// generic arithmetic across the module boundary cost the invoicer 13 % of its throughput).
    @inlinable
    public static func appendDigits<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        if value == 0 {
            out.append(UInt8(ascii: "0"))
            return
        }
        if value < 0 { out.append(UInt8(ascii: "-")) }
        let start = out.count
        // Negative values are taken digit by digit as negative remainders, so T.min needs no abs.
        var rest = value
        while rest != 0 {
            let (quotient, remainder) = rest.quotientAndRemainder(dividingBy: 10)
            out.append(UInt8(ascii: "0") + UInt8(truncatingIfNeeded: remainder.magnitude))
            rest = quotient
        }
        out[start...].reverse()
    }

    /// A JSON string: quotes, backslash, and control characters escaped as JSONEncoder escapes them
    /// (slashes and everything else as they are).
    @inlinable
    public static func appendQuoted(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { bytes in
            if !bytes.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
                out.append(contentsOf: bytes)
                return
            }
            for byte in bytes {
                switch byte {
                case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
                case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
                case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
                case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
                case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
                case 0x08: out += [UInt8(ascii: "\\"), UInt8(ascii: "b")]
                case 0x0C: out += [UInt8(ascii: "\\"), UInt8(ascii: "f")]
                case 0..<0x20:
                    out += Array("\\u00".utf8)
                    Hex.appendDigit(UInt64(byte >> 4), to: &out)
                    Hex.appendDigit(UInt64(byte), to: &out)
                default: out.append(byte)
                }
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
