import Dispatch
import Synchronization
import ImportEngine
import Testing

@Suite struct ImportLifecycleTests {
    /// Every (state, event) pair and what it must give: a state, or refusal.
    static let table: [(ImportState, ImportEvent, ImportState?)] = {
        let allowed: [ImportState: [ImportEvent: ImportState]] = [
            .queued: [.start: .running, .pause: .paused, .cancel: .cancelled, .fail: .failed, .resume: .queued],
            .running: [.pause: .paused, .cancel: .cancelled, .fail: .failed, .complete: .completed, .resume: .running],
            .paused: [.pause: .paused, .cancel: .cancelled, .resume: .queued],
            .completed: [.revert: .reverted],
            .cancelled: [.revert: .reverted],
            .failed: [:],
            .reverted: [:],
        ]
        let events: [ImportEvent] = [.start, .pause, .resume, .cancel, .complete, .fail, .revert]
        return ImportState.allCases.flatMap { state in events.map { (state, $0, allowed[state]![$0]) } }
    }()

    @Test(arguments: table.indices)
    func transition(index: Int) {
        let (state, event, expected) = Self.table[index]
        if let expected {
            let next = try? ImportLifecycle.next(state, on: event)
            #expect(next == expected, "\(state) on \(event)")
        } else {
            #expect(throws: InvalidTransition(state: state, event: event)) { try ImportLifecycle.next(state, on: event) }
        }
    }

    @Test func refusalsSayWhatIsAllowed() {
        #expect(InvalidTransition(state: .queued, event: .revert).description
            == "only a COMPLETED or CANCELLED import can be reverted; this one is QUEUED")
        #expect(InvalidTransition(state: .completed, event: .pause).description == "cannot pause an import that is COMPLETED")
        #expect(ImportState.allCases.filter(\.isTerminal) == [.completed, .failed, .cancelled, .reverted])
    }
}

@Suite struct SchedulerAlignmentTests {
    @Test func fifteenMinuteTicksFallOnTheQuarterHours() {
        let interval = Duration.seconds(900)
        let base = WallTime(seconds: 1_767_607_200)  // 2026-01-05T10:00:00Z
        #expect(ImportScheduler.tick(after: base, interval: interval) == WallTime(seconds: 1_767_607_200 + 900))  // 10:15
        #expect(ImportScheduler.tick(after: base + .seconds(1), interval: interval) == WallTime(seconds: 1_767_607_200 + 900))
        #expect(ImportScheduler.tick(after: base + .seconds(899), interval: interval) == WallTime(seconds: 1_767_607_200 + 900))
        #expect(ImportScheduler.tick(after: base + .seconds(900), interval: interval) == WallTime(seconds: 1_767_607_200 + 1800))  // 10:30
        #expect(ImportScheduler.tick(after: base + .seconds(3599), interval: interval) == WallTime(seconds: 1_767_607_200 + 3600))  // 11:00
        // Every tick is a quarter hour.
        var time = base + .seconds(7)
        for _ in 0..<10 {
            time = ImportScheduler.tick(after: time, interval: interval)
            #expect(time.seconds % 900 == 0)
        }
    }

    @Test func shortIntervalsAlignToo() {
        let t = WallTime(microseconds: 1_767_607_201_500_000)  // 10:00:01.5
        #expect(ImportScheduler.tick(after: t, interval: .seconds(2)) == WallTime(seconds: 1_767_607_202))
        #expect(ImportScheduler.tick(after: t, interval: .milliseconds(500)) == WallTime(microseconds: 1_767_607_202_000_000))
    }

    @Test func manualClockWakesSleepersOnlyWhenDue() async throws {
        let clock = ManualClock(now: WallTime(seconds: 100))
        let woke = Task { try await clock.sleep(until: WallTime(seconds: 160)); return clock.now() }
        await clock.waitForSleeper()
        clock.advance(by: .seconds(59))
        #expect(clock.sleeperCount == 1)
        clock.advance(by: .seconds(1))
        let wokeAt = try await woke.value
        #expect(wokeAt == WallTime(seconds: 160))
        let cancelled = Task { try await clock.sleep(until: WallTime(seconds: 999)) }
        await clock.waitForSleeper()
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        #expect(clock.sleeperCount == 0)
    }
}

@Suite struct ProgressHubTests {
    private func job(_ id: Int64, _ state: ImportState, processed: Int64, version: Int64) -> ImportJob {
        var job = ImportJob(id: id, state: state, NewImport(
            fileName: "f.csv", kind: .contact, subscriptionIDs: [], onDuplicate: .update, columnMap: [:],
            ignoreUnknownColumns: false, validateOnly: false, encoding: .utf8, sha256: "", bytes: 0, totalRows: 100,
            spoolName: "", header: [], delimiter: 44, dataOffset: 0, createdAt: WallTime(seconds: 0)))
        job.processedRows = processed
        job.version = version
        return job
    }

