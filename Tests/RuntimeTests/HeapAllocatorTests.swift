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
            // This thread's own counters: the test runner's other threads allocate and free meanwhile.
            let before = try #require(HeapAllocator.threadCounters())
            // A plain C allocation from Swift's runtime path: if glibc served it, jemalloc would not see it.
            let block = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
            block.initializeMemory(as: UInt8.self, repeating: 1, count: size)
            let during = try #require(HeapAllocator.threadCounters())
            let resident = try #require(HeapAllocator.statistics()).residentBytes
            block.deallocate()
            let after = try #require(HeapAllocator.threadCounters())
            #expect(during.allocatedBytes - before.allocatedBytes >= UInt64(size))
            #expect(resident >= Int64(size))
            #expect(after.freedBytes - during.freedBytes >= UInt64(size))
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
