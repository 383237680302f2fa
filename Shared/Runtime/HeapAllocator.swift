import BillingSupport

#if canImport(CJemalloc)
    import CJemalloc
#endif

/// The memory allocator of every process built on this runtime: jemalloc, bound as a system
/// library (Debian: `libjemalloc-dev` to build, `libjemalloc2` to run). Linked into the
/// executable, it supplies `malloc` and `free` for the whole process: Swift's runtime, libpq and
/// librdkafka included.
///
/// Why: a worker's batch allocates and frees tens of thousands of small values (strings, arrays,
/// rows, events). perf of the allocator worker in a drain put two thirds of its CPU in the Swift
/// runtime and the C library, with glibc malloc's slow paths (free-list unlinking, fast-bin
/// consolidation, chunk splitting) alone at about 11 %. With jemalloc, allocator-bench measured a
/// median of 65 µs of worker CPU per drained payment against 77 µs with glibc (22 runs alternated;
/// README, "Benchmarks"). tcmalloc, tried the same way, gained nothing.
///
/// Resident memory: dirty pages return to the kernel after `defaultDirtyDecayMs` (jemalloc's own
/// default is 10 s) unless `MALLOC_CONF`, jemalloc's own variable, is set; then it alone decides.
public enum HeapAllocator {
    /// Freed pages older than this go back to the kernel.
    public static let defaultDirtyDecayMs = 1_000

    /// "jemalloc 5.3.0-…", or "the C library's malloc" where jemalloc is not linked in.
    public static var name: String {
        #if canImport(CJemalloc)
            if let version: UnsafePointer<CChar> = read("version") { return "jemalloc \(String(cString: version))" }
        #endif
        return "the C library's malloc"
    }

    /// Applies the decay unless the environment configures jemalloc. Call first thing in `main`.
    public static func configure(environment: ProcessEnvironment) {
        #if canImport(CJemalloc)
            guard environment.optional("MALLOC_CONF") == nil else { return }
            // The default for arenas made from now on, then each arena made so far (an index
            // without an arena yet is refused, and takes the default when it is made).
            write("arenas.dirty_decay_ms", defaultDirtyDecayMs)
            guard let arenas: UInt32 = read("arenas.narenas") else { return }
            for index in 0..<arenas { write("arena.\(index).dirty_decay_ms", defaultDirtyDecayMs) }
        #endif
    }

    /// The dirty-page decay of arena 0 in milliseconds; nil without jemalloc.
    public static var dirtyDecayMs: Int? {
        #if canImport(CJemalloc)
            return read("arena.0.dirty_decay_ms")
        #else
            return nil
        #endif
    }

    /// Bytes in live allocations, and bytes of memory the allocator keeps resident (live
    /// allocations, free pages not yet returned, its own metadata); nil without jemalloc.
    public static func statistics() -> (allocatedBytes: Int64, residentBytes: Int64)? {
        #if canImport(CJemalloc)
            // Statistics are a snapshot taken when the epoch advances.
            guard write("epoch", UInt64(1)), let allocated: Int = read("stats.allocated"),
                let resident: Int = read("stats.resident")
            else { return nil }
            return (Int64(allocated), Int64(resident))
        #else
            return nil
        #endif
    }

    /// Bytes the calling thread has allocated and freed since it started (jemalloc's per-thread
    /// counters: what other threads do meanwhile does not move them); nil without jemalloc.
    public static func threadCounters() -> (allocatedBytes: UInt64, freedBytes: UInt64)? {
        #if canImport(CJemalloc)
            guard let allocated: UInt64 = read("thread.allocated"), let freed: UInt64 = read("thread.deallocated")
            else { return nil }
            return (allocated, freed)
        #else
            return nil
        #endif
    }

    #if canImport(CJemalloc)
        /// One of jemalloc's named values (`mallctl`), of the type its documentation gives.
        private static func read<Value>(_ name: String) -> Value? {
            withUnsafeTemporaryAllocation(of: Value.self, capacity: 1) { buffer in
                var size = MemoryLayout<Value>.size
                guard mallctl(name, buffer.baseAddress, &size, nil, 0) == 0 else { return nil }
                return buffer.baseAddress!.move()
            }
        }

        @discardableResult
        private static func write<Value>(_ name: String, _ value: Value) -> Bool {
            var value = value
            return withUnsafeMutableBytes(of: &value) { mallctl(name, nil, nil, $0.baseAddress, $0.count) } == 0
        }
    #endif
}