    @Test func progressIsThrottledStateChangesAlwaysGoOut() async {
        let clock = ManualClock(now: WallTime(seconds: 0))
        let hub = ProgressHub(clock: clock)
        let updates = hub.subscribe(importID: 1)
        hub.publish(job(1, .running, processed: 0, version: 1), stateChanged: true)
        for i in 1...50 {
            clock.advance(by: .milliseconds(10))  // 100 a second
            hub.publish(job(1, .running, processed: Int64(i), version: Int64(1 + i)), stateChanged: false)
        }
        hub.publish(job(1, .completed, processed: 100, version: 60), stateChanged: true)
        var seen: [ImportJob] = []
        while let next = await updates.next() {
            seen.append(next)
            if next.state.isTerminal { break }
        }
        // 0.5 s of progress at ~10 a second, each coalesced to the newest: a handful, not 50.
        let progress = seen.filter { $0.state == .running && $0.processedRows > 0 }
        #expect(progress.count >= 1 && progress.count <= 6)
        #expect(seen.first?.processedRows == 0 && seen.last?.state == .completed)
        #expect(seen.map(\.version) == seen.map(\.version).sorted())
    }

    @Test func directDeliveriesGoOutWhereTheyArePublishedAndQueueBehindARefusal() async {
        let clock = ManualClock(now: WallTime(seconds: 0))
        let hub = ProgressHub(clock: clock, minimumInterval: .zero)
        let updates = hub.subscribe(importID: 1)
        let direct = Mutex<[Int64]>([])
        let refuse = Mutex<Set<Int64>>([3])
        updates.deliverDirectly { snapshot in
            guard !refuse.withLock({ $0.contains(snapshot.job.version) }) else { return false }
            direct.withLock { $0.append(snapshot.job.version) }
            return true
        }
        hub.publish(job(1, .running, processed: 1, version: 1), stateChanged: true)
        hub.publish(job(1, .running, processed: 2, version: 2), stateChanged: false)
        #expect(direct.withLock { $0 } == [1, 2], "no task involved")
        #expect(updates.queuedCount == 0)
        // A refusal (the stream is behind) queues the snapshot, and what follows
        // queues behind it: nothing may overtake it.
        hub.publish(job(1, .running, processed: 3, version: 3), stateChanged: true)
        refuse.withLock { $0 = [] }
        hub.publish(job(1, .paused, processed: 4, version: 4), stateChanged: true)
        #expect(direct.withLock { $0 } == [1, 2])
        #expect(await updates.next()?.version == 3)
        // The subscriber took 3 and may still be writing it: 5 waits too.
        hub.publish(job(1, .queued, processed: 4, version: 5), stateChanged: true)
        #expect(direct.withLock { $0 } == [1, 2])
        #expect(await updates.next()?.version == 4)
        #expect(await updates.next()?.version == 5)
        // Caught up and waiting again: direct once more.
        let waiting = Task { await updates.next() }
        while !updates.isWaiting { await Task.yield() }
        hub.publish(job(1, .running, processed: 5, version: 6), stateChanged: true)
        #expect(direct.withLock { $0 } == [1, 2, 6])
        refuse.withLock { $0 = [7] }
        hub.publish(job(1, .completed, processed: 9, version: 7), stateChanged: true)
        #expect(await waiting.value?.version == 7, "a refused snapshot wakes the waiting subscriber")
        updates.cancel()
    }

    @Test func aSubscriberWithNoTaskIsWokenForWhatItRefusedAndCatchesUpWithoutWaiting() {
        let hub = ProgressHub(clock: ManualClock(now: WallTime(seconds: 0)), minimumInterval: .zero)
        let updates = hub.subscribe(importID: 1)
        let wakes = Mutex(0)
        let refuse = Mutex<Set<Int64>>([2, 3])
        let direct = Mutex<[Int64]>([])
        updates.deliverDirectly(wake: { wakes.withLock { $0 += 1 } }) { snapshot in
            guard !refuse.withLock({ $0.contains(snapshot.job.version) }) else { return false }
            direct.withLock { $0.append(snapshot.job.version) }
            return true
        }
        hub.publish(job(1, .running, processed: 1, version: 1), stateChanged: true)
        #expect(wakes.withLock { $0 } == 0 && direct.withLock { $0 } == [1])
        hub.publish(job(1, .running, processed: 2, version: 2), stateChanged: true)
        #expect(wakes.withLock { $0 } == 1, "a refusal wakes the subscriber")
        hub.publish(job(1, .paused, processed: 3, version: 3), stateChanged: true)
        // Catching up without waiting: what was queued, in order, then nil.
        #expect(updates.takeQueued()?.job.version == 2)
        #expect(updates.takeQueued()?.job.version == 3)
        #expect(updates.takeQueued() == nil)
        // Caught up: direct again.
        hub.publish(job(1, .queued, processed: 3, version: 4), stateChanged: true)
        #expect(direct.withLock { $0 } == [1, 4])
        // Closing wakes it too (a server shutting down), once.
        let before = wakes.withLock { $0 }
        hub.closeAll()
        #expect(wakes.withLock { $0 } == before + 1 && updates.isClosed)
        hub.publish(job(1, .running, processed: 4, version: 5), stateChanged: true)
        #expect(wakes.withLock { $0 } == before + 1)
    }

