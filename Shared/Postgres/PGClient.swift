import BillingSupport

/// Owns one connection for one thread, reconnecting with backoff when it breaks.
///
/// - Important: Not thread-safe; one dedicated thread per client. Calls block.
///   A failed connect makes the next attempt wait out the backoff first, so a caller that
///   retries in a loop never spins against a server that is down.
public final class PGClient: @unchecked Sendable {
    public let conninfo: String
    public let applicationName: String
    public let ioTimeoutMs: Int32
    /// How many times a transaction is run again after a serialization failure or deadlock.
    public let conflictRetryCountMax: Int
    /// Server-side bounds for each session (see `PGSessionLimits`); nil for none.
    public let limits: PGSessionLimits?

    private var current: PGConnection?
    private var backoff: Backoff
    private var nextAttemptAtMs: Int64 = 0

    public init(
        conninfo: String, applicationName: String, ioTimeoutMs: Int32 = 60_000, conflictRetryCountMax: Int = 10,
        reconnectBackoff: Backoff = Backoff(initialMs: 100, maxMs: 5_000), limits: PGSessionLimits? = nil
    ) {
        self.limits = limits
        self.conninfo = conninfo
        self.applicationName = applicationName
        self.ioTimeoutMs = ioTimeoutMs
        self.conflictRetryCountMax = conflictRetryCountMax
        self.backoff = reconnectBackoff
    }

    /// A live connection, connecting (after any pending backoff) if needed.
    public func connection() throws -> PGConnection {
        if let current, !current.isBroken { return current }
        current?.close()
        current = nil
        let waitMs = nextAttemptAtMs - monotonicMs()
        if waitMs > 0 { sleepThread(milliseconds: Int(waitMs)) }
        do {
            let connection = try PGConnection(
                conninfo: conninfo, applicationName: applicationName, ioTimeoutMs: ioTimeoutMs, limits: limits)
            backoff.reset()
            nextAttemptAtMs = 0
            current = connection
            return connection
        } catch {
            nextAttemptAtMs = monotonicMs() + Int64(backoff.nextDelayMs())
            throw error
        }
    }

    /// Runs `body` in a transaction, running it again on serialization failure or deadlock.
    ///
    /// Connection failures are thrown (after the connection is dropped); the caller decides whether
    /// to retry, and the next `connection()` call applies the backoff.
    @discardableResult
    public func transaction<T>(isolation: PGIsolation = .readCommitted, _ body: (PGConnection) throws -> T) throws -> T
    {
        var conflicts = 0
        var conflictBackoff = Backoff(initialMs: 5, maxMs: 200)
        while true {
            let connection = try connection()
            do {
                return try connection.transaction(isolation: isolation, body)
            } catch let error as PGError where error.isRetriableConflict && conflicts < conflictRetryCountMax {
                conflicts += 1
                sleepThread(milliseconds: conflictBackoff.nextDelayMs())
            }
        }
    }

    /// Runs one statement outside any explicit transaction.
    @discardableResult
    public func query(_ sql: String, _ parameters: [any PGParameterConvertible] = []) throws -> PGRows {
        try connection().query(sql, parameters)
    }

    public func close() {
        current?.close()
        current = nil
    }
}
