import BillingRuntime
import BillingSupport
import Testing

#if os(Linux)
    @Suite("jemalloc is the process's allocator")
    struct HeapAllocatorTests {
        @Test("malloc and free go through jemalloc: its statistics count a large allocation and its release")
        func mallocIsJemalloc() throws {
            #expect(HeapAllocator.name.hasPrefix("jemalloc 5."))
            let size = 64 << 20
            let before = try #require(HeapAllocator.statistics())
            // A plain C allocation from Swift's runtime path: if glibc served it, jemalloc would not see it.
            let block = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
            block.initializeMemory(as: UInt8.self, repeating: 1, count: size)
            let during = try #require(HeapAllocator.statistics())
            block.deallocate()
            let after = try #require(HeapAllocator.statistics())
            // The test runner's other threads allocate and free meanwhile: allow them a few MiB.
            let seen = Int64(size - (4 << 20))
            #expect(during.allocatedBytes - before.allocatedBytes >= seen)
            #expect(during.residentBytes >= seen)
            #expect(during.allocatedBytes - after.allocatedBytes >= seen)
        }

        @Test("the dirty-page decay is the runtime's unless MALLOC_CONF chooses")
        func decay() throws {
            // Nothing in this process configured jemalloc yet: its own default (10 s) is in force,
            // so a configure that ignored MALLOC_CONF would show.
            let before = try #require(HeapAllocator.dirtyDecayMs)
            try #require(before != HeapAllocator.defaultDirtyDecayMs)
            HeapAllocator.configure(environment: ProcessEnvironment(["MALLOC_CONF": "dirty_decay_ms:5000"]))
            #expect(HeapAllocator.dirtyDecayMs == before)
            HeapAllocator.configure(environment: ProcessEnvironment([:]))
            #expect(HeapAllocator.dirtyDecayMs == HeapAllocator.defaultDirtyDecayMs)
        }
    }
#endif
