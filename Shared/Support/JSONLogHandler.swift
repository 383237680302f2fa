import Logging

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// swift-log's handler for every process here: one JSON object per line,
/// `{"ts":"2026-05-20T10:00:00.123Z","level":"info","service":"allocator","msg":"…", metadata…}`.
///
/// The logger's metadata, then the call's, follows `msg`, each sorted by key (swift-log hands
/// metadata over as a dictionary), so a line's fields come in the same order every time. Integers and booleans passed as
/// `.stringConvertible` (`.of(…)`) are written as JSON numbers and booleans, everything else as
/// strings; nested arrays and dictionaries as JSON arrays and objects. Lines go to standard error
/// unless a `LogCapture` is given (tests read the records from it).
///
/// - Important: Callers never pass secrets or client data beyond identifiers; the handler does not filter.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    public let service: String
    private let capture: LogCapture?

    public init(service: String, level: Logger.Level = .info, capture: LogCapture? = nil) {
        self.service = service
        self.logLevel = level
        self.capture = capture
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: [(String, Logger.MetadataValue)] = metadata.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        if let own = event.metadata {
            // The call's own keys win over the logger's.
            fields.removeAll { own[$0.0] != nil }
            fields += own.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        }
        let record = LogRecord(
            epochMs: wallClockMs(), level: event.level, service: service, message: event.message.description,
            fields: fields)
        if let capture {
            capture.append(record)
        } else {
            writeStandardError(record.line)
        }
    }

    /// A logger for `service` writing through this handler at `level`.
    public static func logger(service: String, level: Logger.Level = .info, capture: LogCapture? = nil) -> Logger {
        Logger(label: service) { _ in JSONLogHandler(service: service, level: level, capture: capture) }
    }

    /// Makes this handler the process's default (for libraries' loggers too) and returns the
    /// process's own logger. Call once, at start.
    public static func bootstrap(service: String, level: Logger.Level) -> Logger {
        LoggingSystem.bootstrap { _ in JSONLogHandler(service: service, level: level) }
        return logger(service: service, level: level)
    }
}

/// One log line before it is written: what a test reads back from a `LogCapture`.
public struct LogRecord: Sendable {
    public let epochMs: Int64
    public let level: Logger.Level
    public let service: String
    public let message: String
    public let fields: [(String, Logger.MetadataValue)]

    public init(
        epochMs: Int64, level: Logger.Level, service: String, message: String, fields: [(String, Logger.MetadataValue)]
    ) {
        self.epochMs = epochMs
        self.level = level
        self.service = service
        self.message = message
        self.fields = fields
    }

    /// A field's value as text (numbers and booleans as written), or nil.
    public subscript(_ key: String) -> String? {
        fields.last { $0.0 == key }.map { "\($0.1)" }
    }

    /// The JSON line.
    public var line: String {
        var line = "{\"ts\":\"\(UTCClock.timestamp(epochMs: epochMs))\",\"level\":\"\(Self.name(level))\",\"service\":"
        JSONText.appendString(service, to: &line)
        line += ",\"msg\":"
        JSONText.appendString(message, to: &line)
        for (key, value) in fields {
            line += ","
            JSONText.appendString(key, to: &line)
            line += ":"
            Self.append(value, to: &line)
        }
        line += "}"
        return line
    }

    /// The level's name in the line: swift-log's, with `warning` written `warn` as the lines always were.
    public static func name(_ level: Logger.Level) -> String {
        level == .warning ? "warn" : level.rawValue
    }

    private static func append(_ value: Logger.MetadataValue, to line: inout String) {
        switch value {
        case .string(let text): JSONText.appendString(text, to: &line)
        case .stringConvertible(let convertible):
            switch convertible {
            case let flag as Bool: line += flag ? "true" : "false"
            case let number as any BinaryInteger: line += "\(number)"
            default: JSONText.appendString(convertible.description, to: &line)
            }
        case .array(let values):
            line += "["
            for (index, element) in values.enumerated() {
                if index > 0 { line += "," }
                append(element, to: &line)
            }
            line += "]"
        case .dictionary(let entries):
            line += "{"
            for (index, entry) in entries.sorted(by: { $0.key < $1.key }).enumerated() {
                if index > 0 { line += "," }
                JSONText.appendString(entry.key, to: &line)
                line += ":"
                append(entry.value, to: &line)
            }
            line += "}"
        }
    }
}

/// Log records kept in memory instead of written: for tests that check what was logged.
public final class LogCapture: Sendable {
    private let records = Locked<[LogRecord]>([])

    public init() {}

    func append(_ record: LogRecord) { records.withLock { $0.append(record) } }

    public var all: [LogRecord] { records.current }
}

extension Logger.MetadataValue {
    /// An integer, written as a JSON number.
    public static func of(_ value: some BinaryInteger & Sendable) -> Logger.MetadataValue {
        .stringConvertible(Int64(value))
    }

    /// A boolean, written as JSON `true` or `false`.
    public static func of(_ value: Bool) -> Logger.MetadataValue { .stringConvertible(value) }

    /// Text, written as a JSON string.
    public static func of(_ value: String) -> Logger.MetadataValue { .string(value) }
}

extension Logger.Level {
    /// `LOG_LEVEL`'s values: swift-log's level names, and `warn` for `warning`.
    public static let byName: [String: Logger.Level] = Dictionary(
        uniqueKeysWithValues: Logger.Level.allCases.map { ($0.rawValue, $0) } + [("warn", .warning)])
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
