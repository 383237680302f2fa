/// Server-side bounds for one session, sent as `-c` options when it connects.
///
/// A statement, a wait for a lock, or a transaction left open cannot hold a worker (and the rows
/// or the fence it holds) for longer than these; and a client the network cut off is noticed by
/// the server within `deadPeerTimeoutMs` (TCP keepalives and `tcp_user_timeout`), so its session
/// ends and the advisory locks it held (the outbox relay's) are released instead of lasting until
/// the kernel's two-hour keepalive. Options in the connection string's own `options` replace these.
public struct PGSessionLimits: Sendable, Equatable {
    public var statementTimeoutMs: Int
    public var lockTimeoutMs: Int
    public var idleInTransactionTimeoutMs: Int
    public var deadPeerTimeoutMs: Int

    public init(
        statementTimeoutMs: Int = 30_000, lockTimeoutMs: Int = 10_000, idleInTransactionTimeoutMs: Int = 60_000,
        deadPeerTimeoutMs: Int = 30_000
    ) {
        self.statementTimeoutMs = statementTimeoutMs
        self.lockTimeoutMs = lockTimeoutMs
        self.idleInTransactionTimeoutMs = idleInTransactionTimeoutMs
        self.deadPeerTimeoutMs = deadPeerTimeoutMs
    }

    /// The `options` connection parameter's settings.
    var options: String {
        // Keepalive probes every few seconds after a third of the bound idle; tcp_user_timeout ends a
        // session whose sent data stays unacknowledged for the bound.
        let idleSeconds = max(1, deadPeerTimeoutMs / 3_000)
        let intervalSeconds = max(1, deadPeerTimeoutMs / 6_000)
        return [
            "-c statement_timeout=\(statementTimeoutMs)", "-c lock_timeout=\(lockTimeoutMs)",
            "-c idle_in_transaction_session_timeout=\(idleInTransactionTimeoutMs)",
            "-c tcp_keepalives_idle=\(idleSeconds)", "-c tcp_keepalives_interval=\(intervalSeconds)",
            "-c tcp_keepalives_count=3", "-c tcp_user_timeout=\(deadPeerTimeoutMs)",
        ].joined(separator: " ")
    }
}
