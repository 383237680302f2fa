#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A configuration problem found at start: the process prints it as one line and exits.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable, Equatable {
    public let variable: String
    public let problem: String

    public init(variable: String, problem: String) {
        self.variable = variable
        self.problem = problem
    }

    public var description: String { "configuration error: \(variable) \(problem)" }
}

/// Reads configuration from environment variables, validating each one with a clear message.
///
/// Values are never echoed back in errors for variables whose names suggest secrets.
public struct ProcessEnvironment: Sendable {
    public let values: [String: String]

    public init(_ values: [String: String]) {
        self.values = values
    }

    /// The environment of this process.
    public static func current() -> ProcessEnvironment {
        var values: [String: String] = [:]
        var cursor = environ
        while let entry = cursor.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                values[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            cursor += 1
        }
        return ProcessEnvironment(values)
    }

    /// The value, or `nil` when unset or empty.
    public func optional(_ name: String) -> String? {
        guard let value = values[name], !value.isEmpty else { return nil }
        return value
    }

    public func string(_ name: String, default defaultValue: String) -> String {
        optional(name) ?? defaultValue
    }

    public func required(_ name: String) throws -> String {
        guard let value = optional(name) else {
            throw ConfigurationError(variable: name, problem: "is required but not set")
        }
        return value
    }

    public func int(_ name: String, default defaultValue: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text = optional(name) else { return defaultValue }
        guard let value = Int(text) else {
            throw ConfigurationError(variable: name, problem: "must be a whole number, got '\(shown(name, text))'")
        }
        guard range.contains(value) else {
            throw ConfigurationError(
                variable: name,
                problem: "must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
        }
        return value
    }

    public func bool(_ name: String, default defaultValue: Bool) throws -> Bool {
        guard let text = optional(name) else { return defaultValue }
        switch text.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default:
            throw ConfigurationError(
                variable: name, problem: "must be true or false, got '\(shown(name, text))'")
        }
    }

    public func choice<T>(_ name: String, default defaultValue: T, _ options: [String: T]) throws -> T {
        guard let text = optional(name) else { return defaultValue }
        guard let value = options[text.lowercased()] else {
            let allowed = options.keys.sorted().joined(separator: ", ")
            throw ConfigurationError(
                variable: name, problem: "must be one of \(allowed), got '\(shown(name, text))'")
        }
        return value
    }

    /// All variables whose names start with `prefix`, with the prefix removed.
    public func withPrefix(_ prefix: String) -> [String: String] {
        var result: [String: String] = [:]
        for (key, value) in values where key.hasPrefix(prefix) && key.count > prefix.count {
            result[String(key.dropFirst(prefix.count))] = value
        }
        return result
    }

    private func shown(_ name: String, _ value: String) -> String {
        Self.looksSecret(name) ? "<redacted>" : value
    }

    /// Names that hold secrets by convention: their values are never printed or logged.
    public static func looksSecret(_ name: String) -> Bool {
        let upper = name.uppercased()
        return ["PASSWORD", "SECRET", "TOKEN", "KEY", "CREDENTIAL", "SASL"].contains { upper.contains($0) }
    }
}
