import CLibPQ

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One libpq connection.
///
/// - Important: Not thread-safe, and every method blocks the calling thread on network I/O.
///   Use it from one dedicated thread at a time (never from Swift's cooperative pool).
///   Every wait is bounded by `ioTimeoutMs`; a connection that times out or breaks is closed and
///   every later call throws `PGError(kind: .connection)` until the owner makes a new one.
public final class PGConnection: @unchecked Sendable {
    private var handle: OpaquePointer?
    /// Bound on any single wait for the server (connect, send, result).
    public let ioTimeoutMs: Int32
    /// Server-side names of the statements prepared on this session, by their text.
    private var preparedNames: [String: String] = [:]
    private var preparedCount = 0
    /// Bound on the statements one session prepares; later ones run unprepared.
    public static let preparedCountMax = 256

    /// Connects with a libpq connection string or URI (`postgresql://...` or `host=... dbname=...`).
    /// With `limits`, the session's statements, lock waits and open transactions are bounded by the
    /// server (see `PGSessionLimits`).
    public init(
        conninfo: String, applicationName: String = "billing", ioTimeoutMs: Int32 = 60_000,
        limits: PGSessionLimits? = nil
    ) throws {
        self.ioTimeoutMs = ioTimeoutMs
        // Defaults first: values in `conninfo` (expanded from "dbname") override them.
        let keywords = [
            "application_name", "connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval",
            "keepalives_count", "options", "dbname",
        ]
        // NOTICEs would go to stderr unstructured; warnings and errors still reach the caller.
        let options = ["-c client_min_messages=warning", limits?.options].compactMap { $0 }.joined(separator: " ")
        let values = [applicationName, "5", "1", "10", "5", "3", options, conninfo]
        let connection = withCStringArray(keywords) { keywordPointers in
            withCStringArray(values) { valuePointers in
                PQconnectdbParams(keywordPointers, valuePointers, 1)
            }
        }
        guard let connection else {
            throw PGError(kind: .connection, message: "libpq could not allocate a connection")
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = Self.trimmed(PQerrorMessage(connection))
            PQfinish(connection)
            throw PGError(kind: .connection, message: message)
        }
        handle = connection
    }

    deinit {
        if let handle { PQfinish(handle) }
    }

    /// Closes the connection; later calls throw.
    public func close() {
        if let handle { PQfinish(handle) }
        handle = nil
    }

    /// True once the connection is closed or libpq reports `CONNECTION_BAD`.
    public var isBroken: Bool {
        guard let handle else { return true }
        return PQstatus(handle) == CONNECTION_BAD
    }

    /// True while a transaction is open (or failed and not yet rolled back).
    public var isInTransaction: Bool {
        guard let handle else { return false }
        let status = PQtransactionStatus(handle)
        return status == PQTRANS_INTRANS || status == PQTRANS_INERROR
    }

    /// The server's process id for this session (useful to tell sessions apart in tests and logs).
    public var backendPID: Int32 {
        guard let handle else { return 0 }
        return PQbackendPID(handle)
    }

    // MARK: Statements

    /// Runs one statement and returns its rows.
    @discardableResult
    public func query(_ sql: String, _ parameters: [any PGParameterConvertible] = []) throws -> PGRows {
        try run(PGStatement(sql, parameters))
    }

    /// Runs one statement and returns its rows.
    @discardableResult
    public func run(_ statement: PGStatement) throws -> PGRows {
        let connection = try liveHandle()
        var name = statement.prepared ? preparedNames[statement.sql] : nil
        if statement.prepared, name == nil, let fresh = try sendParse(statement, on: connection) {
            try flushOutput(connection)
            _ = try forgettingStalePlans(drainResults(connection)).get()
            preparedNames[statement.sql] = fresh
            name = fresh
        }
        guard try send(statement, named: name, on: connection) else { throw connectionFailure("sending a statement") }
        try flushOutput(connection)
        return try forgettingStalePlans(drainResults(connection)).get()
    }

