import DequeModule
import Synchronization

/// Publishes import snapshots to in-process subscribers: one per WatchImport
/// call, one per WatchImports call. Publishing never waits for a subscriber.
///
/// Each subscriber has a mailbox: state changes are always kept, a progress
/// snapshot replaces the previous undelivered progress snapshot of the same
/// import. Progress is throttled to one snapshot per `minimumInterval` per
/// import; state changes go out at once.
public final class ProgressHub: Sendable {
    private struct State {
        /// Subscribers of one import, by import, then by subscription id.
        var byImport: [Int64: [Int: Mailbox]] = [:]
        /// Subscribers of every import.
        var ofAll: [Int: Mailbox] = [:]
        var nextID = 0
        var lastProgress: [Int64: WallTime] = [:]
        var closed = false
    }

    private let state = Mutex(State())
    private let clock: any WallClock
    private let minimumInterval: Duration

    public init(clock: any WallClock, minimumInterval: Duration = .milliseconds(100)) {
        self.clock = clock
        self.minimumInterval = minimumInterval
    }

    /// Subscribers right now (for tests and metrics).
    public var subscriberCount: Int { state.withLock { $0.ofAll.count + $0.byImport.values.reduce(0) { $0 + $1.count } } }

    /// Sends a snapshot to the subscribers of its import and of all imports.
    /// The snapshot is shared, not copied, however many subscribers there are.
    public func publish(_ job: ImportJob, stateChanged: Bool) {
        let snapshot = ImportSnapshot(job)
        let now = clock.now()
        let targets = state.withLock { state -> [Mailbox] in
            if !stateChanged {
                if let last = state.lastProgress[job.id], now - last < minimumInterval { return [] }
                state.lastProgress[job.id] = now
            } else if job.state.isTerminal {
                state.lastProgress.removeValue(forKey: job.id)
            }
            let ofImport = state.byImport[job.id]
            var targets: [Mailbox] = []
            targets.reserveCapacity(state.ofAll.count + (ofImport?.count ?? 0))
            targets.append(contentsOf: state.ofAll.values)
            if let ofImport { targets.append(contentsOf: ofImport.values) }
            return targets
        }
        for mailbox in targets {
            mailbox.put(snapshot, stateChanged: stateChanged)
        }
    }

    /// Ends every subscription, now and later (the server is stopping).
    public func closeAll() {
        let mailboxes = state.withLock { state -> [Mailbox] in
            state.closed = true
            defer {
                state.ofAll.removeAll()
                state.byImport.removeAll()
            }
            return Array(state.ofAll.values) + state.byImport.values.flatMap(\.values)
        }
        for mailbox in mailboxes { mailbox.close() }
    }

    /// A subscription to one import (or all when `importID` is nil). Iterate
    /// `updates`; `cancel()` (or the end of iteration) unsubscribes.
    public func subscribe(importID: Int64?) -> ProgressSubscription {
        let mailbox = Mailbox()
        let id = state.withLock { state -> Int in
            state.nextID += 1
            if state.closed {
                mailbox.close()
            } else if let importID {
                state.byImport[importID, default: [:]][state.nextID] = mailbox
            } else {
                state.ofAll[state.nextID] = mailbox
            }
            return state.nextID
        }
        return ProgressSubscription(mailbox: mailbox) { [weak self] in
            self?.state.withLock { state in
                guard let importID else {
                    state.ofAll.removeValue(forKey: id)
                    return
                }
                state.byImport[importID]?.removeValue(forKey: id)
                if state.byImport[importID]?.isEmpty == true { state.byImport.removeValue(forKey: importID) }
            }
        }
    }
}

/// One subscriber's updates.
public final class ProgressSubscription: Sendable {
    fileprivate let mailbox: Mailbox
    private let onCancel: @Sendable () -> Void

    fileprivate init(mailbox: Mailbox, onCancel: @escaping @Sendable () -> Void) {
        self.mailbox = mailbox
        self.onCancel = onCancel
    }

    deinit {
        cancel()
    }

    /// The next snapshot; nil once cancelled.
    public func next() async -> ImportJob? {
        await mailbox.take()?.job
    }

    /// The next snapshot, shared with the other subscribers (no copy).
    public func nextSnapshot() async -> ImportSnapshot? {
        await mailbox.take()
    }

