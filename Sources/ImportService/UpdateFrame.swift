import ImportEngine
import ProtoMessages
import RPCCore

/// An import update converted and serialized once for all its watchers: with
/// thousands of WatchImport streams on one import, a state change costs one
/// `Wire.job` and one encoding, not one per watcher. The frame is kept on the
/// published snapshot itself, which every watcher shares, and goes with it.
final class UpdateFrame: Sendable {
    let framed: FramedMessage<ImportsV1.ImportJob>

    init(_ framed: FramedMessage<ImportsV1.ImportJob>) {
        self.framed = framed
    }
}

extension ImportSnapshot {
    /// The snapshot's frame, made with `convert` by the first watcher that
    /// needs it; called where the update is published, so it does not wait.
    func frame(_ convert: (ImportJob) -> ImportsV1.ImportJob) -> FramedMessage<ImportsV1.ImportJob> {
        derived { UpdateFrame(FramedMessage(convert(job))) }.framed
    }
}
