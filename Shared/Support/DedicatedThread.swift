import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A one-shot signal that threads can wait on with a time bound.
///
/// The pthread mutex and condition live in memory of their own (allocated once, freed in deinit):
/// pthread objects must not move, and Swift does not promise a class property a fixed address when
/// it is passed with `&`.
public final class CompletionSignal: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var done = false

    public init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    public func signal() {
        pthread_mutex_lock(mutex)
        done = true
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    public var isSignalled: Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return done
    }

    /// Waits until signalled or `timeoutMs` passes; returns whether it was signalled.
    @discardableResult
    public func wait(timeoutMs: Int) -> Bool {
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let totalNs = Int(deadline.tv_nsec) + (timeoutMs % 1000) * 1_000_000
        deadline.tv_sec += timeoutMs / 1000 + totalNs / 1_000_000_000
        deadline.tv_nsec = totalNs % 1_000_000_000
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        while !done {
            if pthread_cond_timedwait(condition, mutex, &deadline) == ETIMEDOUT { break }
        }
        return done
    }
}

/// A thread of its own for blocking work (librdkafka polls, libpq calls, socket accepts),
/// so that such work never occupies Swift's cooperative thread pool.
public final class DedicatedThread: @unchecked Sendable {
    public let name: String
    public let finished = CompletionSignal()
    private let body: @Sendable () -> Void

    private init(name: String, body: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
    }

    /// Starts `body` on a new detached thread.
    @discardableResult
    public static func start(name: String, _ body: @escaping @Sendable () -> Void) -> DedicatedThread {
        let thread = DedicatedThread(name: name, body: body)
        let context = Unmanaged.passRetained(thread).toOpaque()
        var handle = pthread_t()
        let created = pthread_create(
            &handle, nil,
            { context in
                let thread = Unmanaged<DedicatedThread>.fromOpaque(context!).takeRetainedValue()
                thread.body()
                thread.finished.signal()
                return nil
            }, context)
        precondition(created == 0, "pthread_create failed with \(created)")
        pthread_detach(handle)
        return thread
    }

    /// Waits up to `timeoutMs` for the thread's body to return.
    @discardableResult
    public func join(timeoutMs: Int) -> Bool { finished.wait(timeoutMs: timeoutMs) }

    /// Runs `body` on a dedicated thread and waits at most `timeoutMs` for it.
    /// Returns false when it did not finish in time (the thread is abandoned, still running).
    public static func runBounded(name: String, timeoutMs: Int, _ body: @escaping @Sendable () -> Void) -> Bool {
        start(name: name, body).join(timeoutMs: timeoutMs)
    }
}

/// A value shared between threads behind the standard library's `Synchronization.Mutex`, in a
/// class so that it can be shared by reference.
public final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    public init(_ value: Value) { mutex = Mutex(value) }

    public func withLock<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
        try mutex.withLock { (value: inout sending Value) throws(E) -> sending R in try body(&value) }
    }

    public var current: Value { withLock { $0 } }
}
