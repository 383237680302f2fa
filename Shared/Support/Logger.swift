#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Severity of a log line.
public enum LogLevel: Int, Sendable, Comparable, CaseIterable {
    case debug = 0, info, warn, error

    public var name: String {
        switch self {
        case .debug: return "debug"
        case .info: return "info"
        case .warn: return "warn"
        case .error: return "error"
        }
    }

    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.rawValue < rhs.rawValue }

    public static let byName: [String: LogLevel] = [
        "debug": .debug, "info": .info, "warn": .warn, "warning": .warn, "error": .error,
    ]
}

/// A value in a structured log line.
public enum LogValue: Sendable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral {
    case string(String)
    case int(Int64)
    case bool(Bool)

    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }

    public static func of(_ value: some BinaryInteger) -> LogValue { .int(Int64(value)) }
    public static func of(_ value: String) -> LogValue { .string(value) }
}

/// Writes one JSON object per line to standard error: `{"ts":…,"level":…,"service":…,"msg":…, fields…}`.
///
/// - Important: Callers never pass secrets or client data beyond identifiers; the logger does not filter.
public struct Logger: Sendable {
    public let service: String
    public let minimumLevel: LogLevel

    public init(service: String, minimumLevel: LogLevel = .info) {
        self.service = service
        self.minimumLevel = minimumLevel
    }

    /// Reads `LOG_LEVEL` (debug, info, warn, error; default info).
    public static func fromEnvironment(service: String, _ environment: ProcessEnvironment) throws -> Logger {
        Logger(service: service, minimumLevel: try environment.choice("LOG_LEVEL", default: .info, LogLevel.byName))
    }

    public func debug(_ message: String, _ fields: KeyValuePairs<String, LogValue> = [:]) {
        log(.debug, message, fields)
    }
    public func info(_ message: String, _ fields: KeyValuePairs<String, LogValue> = [:]) {
        log(.info, message, fields)
    }
    public func warn(_ message: String, _ fields: KeyValuePairs<String, LogValue> = [:]) {
        log(.warn, message, fields)
    }
    public func error(_ message: String, _ fields: KeyValuePairs<String, LogValue> = [:]) {
        log(.error, message, fields)
    }

    public func log(_ level: LogLevel, _ message: String, _ fields: KeyValuePairs<String, LogValue>) {
        guard level >= minimumLevel else { return }
        var line = "{\"ts\":\"\(Self.timestamp())\",\"level\":\"\(level.name)\",\"service\":"
        JSONText.appendString(service, to: &line)
        line += ",\"msg\":"
        JSONText.appendString(message, to: &line)
        for (key, value) in fields {
            line += ","
            JSONText.appendString(key, to: &line)
            line += ":"
            switch value {
            case .string(let text): JSONText.appendString(text, to: &line)
            case .int(let number): line += String(number)
            case .bool(let flag): line += flag ? "true" : "false"
            }
        }
        line += "}"
        writeStandardError(line)
    }

    /// UTC time as `2026-05-20T10:00:00.123Z`.
    public static func timestamp(epochMs: Int64 = wallClockMs()) -> String {
        var seconds = time_t(epochMs / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(epochMs % 1000), 3))Z"
    }
}

/// Minimal JSON text helpers for hand-written JSON (log lines, metrics, small documents).
public enum JSONText {
    /// Appends `text` as a JSON string literal, escaping quotes, backslashes and control characters.
    public static func appendString(_ text: String, to output: inout String) {
        output += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    output.unicodeScalars.append(scalar)
                }
            }
        }
        output += "\""
    }

    public static func quoted(_ text: String) -> String {
        var output = ""
        appendString(text, to: &output)
        return output
    }
}

/// Writes `text` and a newline to standard error in one write where possible, so that lines from
/// several threads stay whole. Retries short writes and EINTR; gives up silently if stderr is gone.
public func writeStandardError(_ text: String) {
    var bytes = Array(text.utf8)
    if bytes.last != UInt8(ascii: "\n") { bytes.append(UInt8(ascii: "\n")) }
    bytes.withUnsafeBytes { buffer in
        var offset = 0
        while offset < buffer.count {
            let written = write(2, buffer.baseAddress! + offset, buffer.count - offset)
            if written <= 0 { if errno == EINTR { continue } else { return } }
            offset += written
        }
    }
}