    public func cancel() {
        mailbox.close()
        onCancel()
    }

    /// Hands snapshots to `deliver` as they are published, on the publisher's
    /// thread, while the subscriber has nothing queued and is not busy with a
    /// snapshot it took: a watch then costs no task wake per update. `deliver`
    /// must not wait; it returns false to have the snapshot queued for
    /// `nextSnapshot` instead (its stream is behind, or the snapshot ends the
    /// watch). Calls to `deliver` never overlap and keep publishing order.
    public func deliverDirectly(_ deliver: @escaping @Sendable (ImportSnapshot) -> Bool) {
        mailbox.setDirect(deliver)
    }

    /// Snapshots waiting to be taken (tests).
    package var queuedCount: Int { mailbox.queuedCount }

    /// Whether the subscriber waits in `next` (tests).
    package var isWaiting: Bool { mailbox.isWaiting }
}

/// One published state of an import, shared by every subscriber it goes to.
public final class ImportSnapshot: Sendable {
    public let job: ImportJob

    init(_ job: ImportJob) {
        self.job = job
    }
}

/// A subscriber's queue of snapshots, coalescing progress.
final class Mailbox: Sendable {
    private struct State {
        var queue = Deque<(job: ImportSnapshot, stateChanged: Bool)>()
        var waiter: CheckedContinuation<ImportSnapshot?, Never>?
        var closed = false
        /// Takes snapshots at once while nothing is queued and `draining` is false.
        var direct: (@Sendable (ImportSnapshot) -> Bool)?
        /// The subscriber took a snapshot and has not asked for the next one:
        /// it may still be writing it, so a direct delivery could overtake it.
        var draining = false
    }

    private let state = Mutex(State())

    func setDirect(_ deliver: @escaping @Sendable (ImportSnapshot) -> Bool) {
        state.withLock { $0.direct = deliver }
    }

    func put(_ job: ImportSnapshot, stateChanged: Bool) {
        let waiter = state.withLock { state -> CheckedContinuation<ImportSnapshot?, Never>? in
            if state.closed { return nil }
            // Under the lock: direct deliveries to one subscriber never overlap.
            if let direct = state.direct, state.queue.isEmpty, !state.draining, direct(job) { return nil }
            if let waiter = state.waiter {
                state.waiter = nil
                state.draining = true
                return waiter
            }
            // The newest undelivered snapshot of the same import, if it is progress only, is outdated.
            if !stateChanged, let last = state.queue.lastIndex(where: { $0.job.job.id == job.job.id }), !state.queue[last].stateChanged {
                state.queue[last] = (job, false)
            } else {
                state.queue.append((job, stateChanged))
            }
            if state.queue.count > Self.maxQueued { Self.coalesce(&state.queue) }
            return nil
        }
        waiter?.resume(returning: job)
    }

    var queuedCount: Int { state.withLock { $0.queue.count } }

    var isWaiting: Bool { state.withLock { $0.waiter != nil } }

    /// Undelivered snapshots a subscriber may have before they are coalesced.
    static let maxQueued = 256

    /// A subscriber too far behind gets each import's latest snapshot instead of
    /// its backlog (and, past `maxQueued` imports, the most recent ones).
    private static func coalesce(_ queue: inout Deque<(job: ImportSnapshot, stateChanged: Bool)>) {
        var seen = Set<Int64>()
        var kept: [(job: ImportSnapshot, stateChanged: Bool)] = []
        for entry in queue.reversed() where seen.insert(entry.job.job.id).inserted {
            kept.append((entry.job, true))
            if kept.count == maxQueued / 2 { break }
        }
        queue = Deque(kept.reversed())
    }

    func take() async -> ImportSnapshot? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<ImportSnapshot?, Never>) in
                let ready = state.withLock { state -> ImportSnapshot?? in
                    if let first = state.queue.popFirst() {
                        state.draining = true
                        return .some(first.job)
                    }
                    state.draining = false
                    if state.closed || Task.isCancelled { return .some(nil) }
                    state.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            close()
        }
    }

    func close() {
        let waiter = state.withLock { state -> CheckedContinuation<ImportSnapshot?, Never>? in
            state.closed = true
            state.queue.removeAll()
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }
}
