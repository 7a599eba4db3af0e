import Platform
import Testing

/// The allocator settings servers make (`Memory.configureForServer`).
@Suite struct MemoryTests {
    /// They once compiled to nothing (the C file tested for glibc before any
    /// header had said it was glibc): every setting reported "unsupported".
    @Test func glibcTakesTheArenaLimits() {
        #if canImport(Glibc)
        #expect(Memory.setArenaLimits(trimThreshold: Memory.serverTrimThreshold, arenas: 2))
        #endif
    }
}
