import Foundation
import Synchronization

/// The time of day, injected: the scheduler and every timestamp read it, so
/// tests run on a manual clock and never wait for real minutes.
public protocol WallClock: Sendable {
    func now() -> WallTime
    /// Returns at `deadline` (or at once if it has passed); throws when cancelled.
    func sleep(until deadline: WallTime) async throws
}

/// The real clock.
public struct SystemClock: WallClock {
    public init() {}

    public func now() -> WallTime {
        WallTime(microseconds: Int64((Date().timeIntervalSince1970 * 1_000_000).rounded()))
    }

    public func sleep(until deadline: WallTime) async throws {
        let remaining = deadline - now()
        if remaining > .zero {
            try await Task.sleep(for: remaining)
        }
    }
}

/// A clock that moves only when told to, for tests.
public final class ManualClock: WallClock {
    private struct State {
        var now: WallTime
        var sleepers: [(id: Int, deadline: WallTime, continuation: CheckedContinuation<Void, any Error>)] = []
        var nextID = 0
        var sleeperWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Mutex<State>

    public init(now: WallTime) {
        state = Mutex(State(now: now))
    }

    public func now() -> WallTime { state.withLock { $0.now } }

    /// Sleepers waiting right now.
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    /// Returns once something sleeps on this clock (at once if something does):
    /// tests wait for the scheduler to be asleep before they move the time.
    public func waitForSleeper() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let asleep = state.withLock { state -> Bool in
                if !state.sleepers.isEmpty { return true }
                state.sleeperWaiters.append(continuation)
                return false
            }
            if asleep { continuation.resume() }
        }
    }

    /// Sets the time and wakes every sleeper whose deadline has come.
    public func advance(to time: WallTime) {
        let due = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            state.now = max(state.now, time)
            let now = state.now
            let due = state.sleepers.filter { $0.deadline <= now }.map(\.continuation)
            state.sleepers.removeAll { $0.deadline <= now }
            return due
        }
        for continuation in due { continuation.resume() }
    }

    public func advance(by duration: Duration) {
        advance(to: now() + duration)
    }

    public func sleep(until deadline: WallTime) async throws {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let (resumeNow, waiters) = state.withLock { state -> (Bool, [CheckedContinuation<Void, Never>]) in
                    if state.now >= deadline || Task.isCancelled { return (true, []) }
                    state.sleepers.append((id, deadline, continuation))
                    defer { state.sleeperWaiters = [] }
                    return (false, state.sleeperWaiters)
                }
                for waiter in waiters { waiter.resume() }
                if resumeNow {
                    if Task.isCancelled {
                        continuation.resume(throwing: CancellationError())
                    } else {
                        continuation.resume()
                    }
                }
            }
        } onCancel: {
            let sleeper = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                guard let index = state.sleepers.firstIndex(where: { $0.id == id }) else { return nil }
                return state.sleepers.remove(at: index).continuation
            }
            sleeper?.resume(throwing: CancellationError())
        }
    }
}
