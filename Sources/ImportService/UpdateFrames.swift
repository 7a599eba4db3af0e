import ImportEngine
import ProtoMessages
import RPCCore
import Synchronization

/// Each import update converted and serialized once for all its watchers:
/// with thousands of WatchImport streams on one import, a state change costs
/// one `Wire.job` and one encoding, not one per watcher. Holds the latest
/// version of each import, up to `limit` imports (then it starts over).
final class UpdateFrames: Sendable {
    private let frames = Mutex<[Int64: (version: Int64, frame: FramedMessage<ImportsV1.ImportJob>)]>([:])
    static let limit = 4096

    /// The frame of the snapshot's version, made with `convert` if no watcher
    /// made it yet; called where the update is published, so it does not wait.
    func frameNow(_ snapshot: ImportSnapshot, convert: (ImportJob) -> ImportsV1.ImportJob) -> FramedMessage<ImportsV1.ImportJob> {
        let (id, version) = (snapshot.job.id, snapshot.job.version)
        if let cached = frames.withLock({ $0[id] }), cached.version == version {
            return cached.frame
        }
        let frame = FramedMessage(convert(snapshot.job))
        store(frame, id: id, version: version)
        return frame
    }

    private func store(_ frame: FramedMessage<ImportsV1.ImportJob>, id: Int64, version: Int64) {
        frames.withLock { frames in
            if frames.count >= Self.limit && frames[id] == nil { frames.removeAll(keepingCapacity: true) }
            if (frames[id]?.version ?? .min) <= version { frames[id] = (version, frame) }
        }
    }
}