    /// Sends every statement in one pipeline (one round trip) and returns each one's rows, in order.
    ///
    /// The statements run in order; if one fails, the server skips the rest up to the pipeline's
    /// sync point and the first error is thrown. Inside an explicit transaction that leaves the
    /// transaction failed (the caller rolls back); outside one, statements before the failure stand.
    @discardableResult
    public func pipeline(_ statements: [PGStatement]) throws -> [PGRows] {
        guard !statements.isEmpty else { return [] }
        if statements.count == 1 { return [try run(statements[0])] }
        let connection = try liveHandle()
        guard PQenterPipelineMode(connection) == 1 else { throw connectionFailure("entering pipeline mode") }
        guard PQsetnonblocking(connection, 1) == 0 else { throw connectionFailure("switching to non-blocking") }
        defer {
            if handle != nil {
                PQexitPipelineMode(connection)
                PQsetnonblocking(connection, 0)
            }
        }
        // Statements prepared in this pipeline: their Parse goes just before their first execution.
        var preparing: [Int: String] = [:]
        var preparingSQL: [String: String] = [:]
        for (index, statement) in statements.enumerated() {
            var name = statement.prepared ? preparedNames[statement.sql] ?? preparingSQL[statement.sql] : nil
            if statement.prepared, name == nil, let fresh = try sendParse(statement, on: connection) {
                preparing[index] = fresh
                preparingSQL[statement.sql] = fresh
                name = fresh
            }
            guard try send(statement, named: name, on: connection) else {
                throw connectionFailure("queueing a pipelined statement")
            }
        }
        // One flush for the whole pipeline (libpq itself sends early only past 64 KiB): a flush per
        // statement cost a send(2) each, a dozen per batch for the allocator, and overlapped
        // nothing: every statement is built before the first is sent.
        guard PQpipelineSync(connection) == 1 else { throw connectionFailure("sending pipeline sync") }
        try flushOutput(connection)

        var output: [PGRows] = []
        output.reserveCapacity(statements.count)
        var failure: PGError?
        for (index, statement) in statements.enumerated() {
            if let name = preparing[index] {
                // Known from now on only if the server really parsed it (not skipped after an error).
                switch try preparedResult(connection) {
                case .success(true): preparedNames[statement.sql] = name
                case .success(false): break
                case .failure(let error): if failure == nil { failure = error }
                }
            }
            switch try drainResults(connection) {
            case .success(let rows): output.append(rows)
            case .failure(let error):
                output.append(PGRows(columns: [], values: [], affectedRowCount: 0))
                if failure == nil { failure = error }
            }
        }
        // The sync point's own result closes the pipeline.
        guard let sync = try nextResult(connection) else {
            throw connectionFailure("reading pipeline sync")
        }
        let syncStatus = PQresultStatus(sync)
        PQclear(sync)
        guard syncStatus == PGRES_PIPELINE_SYNC else {
            throw connectionFailure("pipeline ended without its sync result")
        }
        if let failure { throw forgettingStalePlans(failure) }
        return output
    }

    /// Sends the Parse of `statement` under a fresh server-side name and returns that name; nil
    /// (nothing sent) once the session holds `preparedCountMax`, and the statement runs unprepared.
    /// The caller reads the Parse's result before trusting the name.
    private func sendParse(_ statement: PGStatement, on connection: OpaquePointer) throws -> String? {
        guard preparedCount < Self.preparedCountMax else { return nil }
        preparedCount += 1
        let name = "billing_\(preparedCount)"
        guard PQsendPrepare(connection, name, statement.sql, Int32(statement.parameters.count), nil) == 1 else {
            throw connectionFailure("sending a statement to prepare")
        }
        return name
    }

    private func send(_ statement: PGStatement, named name: String?, on connection: OpaquePointer) throws -> Bool {
        withParameters(statement.parameters) { count, values, lengths, formats in
            if let name {
                return PQsendQueryPrepared(connection, name, count, values, lengths, formats, 0) == 1
            }
            return PQsendQueryParams(connection, statement.sql, count, nil, values, lengths, formats, 0) == 1
        }
    }

