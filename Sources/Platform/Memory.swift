import CPlatform

#if canImport(Glibc)
import Glibc
#endif

/// The process's allocator.
public enum Memory {
    /// How much freed memory a server keeps for reuse (`configureForServer`).
    public static let serverTrimThreshold = 4 << 20
    /// Freed blocks of one size a thread keeps for reuse (`configureForServer`).
    public static let threadCacheCount = 64

    /// Sets up the allocator of a long-running server (importd, the interop
    /// server, the engine bench), first thing, before it starts threads:
    ///
    /// - Keeps up to `trimThreshold` of freed memory at the top of each malloc
    ///   arena instead of handing it back to the system at once. glibc's
    ///   default (128 KiB) returns the memory of every large message as soon as
    ///   it is freed and takes fresh zeroed pages for the next one. The pages
    ///   kept are the ones reused next.
    /// - One malloc arena per core, not glibc's eight: each arena keeps its own
    ///   freed memory, and with a dozen threads (event loops, the Swift pool,
    ///   SQLite's queues) memory idles in other threads' arenas. The engine's
    ///   1M-row import peaked at 72-73 MiB with these two, 94-100 without, in
    ///   the same time (alternating runs, Dec 7). Until then neither applied:
    ///   the C side tested for glibc before any header had defined `__GLIBC__`.
    /// - Lets each thread keep up to `threadCacheCount` freed blocks of a size
    ///   (up to 1 KiB) for its next allocations, not glibc's 7. A read of
    ///   many requests starts a burst of calls that allocate dozens of objects
    ///   each and free them together; past 7 a size, frees and allocations go
    ///   through the arena's bins (unlink_chunk, malloc_consolidate: 10-15% of
    ///   a unary call's CPU). All three: 14.8 against 16.8 µs of CPU a
    ///   Health/Check call (five alternating rounds); the cache alone 10-14%
    ///   less in three runs. It costs at most about 2 MiB a thread, kept only
    ///   where blocks were freed. glibc reads this one only from
    ///   `GLIBC_TUNABLES` at start, so the process executes itself again once
    ///   with it set (same arguments and process id), unless the operator's
    ///   `GLIBC_TUNABLES` sets `glibc.malloc.tcache_count` already. So call it
    ///   first thing in a server's `main`, never from a library or a test
    ///   runner: whatever the process did before, it does again.
    public static func configureForServer(trimThreshold: Int = serverTrimThreshold) {
        _ = cplatform_reexec_with_tunables(CommandLine.unsafeArgv, "glibc.malloc.tcache_count", "glibc.malloc.tcache_count=\(threadCacheCount)")
        setArenaLimits(trimThreshold: trimThreshold, arenas: max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    /// Sets glibc's trim threshold and most arenas (`configureForServer`);
    /// false where the allocator is not glibc's.
    @discardableResult
    package static func setArenaLimits(trimThreshold: Int, arenas: Int) -> Bool {
        let trim = cplatform_set_trim_threshold(trimThreshold) == 1
        return cplatform_set_arena_max(Int32(arenas)) == 1 && trim
    }
}
