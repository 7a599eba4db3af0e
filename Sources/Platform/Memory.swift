import CPlatform

#if canImport(Glibc)
import Glibc
#endif

/// The process's allocator.
public enum Memory {
    /// How much freed memory a server keeps for reuse (`configureForServer`).
    public static let serverTrimThreshold = 4 << 20

    /// Sets up the allocator of a long-running server (importd, the interop
    /// server, the engine bench), before it starts threads:
    ///
    /// - Keeps up to `trimThreshold` of freed memory at the top of each malloc
    ///   arena instead of handing it back to the system at once. glibc's
    ///   default (128 KiB) returns the memory of every large message as soon as
    ///   it is freed and takes fresh zeroed pages for the next one: streaming 1
    ///   GiB in 64 KiB messages spent a quarter of the server's time in page
    ///   faults. The pages kept are the ones reused next.
    /// - One malloc arena per core, not glibc's eight: each arena keeps its own
    ///   freed memory, and with a dozen threads (event loops, the Swift pool,
    ///   SQLite's queues) an import of 5M rows peaked 10-15 MiB higher for
    ///   memory idle in other threads' arenas. Per-thread caches serve most
    ///   small allocations without the arena's lock: unary calls measured the
    ///   same (13.4-13.5 vs 13.9-14.6 us of CPU a call).
    public static func configureForServer(trimThreshold: Int = serverTrimThreshold) {
        _ = cplatform_set_trim_threshold(trimThreshold)
        _ = cplatform_set_arena_max(Int32(max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))))
    }
}
