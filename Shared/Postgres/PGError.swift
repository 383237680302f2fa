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
    public let message: String
    public let detail: String?
    public let constraint: String?

    public init(
        kind: Kind, sqlState: String? = nil, message: String, detail: String? = nil, constraint: String? = nil
    ) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.constraint = constraint
    }

    public var description: String {
        var text = "PostgreSQL \(kind)"
        if let sqlState { text += " [\(sqlState)]" }
        text += ": \(message)"
        if let constraint { text += " (constraint \(constraint))" }
        return text
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
