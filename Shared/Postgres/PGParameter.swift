/// A value sent to the server as a statement parameter, never spliced into SQL text.
public enum PGParameter: Sendable, Hashable {
    case null
    /// Text format: the server parses it according to the parameter's type.
    case text(String)
    /// Binary format; used for `bytea`, where the bytes are sent as they are.
    case bytes([UInt8])
}

/// A Swift value that can travel as a statement parameter.
public protocol PGParameterConvertible: Sendable {
    var pgParameter: PGParameter { get }
}

extension PGParameter: PGParameterConvertible {
    public var pgParameter: PGParameter { self }
}
extension String: PGParameterConvertible {
    public var pgParameter: PGParameter { .text(self) }
}
extension Substring: PGParameterConvertible {
    public var pgParameter: PGParameter { .text(String(self)) }
}
extension Int64: PGParameterConvertible {
    public var pgParameter: PGParameter { .text(String(self)) }
}
extension Int32: PGParameterConvertible {
    public var pgParameter: PGParameter { .text(String(self)) }
}
extension Int: PGParameterConvertible {
    public var pgParameter: PGParameter { .text(String(self)) }
}
extension Bool: PGParameterConvertible {
    public var pgParameter: PGParameter { .text(self ? "true" : "false") }
}
extension Array: PGParameterConvertible where Element == UInt8 {
    public var pgParameter: PGParameter { .bytes(self) }
}
extension Optional: PGParameterConvertible where Wrapped: PGParameterConvertible {
    public var pgParameter: PGParameter {
        switch self {
        case .none: return .null
        case .some(let value): return value.pgParameter
        }
    }
}

/// One-dimensional PostgreSQL array literals, for sending a whole batch as one parameter
/// (`... FROM unnest($1::bigint[], $2::text[])`): one round trip however many rows.
public enum PGArray {
    /// `{1,2,3}` for a `bigint[]` / `int[]` parameter.
    public static func integers<S: Sequence>(_ values: S) -> PGParameter where S.Element: BinaryInteger {
        var text = "{"
        var first = true
        for value in values {
            if !first { text += "," }
            first = false
            text += String(value)
        }
        return .text(text + "}")
    }

    /// `{"a","b",NULL}` for a `text[]` parameter; every element is quoted and escaped.
    public static func strings<S: Sequence>(_ values: S) -> PGParameter where S.Element == String? {
        var text = "{"
        var first = true
        for value in values {
            if !first { text += "," }
            first = false
            guard let value else {
                text += "NULL"
                continue
            }
            text += "\""
            for scalar in value.unicodeScalars {
                if scalar == "\"" || scalar == "\\" { text += "\\" }
                text.unicodeScalars.append(scalar)
            }
            text += "\""
        }
        return .text(text + "}")
    }

    public static func strings<S: Sequence>(_ values: S) -> PGParameter where S.Element == String {
        strings(values.map { Optional($0) })
    }

    /// A `bytea[]` parameter, each element in hex form (`\x0a0b`), for `unnest($1::bytea[])`.
    public static func byteStrings<S: Sequence>(_ values: S) -> PGParameter where S.Element == [UInt8]? {
        strings(values.map { bytes in bytes.map { "\\x" + PGHex.encode($0) } })
    }
}

/// Hex encoding as PostgreSQL writes `bytea` in text form.
public enum PGHex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    public static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes `\x0a0b` (or bare hex) into bytes; `nil` when the text is not hex.
    public static func decode<S: StringProtocol>(_ text: S) -> [UInt8]? {
        var utf8 = Array(text.utf8)
        if utf8.count >= 2, utf8[0] == UInt8(ascii: "\\"), utf8[1] == UInt8(ascii: "x") {
            utf8.removeFirst(2)
        }
        guard utf8.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