    @Test func subscribersWithAnExecutorGetUpdatesThereInOrderAndTheOthersWhereTheyArePublished() async {
        let hub = ProgressHub(clock: ManualClock(now: WallTime(seconds: 0)), minimumInterval: .zero)
        let loops = [QueueExecutor(), QueueExecutor()]
        // Three subscribers on each executor, two with none; one of each is cancelled.
        let seen = Mutex<[Int: [(version: Int64, executor: Int?)]]>([:])
        var subscriptions: [ProgressSubscription] = []
        for index in 0..<8 {
            let executor = index < 6 ? index % 2 : nil
            let updates = hub.subscribe(importID: 1, executor: executor.map { loops[$0] })
            updates.deliverDirectly { snapshot in
                let on = loops.indices.first { loops[$0].isCurrent }
                seen.withLock { $0[index, default: []].append((snapshot.job.version, on)) }
                return true
            }
            subscriptions.append(updates)
        }
        subscriptions[4].cancel()
        subscriptions[7].cancel()
        for version in Int64(1)...20 { hub.publish(job(1, .running, processed: version, version: version), stateChanged: true) }
        // No executor: delivered before `publish` returned.
        #expect(seen.withLock { $0[6]?.map(\.version) } == Array(Int64(1)...20))
        while seen.withLock({ $0.values.reduce(0) { $0 + $1.count } }) < 6 * 20 { await Task.yield() }
        let final = seen.withLock { $0 }
        for index in [0, 1, 2, 3, 5, 6] {
            #expect(final[index]?.map(\.version) == Array(Int64(1)...20), "subscriber \(index): every update, in order")
            #expect(final[index]?.allSatisfy { $0.executor == (index < 6 ? index % 2 : nil) } == true, "subscriber \(index) on its executor")
        }
        #expect(final[4] == nil && final[7] == nil, "cancelled subscribers get nothing")
        for updates in subscriptions { updates.cancel() }
        #expect(hub.subscriberCount == 0)
    }

    @Test func aSnapshotMakesWhatIsDerivedFromItOnceForAllItsSubscribers() async {
        let hub = ProgressHub(clock: ManualClock(now: WallTime(seconds: 0)), minimumInterval: .zero)
        let made = Atomic(0)
        let delivered = Atomic(0)
        let values = Mutex<Set<ObjectIdentifier>>([])
        var subscriptions: [ProgressSubscription] = []
        for _ in 0..<50 {
            let updates = hub.subscribe(importID: 1, executor: QueueExecutor())
            updates.deliverDirectly { snapshot in
                let value = snapshot.derived { () -> Box in
                    made.add(1, ordering: .relaxed)
                    return Box(snapshot.job.version)
                }
                values.withLock { _ = $0.insert(ObjectIdentifier(value)) }
                delivered.add(1, ordering: .relaxed)
                return value.version == snapshot.job.version
            }
            subscriptions.append(updates)
        }
        hub.publish(job(1, .running, processed: 1, version: 1), stateChanged: true)
        while delivered.load(ordering: .relaxed) < 50 { await Task.yield() }
        // Racing subscribers may each make one, but all of them use one.
        #expect(values.withLock { $0.count } == 1)
        #expect(made.load(ordering: .relaxed) >= 1)
        for updates in subscriptions { updates.cancel() }
    }

    @Test func theHubKeepsTheNewestSnapshotOfWatchedImportsOnly() {
        let hub = ProgressHub(clock: ManualClock(now: WallTime(seconds: 0)), minimumInterval: .zero)
        hub.publish(job(1, .running, processed: 1, version: 1), stateChanged: true)
        #expect(hub.latest(1) == nil, "nobody watches import 1 yet")
        let updates = hub.subscribe(importID: 1)
        hub.remember(job(1, .running, processed: 1, version: 1))
        hub.publish(job(1, .running, processed: 5, version: 3), stateChanged: false)
        hub.remember(job(1, .running, processed: 2, version: 2))
        #expect(hub.latest(1)?.version == 3, "an older read never replaces a newer snapshot")
        updates.cancel()
        #expect(hub.latest(1) == nil, "forgotten with its last watcher")
    }

