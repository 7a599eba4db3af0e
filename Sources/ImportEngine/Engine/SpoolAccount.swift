import Synchronization

/// What the spool directory may hold, and how many uploads may stream into it
/// at once: the bytes there now (counted at start, then kept up to date as
/// uploads write and refused files go), against `ImporterConfiguration`'s
/// `maxSpoolBytes` (0: no quota) and `maxConcurrentUploads`.
final class SpoolAccount: Sendable {
    private let state = Mutex((used: Int64(0), uploads: 0))
    let quota: Int64
    let maxUploads: Int

    init(quota: Int64, maxUploads: Int) {
        self.quota = quota
        self.maxUploads = maxUploads
    }

    var used: Int64 { state.withLock { $0.used } }

    func reset(used: Int64) {
        state.withLock { $0.used = used }
    }

    /// An upload begins, or RESOURCE_EXHAUSTED when too many stream already.
    func beginUpload() throws(ImportError) {
        let admitted = state.withLock { state -> Bool in
            guard state.uploads < maxUploads else { return false }
            state.uploads += 1
            return true
        }
        guard admitted else {
            throw .resourceExhausted("\(maxUploads) uploads are streaming already, the most the server takes at once; try again shortly")
        }
    }

    func endUpload() {
        state.withLock { $0.uploads -= 1 }
    }

    /// `bytes` more are about to be written, or RESOURCE_EXHAUSTED past the quota.
    func add(_ bytes: Int64) throws(ImportError) {
        let fits = state.withLock { state -> Bool in
            guard quota == 0 || state.used + bytes <= quota else { return false }
            state.used += bytes
            return true
        }
        guard fits else {
            throw .resourceExhausted("the server's upload space is full (a quota of \(quota) bytes); the upload was not stored")
        }
    }

    /// `bytes` left the spool (a refused or aborted upload's file).
    func remove(_ bytes: Int64) {
        state.withLock { $0.used -= bytes }
    }
}
