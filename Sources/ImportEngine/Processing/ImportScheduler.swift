import Synchronization

/// Ticks every `interval`, aligned to multiples of it since the epoch (15
/// minutes: :00, :15, :30, :45 UTC), and on each tick runs the imports that were
/// QUEUED at that moment, oldest upload first, one after another.
///
/// Time comes from the injected clock: tests advance a manual clock instead of
/// waiting. A run longer than the interval delays the next tick to the first
/// aligned time after it ends.
package actor ImportScheduler {
    let interval: Duration
    private let clock: any WallClock
    private let queued: @Sendable () async throws -> [Int64]
    private let run: @Sendable (Int64) async -> Void
    private var loop: Task<Void, Never>?
    /// When queued imports run, readable from any thread without waiting for
    /// the actor (a watch update is converted where it is published).
    private struct Plan {
        /// The tick after the current one.
        var nextTick: WallTime
        /// The tick being worked through, and the imports it will still run.
        var currentTick: WallTime?
        var pendingInRun: Set<Int64> = []
    }

    private nonisolated let plan: Mutex<Plan>
    /// The tick after the current one.
    nonisolated var nextTick: WallTime { plan.withLock { $0.nextTick } }

    init(interval: Duration, clock: any WallClock, queued: @escaping @Sendable () async throws -> [Int64],
         run: @escaping @Sendable (Int64) async -> Void) {
        self.interval = interval
        self.clock = clock
        self.queued = queued
        self.run = run
        self.plan = Mutex(Plan(nextTick: Self.tick(after: clock.now(), interval: interval)))
    }

    /// The first multiple of `interval` strictly after `time`.
    package static func tick(after time: WallTime, interval: Duration) -> WallTime {
        let step = interval.components.seconds * 1_000_000 + interval.components.attoseconds / 1_000_000_000_000
        precondition(step > 0, "the interval must be positive")
        return WallTime(microseconds: (time.microseconds.floorDiv(step) + 1) * step)
    }

    /// Starts ticking; `resumeFirst` (imports interrupted by a stop or crash) run
    /// at once.
    func start(resumeFirst: [Int64]) {
        guard loop == nil else { return }
        loop = Task {
            for id in resumeFirst where !Task.isCancelled {
                await run(id)
            }
            while !Task.isCancelled {
                let tick = Self.tick(after: clock.now(), interval: interval)
                plan.withLock { $0.nextTick = tick }
                do {
                    try await clock.sleep(until: tick)
                } catch {
                    return
                }
                await runTick(tick)
            }
        }
    }

    private func runTick(_ tick: WallTime) async {
        guard let ids = try? await queued(), !ids.isEmpty else { return }
        let next = Self.tick(after: tick, interval: interval)
        plan.withLock { $0 = Plan(nextTick: next, currentTick: tick, pendingInRun: Set(ids)) }
        for id in ids {
            if Task.isCancelled { break }
            _ = plan.withLock { $0.pendingInRun.remove(id) }
            await run(id)
        }
        plan.withLock {
            $0.pendingInRun = []
            $0.currentTick = nil
        }
    }

    /// When a QUEUED import will be picked up: the current tick if this run
    /// still holds it, else the next tick.
    nonisolated func nextRun(for id: Int64) -> WallTime {
        plan.withLock { plan in
            if let currentTick = plan.currentTick, plan.pendingInRun.contains(id) { return currentTick }
            return plan.nextTick
        }
    }

    /// Stops ticking after the import being run has stopped.
    func stop() async {
        let loop = self.loop
        self.loop = nil
        loop?.cancel()
        await loop?.value
    }
}
