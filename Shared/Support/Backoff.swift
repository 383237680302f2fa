#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Exponential backoff with full jitter between `initialMs` and `maxMs`.
///
/// Used wherever something is retried (reconnects, transient batch failures), so that nothing
/// ever spins: every failure waits at least `initialMs`, doubling up to `maxMs`.
public struct Backoff: Sendable {
    public let initialMs: Int
    public let maxMs: Int
    public private(set) var attempt: Int = 0

    public init(initialMs: Int = 100, maxMs: Int = 5_000) {
        precondition(initialMs > 0 && maxMs >= initialMs, "backoff bounds must be positive and ordered")
        self.initialMs = initialMs
        self.maxMs = maxMs
    }

    /// The delay before the next attempt, and advances the attempt count.
    public mutating func nextDelayMs() -> Int {
        let ceiling = min(maxMs, initialMs << min(attempt, 20))
        attempt += 1
        // Jitter in the upper half keeps a floor while spreading retries of many replicas.
        return ceiling / 2 + Int.random(in: 0...(ceiling - ceiling / 2))
    }

    public mutating func reset() { attempt = 0 }
}

/// Sleeps the calling thread. Only for dedicated threads (never the cooperative pool).
public func sleepThread(milliseconds: Int) {
    guard milliseconds > 0 else { return }
    var request = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0, errno == EINTR {
        request = remaining
    }
}

/// Milliseconds on the monotonic clock, for measuring durations.
public func monotonicMs() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
}

/// Microseconds on the monotonic clock.
public func monotonicMicros() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000
}

/// Milliseconds since the Unix epoch (wall clock), for timestamps that cross processes.
public func wallClockMs() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
}

/// Sleeps in short slices until `milliseconds` pass or `stop` is set, so shutdown stays prompt.
public func sleep(milliseconds: Int, unless stop: Locked<Bool>) {
    var remaining = milliseconds
    while remaining > 0, !stop.current {
        let slice = min(remaining, 50)
        sleepThread(milliseconds: slice)
        remaining -= slice
    }
}
