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
        var byImport: [Int64: Subscribers] = [:]
        /// Subscribers of every import.
        var ofAll = Subscribers()
        var nextID = 0
        var lastProgress: [Int64: WallTime] = [:]
        /// The newest snapshot of each import that has subscribers: a new
        /// watcher of it starts from here without reading the store (10,000
        /// watchers of one import: one read, not 10,000).
        var latest: [Int64: ImportSnapshot] = [:]
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

    /// Mailboxes in arrays a publisher takes whole (one reference, not one per
    /// subscriber: 10,000 watchers of one import), one array per delivery
    /// executor, with an index for removing one in constant time.
    struct Subscribers {
        /// The subscribers that are delivered to on one executor (or where the
        /// publisher is, for `executor` nil).
        struct Lane {
            let executor: (any TaskExecutor)?
            fileprivate(set) var list: [Mailbox] = []
            fileprivate var ids: [Int] = []
        }

        private(set) var lanes: [Lane] = []
        private var position: [Int: (lane: Int, index: Int)] = [:]

        var count: Int { position.count }
        var isEmpty: Bool { position.isEmpty }

        mutating func add(_ id: Int, _ mailbox: Mailbox, executor: (any TaskExecutor)?) {
            let lane: Int
            if let found = lanes.firstIndex(where: { Self.same($0.executor, executor) }) {
                lane = found
            } else {
                lane = lanes.count
                lanes.append(Lane(executor: executor))
            }
            position[id] = (lane, lanes[lane].list.count)
            lanes[lane].list.append(mailbox)
            lanes[lane].ids.append(id)
        }

        mutating func remove(_ id: Int) {
            guard let (lane, index) = position.removeValue(forKey: id) else { return }
            let last = lanes[lane].list.count - 1
            if index != last {
                lanes[lane].list[index] = lanes[lane].list[last]
                lanes[lane].ids[index] = lanes[lane].ids[last]
                position[lanes[lane].ids[index]] = (lane, index)
            }
            lanes[lane].list.removeLast()
            lanes[lane].ids.removeLast()
        }

        var all: [Mailbox] { lanes.flatMap(\.list) }

        private static func same(_ a: (any TaskExecutor)?, _ b: (any TaskExecutor)?) -> Bool {
            switch (a, b) {
            case (nil, nil): true
            case (let a?, let b?): (a as AnyObject) === (b as AnyObject)
            default: false
            }
        }
    }

    /// Sends a snapshot to the subscribers of its import and of all imports.
    /// The snapshot is shared, not copied, however many subscribers there are.
    /// Subscribers with a delivery executor get it there, one job per executor
    /// (each event loop offers to its own streams, in parallel, with no
    /// hand-off per stream); the others here, on the publisher's thread.
    public func publish(_ job: ImportJob, stateChanged: Bool) {
        let snapshot = ImportSnapshot(job)
        let now = clock.now()
        let lanes = state.withLock { state -> [Subscribers.Lane] in
            Self.keep(snapshot, in: &state)
            if !stateChanged {
                if let last = state.lastProgress[job.id], now - last < minimumInterval { return [] }
                state.lastProgress[job.id] = now
            } else if job.state.isTerminal {
                state.lastProgress.removeValue(forKey: job.id)
            }
            return state.ofAll.lanes + (state.byImport[job.id]?.lanes ?? [])
        }
        for lane in lanes where !lane.list.isEmpty {
            let list = lane.list
            guard let executor = lane.executor else {
                for mailbox in list { mailbox.put(snapshot, stateChanged: stateChanged) }
                continue
            }
            Task(executorPreference: executor) {
                for mailbox in list { mailbox.put(snapshot, stateChanged: stateChanged) }
            }
        }
    }

    /// The newest snapshot of an import with subscribers, if one was published
    /// or remembered since it got them.
    public func latest(_ id: Int64) -> ImportJob? {
        state.withLock { $0.latest[id]?.job }
    }

    /// Keeps `job` (read from the store) as the import's newest snapshot, unless
    /// a newer one is known; only while the import has subscribers.
    public func remember(_ job: ImportJob) {
        state.withLock { Self.keep(ImportSnapshot(job), in: &$0) }
    }

    private static func keep(_ snapshot: ImportSnapshot, in state: inout State) {
        let id = snapshot.job.id
        guard state.byImport[id] != nil else { return }
        if let known = state.latest[id], known.job.version > snapshot.job.version { return }
        state.latest[id] = snapshot
    }

    /// Ends every subscription, now and later (the server is stopping).
    public func closeAll() {
        let mailboxes = state.withLock { state -> [Mailbox] in
            state.closed = true
            defer {
                state.ofAll = Subscribers()
                state.byImport.removeAll()
                state.latest.removeAll()
            }
            return state.ofAll.all + state.byImport.values.flatMap(\.all)
        }
        for mailbox in mailboxes { mailbox.close() }
    }

    /// A subscription to one import (or all when `importID` is nil). Iterate
    /// `updates`; `cancel()` (or the end of iteration) unsubscribes. With an
    /// `executor`, snapshots are delivered there (see `publish`): the one that
    /// writes the subscriber's stream.
    public func subscribe(importID: Int64?, executor: (any TaskExecutor)? = nil) -> ProgressSubscription {
        let mailbox = Mailbox()
        let id = state.withLock { state -> Int in
            state.nextID += 1
            if state.closed {
                mailbox.close()
            } else if let importID {
                state.byImport[importID, default: Subscribers()].add(state.nextID, mailbox, executor: executor)
            } else {
                state.ofAll.add(state.nextID, mailbox, executor: executor)
            }
            return state.nextID
        }
        return ProgressSubscription(mailbox: mailbox) { [weak self] in
            self?.state.withLock { state in
                guard let importID else {
                    state.ofAll.remove(id)
                    return
                }
                state.byImport[importID]?.remove(id)
                if state.byImport[importID]?.isEmpty == true {
                    state.byImport.removeValue(forKey: importID)
                    state.latest.removeValue(forKey: importID)
                }
            }
        }
    }
}

