#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An error from PostgreSQL or from the connection to it.
///
/// The description never contains parameter values: only the server's message, the SQLSTATE
/// and which operation failed, so errors can be logged without leaking client data.
public struct PGError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// The server reported an error for a statement (see `sqlState`).
        case server
        /// The connection could not be made or was lost.
        case connection
        /// A result did not have the shape the caller expected (programmer error or schema drift).
        case protocolViolation
    }

    public let kind: Kind
    /// Five-character SQLSTATE code, when the server sent one.
    public let sqlState: String?
    /// The server's primary message (or libpq's, or ours). May quote values from the statement's
    /// parameters (`invalid input syntax for type bigint: "…"`): see `description`.
    public let message: String
    /// The server's detail. Often quotes the row (`Key (number)=(INV-1) already exists`).
    public let detail: String?
    public let constraint: String?
    /// Schema names the server attached (never values).
    public let table: String?
    public let column: String?

    public init(
        kind: Kind, sqlState: String? = nil, message: String, detail: String? = nil, constraint: String? = nil,
        table: String? = nil, column: String? = nil
    ) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.constraint = constraint
        self.table = table
        self.column = column
    }

    /// Whether descriptions carry the server's text for every error (`BILLING_DEBUG_SQL_ERRORS=1`,
    /// read once at start). Off by default: that text can quote client data into logs and
    /// dead-letter reasons.
    public static let describesValues: Bool = {
        guard let value = getenv("BILLING_DEBUG_SQL_ERRORS") else { return false }
        return String(cString: value) == "1"
    }()

    /// What went wrong, for logs and recorded reasons: the kind, SQLSTATE, and the schema names
    /// involved. The server's message is included only for classes whose messages name schema
    /// objects and states, never values (connection, transaction rollback, syntax and access,
    /// resources, operator intervention, object state); for the others (data exceptions,
    /// integrity violations, raised exceptions, internal errors) it is left out unless
    /// `BILLING_DEBUG_SQL_ERRORS=1`. The detail only then.
    public var description: String { describe(includingValues: Self.describesValues) }

    public func describe(includingValues: Bool) -> String {
        var text = "PostgreSQL \(kind)"
        if let sqlState { text += " [\(sqlState)]" }
        if includingValues || kind != .server || Self.messageNamesNoValues(sqlState) {
            text += ": \(message)"
        } else {
            text += ": \(Self.className(sqlState)) (the server's text is left out: it may quote values)"
        }
        let names = [("constraint", constraint), ("table", table), ("column", column)]
            .compactMap { name, value in value.map { "\(name) \($0)" } }
        if !names.isEmpty { text += " (" + names.joined(separator: ", ") + ")" }
        if includingValues, let detail { text += "; detail: \(detail)" }
        return text
    }

    static func messageNamesNoValues(_ sqlState: String?) -> Bool {
        guard let sqlState else { return false }
        return ["08", "40", "42", "53", "54", "55", "57", "58", "0A", "25", "28", "3D", "3F"]
            .contains { sqlState.hasPrefix($0) }
    }

    /// The SQLSTATE class's name (PostgreSQL's Appendix A) for the classes whose text is left out.
    static func className(_ sqlState: String?) -> String {
        switch sqlState?.prefix(2) {
        case "22": return "data exception"
        case "23": return "integrity constraint violation"
        case "P0": return "raised in PL/pgSQL"
        case "XX": return "internal error"
        case "21": return "cardinality violation"
        case "2F", "38", "39": return "routine exception"
        case "44": return "WITH CHECK OPTION violation"
        default: return "server error"
        }
    }

    /// Serialization failure or deadlock: the whole transaction can simply run again.
    public var isRetriableConflict: Bool {
        sqlState == "40001" || sqlState == "40P01"
    }

    /// The server or the connection is unavailable; trying later (on a new connection) may succeed.
    public var isTransient: Bool {
        if kind == .connection { return true }
        guard let sqlState else { return false }
        // 08: connection exception; 57P0x: operator intervention (shutdown, crash);
        // 53: insufficient resources; 58: system error; 55P03: lock not available.
        return sqlState.hasPrefix("08") || sqlState.hasPrefix("57P") || sqlState.hasPrefix("53")
            || sqlState.hasPrefix("58") || sqlState == "55P03" || isRetriableConflict
    }

    public var isUniqueViolation: Bool { sqlState == "23505" }
}
