import BillingSupport

/// The rows of one statement's result, copied out of libpq's `PGresult` (which is freed at once).
///
/// Values are in PostgreSQL's text format; typed accessors parse them and throw
/// `PGError.protocolViolation` when a column does not hold what the caller expects.
public struct PGRows: Sendable {
    public let columns: [String]
    public let values: [[String?]]
    /// Rows affected, for INSERT/UPDATE/DELETE (PQcmdTuples), 0 otherwise.
    public let affectedRowCount: Int

    public init(columns: [String], values: [[String?]], affectedRowCount: Int) {
        self.columns = columns
        self.values = values
        self.affectedRowCount = affectedRowCount
    }

    public var count: Int { values.count }
    public var isEmpty: Bool { values.isEmpty }

    public subscript(row: Int) -> PGRow { PGRow(rows: self, index: row) }

    public var rows: [PGRow] { (0..<values.count).map { PGRow(rows: self, index: $0) } }

    public func columnIndex(_ name: String) throws -> Int {
        guard let index = columns.firstIndex(of: name) else {
            throw PGError(kind: .protocolViolation, message: "result has no column '\(name)'")
        }
        return index
    }
}

/// One row of a `PGRows`.
public struct PGRow: Sendable {
    let rows: PGRows
    let index: Int

    public func optionalString(_ column: Int) -> String? { rows.values[index][column] }

    public func optionalString(_ name: String) throws -> String? {
        rows.values[index][try rows.columnIndex(name)]
    }

    public func string(_ column: Int) throws -> String {
        guard let value = rows.values[index][column] else {
            throw PGError(kind: .protocolViolation, message: "column \(rows.columns[column]) is NULL")
        }
        return value
    }

    public func string(_ name: String) throws -> String { try string(try rows.columnIndex(name)) }

    public func int64(_ column: Int) throws -> Int64 {
        let text = try string(column)
        guard let value = Int64(text) else {
            throw PGError(kind: .protocolViolation, message: "column \(rows.columns[column]) is not an integer")
        }
        return value
    }

    public func int64(_ name: String) throws -> Int64 { try int64(try rows.columnIndex(name)) }

    public func optionalInt64(_ name: String) throws -> Int64? {
        let column = try rows.columnIndex(name)
        guard rows.values[index][column] != nil else { return nil }
        return try int64(column)
    }

    public func int(_ column: Int) throws -> Int { Int(try int64(column)) }
    public func int(_ name: String) throws -> Int { Int(try int64(name)) }

    public func bool(_ column: Int) throws -> Bool {
        switch try string(column) {
        case "t", "true": return true
        case "f", "false": return false
        default: throw PGError(kind: .protocolViolation, message: "column \(rows.columns[column]) is not boolean")
        }
    }

    public func bool(_ name: String) throws -> Bool { try bool(try rows.columnIndex(name)) }

    /// A `bytea` column in text (hex) form.
    public func bytes(_ column: Int) throws -> [UInt8] {
        guard let value = Hex.decode(try string(column)) else {
            throw PGError(kind: .protocolViolation, message: "column \(rows.columns[column]) is not bytea hex")
        }
        return value
    }

    public func bytes(_ name: String) throws -> [UInt8] { try bytes(try rows.columnIndex(name)) }

    public func optionalBytes(_ name: String) throws -> [UInt8]? {
        let column = try rows.columnIndex(name)
        guard rows.values[index][column] != nil else { return nil }
        return try bytes(column)
    }
}
