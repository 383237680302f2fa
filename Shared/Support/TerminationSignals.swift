#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// SIGTERM and SIGINT handling without async signal handlers: the signals are blocked in every
/// thread (call `block()` first thing in `main`, before any thread starts, so threads inherit the
/// mask) and the main thread collects them with `wait(timeoutMs:)`.
public enum TerminationSignals {
    public static func block() {
        var set = signalSet()
        pthread_sigmask(SIG_BLOCK, &set, nil)
        // A closed pipe (client gone) must not kill the process: writes then fail with EPIPE.
        signal(SIGPIPE, SIG_IGN)
    }

    /// For short-lived commands: writing to a closed pipe (`| head`) fails instead of killing the process.
    public static func ignoreBrokenPipe() {
        signal(SIGPIPE, SIG_IGN)
    }

    /// Waits up to `timeoutMs` for SIGTERM or SIGINT; returns the signal number or nil.
    public static func wait(timeoutMs: Int) -> Int32? {
        var set = signalSet()
        var timeout = timespec(tv_sec: timeoutMs / 1000, tv_nsec: (timeoutMs % 1000) * 1_000_000)
        let signal = sigtimedwait(&set, nil, &timeout)
        return signal > 0 ? signal : nil
    }

    private static func signalSet() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        return set
    }
}
