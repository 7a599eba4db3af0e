import CPlatform

/// The process's allocator.
public enum Memory {
    /// How much freed memory a server keeps for reuse (`keepFreedMemory`).
    public static let serverTrimThreshold = 4 << 20

    /// Keeps up to `bytes` of freed memory at the top of each malloc arena
    /// instead of handing it back to the system at once. glibc's default
    /// (128 KiB) returns the memory of every large message as soon as it is
    /// freed and takes fresh zeroed pages for the next one: streaming 1 GiB in
    /// 64 KiB messages spent a quarter of the server's time in page faults.
    /// The pages kept are the ones reused next, so the peak RSS stays the same.
    public static func keepFreedMemory(upTo bytes: Int = serverTrimThreshold) {
        _ = cplatform_set_trim_threshold(bytes)
    }
}
