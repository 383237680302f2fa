import BillingKafka
import BillingSupport

#if canImport(Glibc)
    import Glibc
#endif

/// Outbox rows this process has just committed, handed from its worker loops to its own relay in
/// memory, so that the relay need not read back from PostgreSQL what the process already holds.
///
/// The table stays the record: a row is offered only after its transaction committed, and only
/// while this process's relay holds the service's relay lock (`open`). Everything else (rows of
/// other replicas, rows left by a process that died, rows offered while the relay was between
/// locks, rows whose delivery failed) the relay reads from the table, as before.
///
/// Memory is bounded: while the waiting rows hold `eventCapacity` events or `byteCapacity` bytes
/// of values or more (the relay is behind, as in a backlog drain, or a batch dead-lettered whole
/// statement files), a newly offered row waits by id only, and the relay reads its events from the
/// table when its turn comes. Either way the rows keep the order they were offered
/// in, which for each loop is its commit order.
///
/// Loops wake the relay through a pipe whose read end the relay polls beside its LISTEN socket.
public final class OutboxHandoff: @unchecked Sendable {
    /// One committed outbox row: its id and its events in their order (nil: read them from the table).
    public struct Row: Sendable {
        public var id: Int64
        public var messages: [KafkaOutgoingMessage]?
        public var messageCount: Int
        /// The events' values and keys, in bytes.
        public var byteCount: Int

        public init(id: Int64, messages: [KafkaOutgoingMessage]) {
            self.id = id
            self.messages = messages
            messageCount = messages.count
            byteCount = messages.reduce(0) { $0 + $1.value.count + ($1.key?.count ?? 0) }
        }
    }

    private struct State {
        var accepting = false
        var rows: [Row] = []
        var heldEvents = 0
        var heldBytes = 0
    }

    /// Sent as the NOTIFY payload by this process's loops, so that its relay can tell its own
    /// rows (which reach it here) from other processes' (which it reads from the table).
    public let token: String
    public let eventCapacity: Int
    public let byteCapacity: Int
    /// Readable while rows wait (a non-blocking pipe's read end); the relay polls it.
    public let wakeDescriptor: Int32
    private let wakeWriter: Int32
    private let state = Locked(State())

    public init(token: String, eventCapacity: Int, byteCapacity: Int = 8 << 20) {
        self.token = token
        self.eventCapacity = eventCapacity
        self.byteCapacity = byteCapacity
        var ends: [Int32] = [-1, -1]
        // Without the pipe (no descriptors left) the relay still finds the rows, at its next
        // scheduled table read.
        if pipe(&ends) == 0 {
            for end in ends {
                _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
                _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            }
        } else {
            ends = [-1, -1]
        }
        wakeDescriptor = ends[0]
        wakeWriter = ends[1]
    }

    deinit {
        if wakeDescriptor >= 0 { Glibc.close(wakeDescriptor) }
        if wakeWriter >= 0 { Glibc.close(wakeWriter) }
    }

    /// Called by a loop after its transaction committed. Ignored while the relay does not hold the
    /// lock: whoever holds it reads the row from the table.
    public func offer(_ row: Row) {
        let accepted = state.withLock { state -> Bool in
            guard state.accepting else { return false }
            var row = row
            if state.heldEvents >= eventCapacity || state.heldBytes >= byteCapacity {
                row.messages = nil
            } else {
                state.heldEvents += row.messageCount
                state.heldBytes += row.byteCount
            }
            state.rows.append(row)
            return true
        }
        if accepted { wake() }
    }

    /// Whether rows offered now are taken (this process's relay holds the lock). A loop that sees
    /// this needs no NOTIFY for its batch: no other relay listens while this one holds the lock.
    public var isAccepting: Bool { state.withLock { $0.accepting } }

    /// The relay holds the lock: rows committed from now on are handed over.
    public func open() {
        state.withLock { $0.accepting = true }
    }

    /// The relay lost the lock or stops: nothing is kept or taken any more (the table has it all).
    public func close() {
        state.withLock { $0 = State() }
    }

    /// Takes waiting rows in the order they were offered, whole, until about `messageBudget`
    /// events (at least one row); `more` says whether rows are left. Clears the wake-up.
    public func take(messageBudget: Int) -> (rows: [Row], more: Bool) {
        if wakeDescriptor >= 0 {
            var scratch = [UInt8](repeating: 0, count: 64)
            while read(wakeDescriptor, &scratch, scratch.count) > 0 {}
        }
        let taken = state.withLock { state -> ([Row], Bool) in
            var count = 0
            var messages = 0
            while count < state.rows.count,
                count == 0 || messages + state.rows[count].messageCount <= messageBudget
            {
                messages += state.rows[count].messageCount
                if state.rows[count].messages != nil {
                    state.heldEvents -= state.rows[count].messageCount
                    state.heldBytes -= state.rows[count].byteCount
                }
                count += 1
            }
            let rows = Array(state.rows.prefix(count))
            state.rows.removeFirst(count)
            return (rows, !state.rows.isEmpty)
        }
        if taken.1 { wake() }
        return taken
    }

    /// The smallest id among the rows waiting, if any. A row of this process committed but not
    /// yet offered, or still waiting, has a larger id than every earlier row of its loop that
    /// still waits: a table read kept below this id cannot publish a loop's rows out of order.
    public func smallestWaitingID() -> Int64? {
        state.withLock { $0.rows.lazy.map(\.id).min() }
    }

    private func wake() {
        guard wakeWriter >= 0 else { return }
        var byte: UInt8 = 1
        // A full pipe already wakes the relay: EAGAIN is fine.
        _ = write(wakeWriter, &byte, 1)
    }
}