    /// A Parse's result in a pipeline: whether the server prepared it (false when an earlier
    /// statement's error made it skip the Parse), or its error.
    private func preparedResult(_ connection: OpaquePointer) throws -> Result<Bool, PGError> {
        var outcome: Result<Bool, PGError> = .success(false)
        while let result = try nextResult(connection) {
            defer { PQclear(result) }
            switch PQresultStatus(result) {
            case PGRES_COMMAND_OK: outcome = .success(true)
            case PGRES_PIPELINE_ABORTED: break
            default:
                if case .failure(let error) = Self.extract(result) { outcome = .failure(error) }
            }
        }
        return outcome
    }

    /// A table changed under a prepared statement (another replica migrated the schema) makes the
    /// server refuse it ("cached plan must not change result type"); forgetting every name makes
    /// the next attempt prepare afresh under new names instead of failing forever.
    private func forgettingStalePlans(_ error: PGError) -> PGError {
        if error.sqlState == "0A000" { preparedNames.removeAll() }
        return error
    }

    private func forgettingStalePlans<T>(_ result: Result<T, PGError>) -> Result<T, PGError> {
        if case .failure(let error) = result { _ = forgettingStalePlans(error) }
        return result
    }

    /// Runs a script of several statements (simple query protocol, no parameters): for migrations only.
    public func runScript(_ sql: String) throws {
        let connection = try liveHandle()
        guard PQsendQuery(connection, sql) == 1 else { throw connectionFailure("sending a script") }
        try flushOutput(connection)
        _ = try drainResults(connection).get()
    }

    // MARK: Transactions

    /// Runs `body` inside BEGIN … COMMIT on this connection; any error rolls back and is rethrown.
    ///
    /// No retry here: `PGClient.transaction` retries conflicts and reconnects.
    @discardableResult
    public func transaction<T>(isolation: PGIsolation = .readCommitted, _ body: (PGConnection) throws -> T) throws -> T
    {
        try run(PGStatement(isolation.beginStatement))
        do {
            let value = try body(self)
            try run(PGStatement("COMMIT"))
            return value
        } catch {
            rollbackIfOpen()
            throw error
        }
    }

    /// Rolls back an open transaction, ignoring errors (the connection may already be gone).
    public func rollbackIfOpen() {
        guard !isBroken, isInTransaction else { return }
        _ = try? run(PGStatement("ROLLBACK"))
    }

    // MARK: Notifications

    /// Waits up to `timeoutMs` for NOTIFY messages on channels this session LISTENs to, or until
    /// `wakeDescriptor` (a pipe's read end, left for the caller to drain) is readable; returns the
    /// notifications that arrived, possibly none.
    public func waitForNotifications(timeoutMs: Int32, wakeDescriptor: Int32) throws -> [PGNotification] {
        let connection = try liveHandle()
        var notifications = drainNotifications(connection)
        if !notifications.isEmpty { return notifications }
        if try waitSocket(connection, forWrite: false, timeoutMs: timeoutMs, alsoReadable: wakeDescriptor) {
            guard PQconsumeInput(connection) == 1 else { throw connectionFailure("reading notifications") }
            notifications = drainNotifications(connection)
        }
        return notifications
    }

    /// The notifications that already reached this process, without waiting: what the socket has
    /// is read first (queries read them too, and keep them for this).
    public func pendingNotifications() throws -> [PGNotification] {
        let connection = try liveHandle()
        guard PQconsumeInput(connection) == 1 else { throw connectionFailure("reading notifications") }
        return drainNotifications(connection)
    }

    private func drainNotifications(_ connection: OpaquePointer) -> [PGNotification] {
        var notifications: [PGNotification] = []
        while let notification = PQnotifies(connection) {
            notifications.append(
                PGNotification(
                    channel: String(cString: notification.pointee.relname),
                    payload: String(cString: notification.pointee.extra)))
            PQfreemem(notification)
        }
        return notifications
    }

    // MARK: Internals

    private func liveHandle() throws -> OpaquePointer {
        guard let handle, PQstatus(handle) == CONNECTION_OK else {
            throw PGError(kind: .connection, message: "connection is closed")
        }
        return handle
    }

    /// Records a connection-level failure: closes the connection so that it is never reused.
    private func connectionFailure(_ what: String) -> PGError {
        let message = handle.map { Self.trimmed(PQerrorMessage($0)) } ?? "connection is closed"
        close()
        return PGError(kind: .connection, message: "\(what): \(message.isEmpty ? "connection lost" : message)")
    }