/// Takes snapshots where they are published (`ProgressSubscription.deliverDirectly`).
/// One object, called directly: an update fanned out to 10,000 subscribers
/// touches as few objects per subscriber as it can.
public protocol SnapshotReceiver: AnyObject, Sendable {
    /// Takes `snapshot` without waiting; false to have it queued for
    /// `nextSnapshot` instead.
    func receive(_ snapshot: ImportSnapshot) -> Bool
}

/// A closure as a receiver.
private final class ClosureReceiver: SnapshotReceiver {
    let body: @Sendable (ImportSnapshot) -> Bool

    init(_ body: @escaping @Sendable (ImportSnapshot) -> Bool) {
        self.body = body
    }

    func receive(_ snapshot: ImportSnapshot) -> Bool { body(snapshot) }
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

    /// The next queued snapshot without waiting; nil when none is queued (then
    /// direct deliveries go on) or the subscription was closed.
    public func takeQueued() -> ImportSnapshot? {
        mailbox.takeNow()
    }

    /// True once the subscription was cancelled or the hub closed.
    public var isClosed: Bool { mailbox.isClosed }

    /// Hands snapshots to `deliver` as they are published, on the publisher's
    /// thread (or the subscription's executor), while the subscriber has nothing queued and is not busy with a
    /// snapshot it took: a watch then costs no task wake per update. `deliver`
    /// must not wait; it returns false to have the snapshot queued for
    /// `nextSnapshot` instead (its stream is behind, or the snapshot ends the
    /// watch). Calls to `deliver` never overlap and keep publishing order.
    ///
    /// `wake`, when given, is called (where `deliver` is, outside any lock) whenever a snapshot was queued with nobody waiting in
    /// `nextSnapshot`, and when the subscription is closed: a subscriber that
    /// holds no task while idle starts one then.
    public func deliverDirectly(wake: (@Sendable () -> Void)? = nil, _ deliver: @escaping @Sendable (ImportSnapshot) -> Bool) {
        mailbox.setDirect(ClosureReceiver(deliver), wake: wake)
    }

    /// `deliverDirectly` to a receiver object.
    public func deliverDirectly(to receiver: any SnapshotReceiver, wake: (@Sendable () -> Void)? = nil) {
        mailbox.setDirect(receiver, wake: wake)
    }

    /// Snapshots waiting to be taken (tests).
    package var queuedCount: Int { mailbox.queuedCount }

