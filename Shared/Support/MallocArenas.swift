#if canImport(Glibc)
    import Glibc
#endif

/// glibc's malloc arenas, capped for a worker process.
///
/// glibc gives each thread that allocates under contention an arena of its own, up to eight per
/// core, and memory freed into one arena is not reused by the others. A worker runs a handful of
/// threads of its own and librdkafka runs several per client, so its resident memory grew with
/// arenas that each held a batch's worth of freed buffers: allocator-bench measured a peak of
/// 64-66 MiB (57-61 MiB after the run), and 57-62 MiB (48-56 MiB after) with two arenas, at the
/// same throughput and latency.
public enum MallocArenas {
    /// The cap unless `MALLOC_ARENA_MAX` (glibc's own variable, read by glibc itself) is set.
    public static let defaultCount: Int32 = 2

    /// Applies the cap (`mallopt(M_ARENA_MAX, …)`) unless the environment chose one. Call first
    /// thing in `main`, before other threads start. `mallopt` is not in Swift's Glibc module, so
    /// it is looked up by name; where it is missing (another C library) nothing changes.
    public static func cap(environment: ProcessEnvironment) {
        #if canImport(Glibc)
            guard environment.optional("MALLOC_ARENA_MAX") == nil,
                let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt")
            else { return }
            typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
            let mArenaMax: Int32 = -8  // M_ARENA_MAX in <malloc.h>
            _ = unsafeBitCast(symbol, to: Mallopt.self)(mArenaMax, defaultCount)
        #endif
    }
}
