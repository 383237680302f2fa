/// An exact decimal number: `units` × 10^-`scale` (quantities like 1.5 hours, rates like 7.7 %).
///
/// Parsed from text without floating point; `scale` is at most `scaleMax` so that products with
/// money stay well inside 128-bit intermediates.
public struct DecimalNumber: Sendable, Hashable, CustomStringConvertible, Codable {
    public static let scaleMax = 9

    public let units: Int64
    public let scale: Int

    public init(units: Int64, scale: Int = 0) {
        precondition((0...DecimalNumber.scaleMax).contains(scale), "decimal scale out of range")
        self.units = units
        self.scale = scale
    }

    /// Parses `1.5`, `20`, `-0.25` (plain format) or with another format's separators.
    public static func parse(_ text: String, format: AmountFormat = .plain) throws(DomainError) -> DecimalNumber {
        try parse(
            text, format: format, tooLarge: .invalidQuantity(text: text, problem: "it is too large")
        ) { problem in .invalidQuantity(text: text, problem: problem) }
    }

    static func parse(
        _ text: String, format: AmountFormat, tooLarge: DomainError, error: (String) -> DomainError
    ) throws(DomainError) -> DecimalNumber {
        var characters = Substring(text)
        while let first = characters.first, first == " " || first == "\u{00A0}" || first == "\t" {
            characters.removeFirst()
        }
        while let last = characters.last, last == " " || last == "\u{00A0}" || last == "\t" { characters.removeLast() }
        guard !characters.isEmpty else { throw error("it is empty") }
        var negative = false
        if characters.first == "-" || characters.first == "+" {
            negative = characters.first == "-"
            characters.removeFirst()
        }
        var units: Int64 = 0
        var scale = 0
        var seenSeparator = false
        var digitCount = 0
        for character in characters {
            if character == format.decimalSeparator {
                guard !seenSeparator else { throw error("it has more than one decimal separator") }
                seenSeparator = true
                continue
            }
            if format.groupingSeparators.contains(character), !seenSeparator, digitCount > 0 { continue }
            guard let digit = character.wholeNumberValue, character.isASCII else {
                throw error("'\(character)' is not a digit")
            }
            digitCount += 1
            if seenSeparator {
                scale += 1
                guard scale <= scaleMax else {
                    // Beyond the supported precision only zeros may follow (they change nothing).
                    if digit == 0 { scale -= 1; continue }
                    throw error("it has more than \(scaleMax) decimals")
                }
            }
            let (shifted, overflowA) = units.multipliedReportingOverflow(by: 10)
            let (added, overflowB) = shifted.addingReportingOverflow(Int64(digit))
            guard !overflowA, !overflowB else { throw tooLarge }
            units = added
        }
        guard digitCount > 0 else { throw error("it has no digits") }
        return DecimalNumber(units: negative ? -units : units, scale: scale)
    }

    /// The same value with trailing fractional zeros removed (`1.50` → `1.5`).
    public func trimmingTrailingZeros() -> DecimalNumber {
        var units = self.units
        var scale = self.scale
        while scale > 0, units % 10 == 0 {
            units /= 10
            scale -= 1
        }
        return DecimalNumber(units: units, scale: scale)
    }

    /// The value in units of 10^-`target` when that is exact and fits; nil otherwise.
    public func units(atScale target: Int) -> Int64? {
        if target >= scale {
            var value = units
            for _ in 0..<(target - scale) {
                let (next, overflow) = value.multipliedReportingOverflow(by: 10)
                if overflow { return nil }
                value = next
            }
            return value
        }
        let divisor = Self.powerOfTen(scale - target)
        guard Int128(units) % divisor == 0 else { return nil }
        return Int64(Int128(units) / divisor)
    }

    public var isNegative: Bool { units < 0 }
    /// 0 to 100 inclusive: a tax rate, a discount or a share given in per cent.
    public var isPercentage: Bool {
        !isNegative && (units(atScale: DecimalNumber.scaleMax).map { $0 <= 100 * 1_000_000_000 } ?? false)
    }
    public var isZero: Bool { units == 0 }

    /// Minimal text: `1.5`, `20`, `-0.25`.
    public var description: String { trimmingTrailingZeros().fixedText }

    /// Text with exactly `scale` decimals.
    public var fixedText: String {
        let magnitude = units.magnitude
        var digits = String(magnitude)
        if scale > 0 {
            if digits.count <= scale { digits = String(repeating: "0", count: scale - digits.count + 1) + digits }
            digits.insert(".", at: digits.index(digits.endIndex, offsetBy: -scale))
        }
        return (units < 0 ? "-" : "") + digits
    }

    static func powerOfTen(_ exponent: Int) -> Int128 {
        var value: Int128 = 1
        for _ in 0..<exponent { value *= 10 }
        return value
    }

    // Codable as decimal text, never as a JSON number (which readers may turn into a float).
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        self = try DecimalNumber.parse(text)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
