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

    /// `{"a","b",NULL}` for a `text[]` parameter; every element is quoted and escaped. Built as
    /// UTF-8 bytes: batches put thousands of values through here.
    public static func strings<S: Sequence>(_ values: S) -> PGParameter where S.Element == String? {
        var literal = ArrayLiteral()
        for value in values {
            guard var value else {
                literal.appendNull()
                continue
            }
            value.withUTF8 { literal.appendQuoted($0) }
        }
        return literal.parameter()
    }

    public static func strings<S: Sequence>(_ values: S) -> PGParameter where S.Element == String {
        var literal = ArrayLiteral()
        for var value in values { value.withUTF8 { literal.appendQuoted($0) } }
        return literal.parameter()
    }

    /// A `bytea[]` parameter in PostgreSQL's binary array format (no hex doubling, no parsing on
    /// the server), for `unnest($1::bytea[])`. The parameter's type comes from that cast.
    public static func byteStrings<S: Sequence>(_ values: S) -> PGParameter where S.Element == [UInt8]? {
        let elements = Array(values)
        var out: [UInt8] = []
        out.reserveCapacity(20 + elements.reduce(0) { $0 + 4 + ($1?.count ?? 0) })
        func append(_ value: Int32) {
            withUnsafeBytes(of: value.bigEndian) { out.append(contentsOf: $0) }
        }
        append(elements.isEmpty ? 0 : 1)  // dimensions
        append(elements.contains { $0 == nil } ? 1 : 0)  // has nulls
        append(17)  // element type: bytea
        if !elements.isEmpty {
            append(Int32(elements.count))
            append(1)  // lower bound
        }
        for element in elements {
            guard let element else {
                append(-1)
                continue
            }
            append(Int32(element.count))
            out.append(contentsOf: element)
        }
        return .bytes(out)
    }

    /// The text of an array literal, written byte by byte.
    private struct ArrayLiteral {
        private static let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
        private var bytes: [UInt8] = [UInt8(ascii: "{")]
        private var empty = true

        private mutating func separate() {
            if !empty { bytes.append(UInt8(ascii: ",")) }
            empty = false
        }

        mutating func appendNull() {
            separate()
            bytes.append(contentsOf: "NULL".utf8)
        }

        mutating func appendQuoted(_ utf8: UnsafeBufferPointer<UInt8>) {
            separate()
            bytes.reserveCapacity(bytes.count + utf8.count + 2)
            bytes.append(Self.quote)
            for byte in utf8 {
                if byte == Self.quote || byte == Self.backslash { bytes.append(Self.backslash) }
                bytes.append(byte)
            }
            bytes.append(Self.quote)
        }

        func parameter() -> PGParameter {
            var closed = bytes
            closed.append(UInt8(ascii: "}"))
            return .text(String(decoding: closed, as: UTF8.self))
        }
    }
}