    /// Whether the subscriber waits in `next` (tests).
    package var isWaiting: Bool { mailbox.isWaiting }
}

/// One published state of an import, shared by every subscriber it goes to.
public final class ImportSnapshot: Sendable {
    public let job: ImportJob
    /// What `derived` made of it, retained once (an `Unmanaged` object's
    /// bits), or 0.
    private let derivedBits = Atomic<UInt>(0)

    init(_ job: ImportJob) {
        self.job = job
    }

    deinit {
        let bits = derivedBits.load(ordering: .acquiring)
        if bits != 0 { Self.unmanaged(bits).release() }
    }

    /// Something made from this snapshot once and shared by every subscriber
    /// it goes to (a watch's serialized update): the first caller makes it,
    /// the others read it without a lock (10,000 watchers of one import on
    /// two event loops would otherwise take one lock 10,000 times). Made at
    /// most once per type in practice: every caller of one snapshot must ask
    /// for the same type (another type is made again, not kept).
    public func derived<Value: AnyObject & Sendable>(_ make: () -> Value) -> Value {
        let bits = derivedBits.load(ordering: .acquiring)
        if bits != 0, let value = Self.unmanaged(bits).takeUnretainedValue() as? Value { return value }
        let made = make()
        let madeBits = UInt(bitPattern: Unmanaged<AnyObject>.passRetained(made).toOpaque())
        let (stored, current) = derivedBits.compareExchange(expected: 0, desired: madeBits, ordering: .acquiringAndReleasing)
        if stored { return made }
        Self.unmanaged(madeBits).release()
        return Self.unmanaged(current).takeUnretainedValue() as? Value ?? made
    }

    private static func unmanaged(_ bits: UInt) -> Unmanaged<AnyObject> {
        Unmanaged<AnyObject>.fromOpaque(UnsafeRawPointer(bitPattern: bits)!)
    }
}

/// A subscriber's queue of snapshots, coalescing progress.
final class Mailbox: Sendable {
    private struct State {
        var queue = Deque<(job: ImportSnapshot, stateChanged: Bool)>()
        var waiter: CheckedContinuation<ImportSnapshot?, Never>?
        var closed = false
        /// Takes snapshots at once while nothing is queued and `draining` is false.
        var direct: (any SnapshotReceiver)?
        /// The subscriber took a snapshot and has not asked for the next one:
        /// it may still be writing it, so a direct delivery could overtake it.
        var draining = false
        /// Told when a snapshot is queued with no waiter, and on close.
        var wake: (@Sendable () -> Void)?
    }

    private let state = Mutex(State())

    func setDirect(_ deliver: any SnapshotReceiver, wake: (@Sendable () -> Void)?) {
        // Queued before this (or closed already): wake at once.
        let pending = state.withLock { state -> Bool in
            guard !state.closed else { return true }
            state.direct = deliver
            state.wake = wake
            return !state.queue.isEmpty && state.waiter == nil
        }
        if pending { wake?() }
    }

    func put(_ job: ImportSnapshot, stateChanged: Bool) {
        var wake: (@Sendable () -> Void)?
        let waiter = state.withLock { state -> CheckedContinuation<ImportSnapshot?, Never>? in
            if state.closed { return nil }
            // Under the lock: direct deliveries to one subscriber never overlap.
            if let direct = state.direct, state.queue.isEmpty, !state.draining, direct.receive(job) { return nil }
            if let waiter = state.waiter {
                state.waiter = nil
                state.draining = true
                return waiter
            }
            wake = state.wake
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
        wake?()
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

    func takeNow() -> ImportSnapshot? {
        state.withLock { state in
            if let first = state.queue.popFirst() {
                state.draining = true
                return first.job
            }
            state.draining = false
            return nil
        }
    }

    var isClosed: Bool { state.withLock { $0.closed } }

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
        let (waiter, wake) = state.withLock { state -> (CheckedContinuation<ImportSnapshot?, Never>?, (@Sendable () -> Void)?) in
            let wake = state.closed ? nil : state.wake
            state.closed = true
            state.queue.removeAll()
            state.direct = nil
            state.wake = nil
            defer { state.waiter = nil }
            return (state.waiter, wake)
        }
        waiter?.resume(returning: nil)
        wake?()
    }
}
