/// A JSON object of the plainest shape, read without Foundation's `JSONDecoder`: members whose
/// values are strings without escapes, integers, `null`, or arrays of such strings.
///
/// It is a fast path for the contract bodies a worker decodes thousands of times a second
/// (`PaymentIdentified`): it accepts only what it understands completely and returns nil for
/// everything else (an escape, a fraction or exponent, a nested object, a duplicate key, invalid
/// UTF-8, trailing bytes), so that the caller decodes those with `JSONDecoder` as before, with its
/// error messages. A value it returns is what `JSONDecoder` reads from the same bytes.
public struct FlatJSONObject {
    public enum Value: Equatable {
        case string(String)
        case integer(Int64)
        case null
        case strings([String])
    }

    public private(set) var members: [(key: String, value: Value)] = []

    /// Reads `bytes` as one flat object, or returns nil (see the type's comment).
    public init?(_ bytes: [UInt8]) {
        var reader = Reader(bytes: bytes)
        guard reader.consume(UInt8(ascii: "{")) else { return nil }
        reader.skipSpace()
        if !reader.consume(UInt8(ascii: "}")) {
            while true {
                guard let key = reader.string() else { return nil }
                guard !members.contains(where: { $0.key == key }) else { return nil }
                guard reader.consume(UInt8(ascii: ":")), let value = reader.value() else { return nil }
                members.append((key, value))
                if reader.consume(UInt8(ascii: ",")) { continue }
                guard reader.consume(UInt8(ascii: "}")) else { return nil }
                break
            }
        }
        reader.skipSpace()
        guard reader.atEnd else { return nil }
    }

    private struct Reader {
        let bytes: [UInt8]
        var position = 0

        var atEnd: Bool { position == bytes.count }

        mutating func skipSpace() {
            while position < bytes.count {
                switch bytes[position] {
                case 0x20, 0x09, 0x0A, 0x0D: position += 1
                default: return
                }
            }
        }

        /// Skips white space, then takes `byte` if it comes next.
        mutating func consume(_ byte: UInt8) -> Bool {
            skipSpace()
            guard position < bytes.count, bytes[position] == byte else { return false }
            position += 1
            return true
        }

        /// A string without escapes or control characters, as valid UTF-8.
        mutating func string() -> String? {
            guard consume(UInt8(ascii: "\"")) else { return nil }
            let start = position
            while position < bytes.count {
                let byte = bytes[position]
                if byte == UInt8(ascii: "\"") {
                    let text = String(validating: bytes[start..<position], as: UTF8.self)
                    position += 1
                    return text
                }
                if byte == UInt8(ascii: "\\") || byte < 0x20 { return nil }
                position += 1
            }
            return nil
        }

        /// An integer as JSON writes one (no leading zeros, no fraction, no exponent) within Int64.
        mutating func integer() -> Int64? {
            let negative = bytes[position] == UInt8(ascii: "-")
            if negative { position += 1 }
            let start = position
            var magnitude: UInt64 = 0
            while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) {
                let (times, overflowTimes) = magnitude.multipliedReportingOverflow(by: 10)
                let (sum, overflowSum) = times.addingReportingOverflow(UInt64(bytes[position] - UInt8(ascii: "0")))
                guard !overflowTimes, !overflowSum else { return nil }
                magnitude = sum
                position += 1
            }
            let digits = position - start
            guard digits > 0, digits == 1 || bytes[start] != UInt8(ascii: "0") else { return nil }
            if position < bytes.count {
                switch bytes[position] {
                case UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"): return nil
                default: break
                }
            }
            if negative {
                guard magnitude != 0, magnitude <= UInt64(Int64.max) + 1 else { return nil }
                return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
            }
            guard magnitude <= UInt64(Int64.max) else { return nil }
            return Int64(magnitude)
        }

        mutating func value() -> Value? {
            skipSpace()
            guard position < bytes.count else { return nil }
            switch bytes[position] {
            case UInt8(ascii: "\""):
                return string().map(Value.string)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                return integer().map(Value.integer)
            case UInt8(ascii: "n"):
                let literal: [UInt8] = Array("null".utf8)
                guard bytes.count - position >= 4, Array(bytes[position..<position + 4]) == literal else {
                    return nil
                }
                position += 4
                return .null
            case UInt8(ascii: "["):
                position += 1
                var items: [String] = []
                if consume(UInt8(ascii: "]")) { return .strings(items) }
                while true {
                    guard let item = string() else { return nil }
                    items.append(item)
                    if consume(UInt8(ascii: ",")) { continue }
                    guard consume(UInt8(ascii: "]")) else { return nil }
                    return .strings(items)
                }
            default:
                return nil
            }
        }
    }
}

extension PaymentIdentified {
    /// The payment in `bytes` by the fast path, when they hold exactly this contract's members (by
    /// their snake_case names) in the plainest JSON; nil sends the caller to `JSONDecoder`, which
    /// also takes other spellings of the keys, unknown members and escapes, and words the errors.
    public init?(flatJSON bytes: [UInt8]) {
        guard let object = FlatJSONObject(bytes) else { return nil }
        var paymentId: String?
        var account: String?
        var amountMinor: Int64?
        var currency: String?
        var channel: String?
        var receivedOn: String?
        var reference: String?
        var namedItems: [String]?
        var payerName: String?
        for (key, value) in object.members {
            switch (key, value) {
            case ("payment_id", .string(let text)): paymentId = text
            case ("account", .string(let text)): account = text
            case ("amount_minor", .integer(let number)): amountMinor = number
            case ("currency", .string(let text)): currency = text
            case ("channel", .string(let text)): channel = text
            case ("received_on", .string(let text)): receivedOn = text
            case ("reference", .string(let text)): reference = text
            case ("reference", .null): reference = nil
            case ("named_items", .strings(let texts)): namedItems = texts
            case ("named_items", .null): namedItems = nil
            case ("payer_name", .string(let text)): payerName = text
            case ("payer_name", .null): payerName = nil
            default: return nil
            }
        }
        guard let paymentId, let account, let amountMinor, let currency, let channel, let receivedOn else {
            return nil
        }
        self.init(
            paymentId: paymentId, account: account, amountMinor: amountMinor, currency: currency, channel: channel,
            receivedOn: receivedOn, reference: reference, namedItems: namedItems, payerName: payerName)
    }
}