    /// Sends everything libpq has buffered, reading incoming data meanwhile so neither side can block.
    private func flushOutput(_ connection: OpaquePointer) throws {
        while true {
            let flushed = PQflush(connection)
            if flushed == 0 { return }
            if flushed < 0 { throw connectionFailure("sending to the server") }
            let readable = try waitSocket(connection, forWrite: true, timeoutMs: ioTimeoutMs)
            if readable, PQconsumeInput(connection) != 1 { throw connectionFailure("reading from the server") }
        }
    }

    /// Reads one statement's results up to libpq's end marker: its rows (the last result's), or the
    /// server's first error. Connection failures are thrown; results of statements a pipeline
    /// skipped after an earlier error are passed over.
    private func drainResults(_ connection: OpaquePointer) throws -> Result<PGRows, PGError> {
        var outcome: Result<PGRows, PGError> = .success(PGRows(columns: [], values: [], affectedRowCount: 0))
        while let result = try nextResult(connection) {
            defer { PQclear(result) }
            guard PQresultStatus(result) != PGRES_PIPELINE_ABORTED, case .success = outcome else { continue }
            outcome = Self.extract(result)
        }
        return outcome
    }

    /// The next result, waiting (bounded) for it to arrive; `nil` marks the end of a statement's results.
    private func nextResult(_ connection: OpaquePointer) throws -> OpaquePointer? {
        while PQisBusy(connection) == 1 {
            if PQflush(connection) == 1 {
                _ = try waitSocket(connection, forWrite: true, timeoutMs: ioTimeoutMs)
            } else {
                guard try waitSocket(connection, forWrite: false, timeoutMs: ioTimeoutMs) else {
                    throw timeoutFailure()
                }
            }
            guard PQconsumeInput(connection) == 1 else { throw connectionFailure("reading a result") }
        }
        return PQgetResult(connection)
    }

    private func timeoutFailure() -> PGError {
        close()
        return PGError(kind: .connection, message: "no answer from the server within \(ioTimeoutMs) ms")
    }

    /// Waits until the socket is readable (or, with `forWrite`, writable or readable), and returns
    /// whether it is readable (or failed); throws on a dead socket, and when a write wait times out.
    /// `alsoReadable` ends a read wait early when it becomes readable (then false, unless the
    /// socket is readable too).
    private func waitSocket(
        _ connection: OpaquePointer, forWrite: Bool, timeoutMs: Int32, alsoReadable: Int32? = nil
    ) throws -> Bool {
        let socket = PQsocket(connection)
        guard socket >= 0 else { throw connectionFailure("connection has no socket") }
        var descriptors = [pollfd(fd: socket, events: Int16(POLLIN) | (forWrite ? Int16(POLLOUT) : 0), revents: 0)]
        if let alsoReadable { descriptors.append(pollfd(fd: alsoReadable, events: Int16(POLLIN), revents: 0)) }
        while true {
            let ready = poll(&descriptors, nfds_t(descriptors.count), Int32(timeoutMs))
            if ready < 0 {
                if errno == EINTR { continue }
                throw connectionFailure("waiting for the server")
            }
            if ready == 0 {
                if forWrite { throw timeoutFailure() }
                return false
            }
            // POLLHUP/POLLERR: let PQconsumeInput discover and report the failure.
            return descriptors[0].revents & (Int16(POLLIN) | Int16(POLLHUP) | Int16(POLLERR)) != 0
        }
    }