    @Test func aSlowSubscriberKeepsOnlyTheNewestProgressButEveryStateChange() async {
        let clock = ManualClock(now: WallTime(seconds: 0))
        let hub = ProgressHub(clock: clock, minimumInterval: .zero)
        let slow = hub.subscribe(importID: nil)
        hub.publish(job(1, .running, processed: 0, version: 1), stateChanged: true)
        for i in 1...1000 { hub.publish(job(1, .running, processed: Int64(i), version: Int64(1 + i)), stateChanged: false) }
        hub.publish(job(2, .queued, processed: 0, version: 1), stateChanged: true)
        hub.publish(job(1, .paused, processed: 1000, version: 2000), stateChanged: true)
        var seen: [(Int64, ImportState, Int64)] = []
        for _ in 0..<4 {
            if let next = await slow.next() { seen.append((next.id, next.state, next.processedRows)) }
        }
        #expect(seen.map(\.0) == [1, 1, 2, 1])
        #expect(seen[1].2 == 1000, "999 outdated progress snapshots were dropped, the newest kept")
        #expect(seen.last?.1 == .paused)
        slow.cancel()
        #expect(hub.subscriberCount == 0)
        hub.closeAll()
        let late = await hub.subscribe(importID: 1).next()
        #expect(late == nil)
    }
}

@Suite struct PageTokenTests {
    @Test func tokensRoundTripAndAreTiedToTheirQuery() throws {
        let page = try Paging.request(pageSize: 0, pageToken: "", query: "imports:")
        #expect(page.size == Paging.defaultSize && page.after == nil)
        let capped = try Paging.request(pageSize: 5000, pageToken: "", query: "q")
        #expect(capped.size == Paging.maxSize)
        let token = Paging.nextToken(count: 10, size: 10, lastKey: 1234567, query: "rows:7:4")
        #expect(!token.isEmpty && !token.contains("1234567"))
        let resumed = try Paging.request(pageSize: 10, pageToken: token, query: "rows:7:4")
        #expect(resumed.after == 1234567)
        #expect(throws: ImportError.self) { try Paging.request(pageSize: 10, pageToken: token, query: "rows:7:1") }
        #expect(throws: ImportError.self) { try Paging.request(pageSize: 10, pageToken: "!!", query: "rows:7:4") }
        #expect(throws: ImportError.self) { try Paging.request(pageSize: -1, pageToken: "", query: "q") }
        #expect(Paging.nextToken(count: 9, size: 10, lastKey: 5, query: "q") == "", "a short page is the last")
    }
}

@Suite struct StalledSubscriberTests {
    @Test func aSubscriberThatReadsNothingHoldsABoundedQueueOfTheLatestSnapshots() async {
        let hub = ProgressHub(clock: ManualClock(now: WallTime(seconds: 0)))
        let all = hub.subscribe(importID: nil)
        for version in 1...20 {
            for id in 1...1000 {
                var job = ImportJob(id: Int64(id), state: .running, NewImport(
                    fileName: "f.csv", kind: .contact, subscriptionIDs: [], onDuplicate: .update, columnMap: [:],
                    ignoreUnknownColumns: false, validateOnly: false, encoding: .utf8, sha256: "", bytes: 0, totalRows: 100,
                    spoolName: "", header: [], delimiter: 44, dataOffset: 0, createdAt: WallTime(seconds: 0)))
                job.version = Int64(version)
                hub.publish(job, stateChanged: true)
            }
        }
        let queued = all.queuedCount
        #expect(queued <= 256, "a stalled subscriber holds \(queued) snapshots")
        var received: [ImportJob] = []
        for _ in 0..<queued {
            if let next = await all.next() { received.append(next) }
        }
        #expect(received.allSatisfy { $0.version == 20 }, "what it gets are the newest snapshots")
        #expect(Set(received.map(\.id)).count == received.count)
        all.cancel()
    }
}

/// A task executor on a serial queue, which knows when it is the one running.
final class QueueExecutor: TaskExecutor, @unchecked Sendable {
    private let queue = DispatchQueue(label: "QueueExecutor")
    private let key = DispatchSpecificKey<Bool>()

    init() {
        queue.setSpecific(key: key, value: true)
    }

    var isCurrent: Bool { DispatchQueue.getSpecific(key: key) == true }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

final class Box: Sendable {
    let version: Int64
    init(_ version: Int64) { self.version = version }
}