    private static func extract(_ result: OpaquePointer) -> Result<PGRows, PGError> {
        let status = PQresultStatus(result)
        switch status {
        case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_SINGLE_TUPLE, PGRES_EMPTY_QUERY:
            let columnCount = Int(PQnfields(result))
            let rowCount = Int(PQntuples(result))
            var columns: [String] = []
            columns.reserveCapacity(columnCount)
            for column in 0..<columnCount {
                columns.append(String(cString: PQfname(result, Int32(column))))
            }
            var values: [[String?]] = []
            values.reserveCapacity(rowCount)
            for row in 0..<rowCount {
                var rowValues: [String?] = []
                rowValues.reserveCapacity(columnCount)
                for column in 0..<columnCount {
                    if PQgetisnull(result, Int32(row), Int32(column)) == 1 {
                        rowValues.append(nil)
                    } else {
                        rowValues.append(String(cString: PQgetvalue(result, Int32(row), Int32(column))))
                    }
                }
                values.append(rowValues)
            }
            let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
            return .success(PGRows(columns: columns, values: values, affectedRowCount: affected))
        default:
            func field(_ code: Int32) -> String? {
                guard let value = PQresultErrorField(result, code) else { return nil }
                return String(cString: value)
            }
            let sqlState = field(Int32(UInt8(ascii: "C")))
            let message = field(Int32(UInt8(ascii: "M"))) ?? trimmed(PQresultErrorMessage(result))
            return .failure(
                PGError(
                    kind: .server, sqlState: sqlState, message: message,
                    detail: field(Int32(UInt8(ascii: "D"))), constraint: field(Int32(UInt8(ascii: "n"))),
                    table: field(Int32(UInt8(ascii: "t"))), column: field(Int32(UInt8(ascii: "c")))))
        }
    }

    private static func trimmed(_ text: UnsafePointer<CChar>?) -> String {
        guard let text else { return "" }
        var value = String(cString: text)
        while value.last == "\n" || value.last == " " { value.removeLast() }
        return value
    }
}

/// Calls `body` with libpq's parameter arrays; the C memory lives only for the call.
private func withParameters<R>(
    _ parameters: [PGParameter],
    _ body: (Int32, UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int32>?, UnsafePointer<Int32>?) -> R
) -> R {
    if parameters.isEmpty { return body(0, nil, nil, nil) }
    var buffers: [UnsafeMutablePointer<CChar>?] = []
    var lengths: [Int32] = []
    var formats: [Int32] = []
    buffers.reserveCapacity(parameters.count)
    defer { for buffer in buffers { buffer?.deallocate() } }
    for parameter in parameters {
        switch parameter {
        case .null:
            buffers.append(nil)
            lengths.append(0)
            formats.append(0)
        case .text(let text):
            let utf8 = Array(text.utf8)
            let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: utf8.count + 1)
            utf8.withUnsafeBufferPointer { source in
                source.withMemoryRebound(to: CChar.self) { buffer.update(from: $0.baseAddress!, count: utf8.count) }
            }
            buffer[utf8.count] = 0
            buffers.append(buffer)
            lengths.append(Int32(utf8.count))
            formats.append(0)
        case .bytes(let bytes):
            let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: max(bytes.count, 1))
            bytes.withUnsafeBufferPointer { source in
                source.withMemoryRebound(to: CChar.self) {
                    if let base = $0.baseAddress { buffer.update(from: base, count: bytes.count) }
                }
            }
            buffers.append(buffer)
            lengths.append(Int32(bytes.count))
            formats.append(1)
        }
    }
    let constBuffers = buffers.map { UnsafePointer($0) }
    return constBuffers.withUnsafeBufferPointer { values in
        lengths.withUnsafeBufferPointer { lengthPointer in
            formats.withUnsafeBufferPointer { formatPointer in
                body(Int32(parameters.count), values.baseAddress, lengthPointer.baseAddress, formatPointer.baseAddress)
            }
        }
    }
}

/// Calls `body` with a NULL-terminated array of C strings.
private func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    defer { for pointer in pointers { free(pointer) } }
    pointers.append(nil)
    let constPointers = pointers.map { UnsafePointer($0) }
    return constPointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// Transaction isolation level for `PGConnection.transaction`.
public enum PGIsolation: Sendable {
    case readCommitted
    case repeatableRead
    case serializable

    var beginStatement: String {
        switch self {
        case .readCommitted: return "BEGIN"
        case .repeatableRead: return "BEGIN ISOLATION LEVEL REPEATABLE READ"
        case .serializable: return "BEGIN ISOLATION LEVEL SERIALIZABLE"
        }
    }
}

/// One NOTIFY as it reached a listening session.
public struct PGNotification: Sendable, Equatable {
    public var channel: String
    public var payload: String
}
