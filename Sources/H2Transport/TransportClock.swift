import Synchronization

/// Where the transport's timers come from (handshake, idle, deadline, linger,
/// receive timeouts, the accept pause): libevent timers on the loop in
/// production, a `ManualTransportClock` in tests, which then move time instead
/// of sleeping through it.
public protocol TransportClock: Sendable {
    /// A timer whose action runs on `loop`.
    func timer(on loop: EventLoop) -> any TransportTimer
}

/// A one-shot timer, owned and driven on one event loop.
public protocol TransportTimer: AnyObject {
    /// Runs `action` on the loop once `delay` has passed; replaces an earlier schedule.
    func schedule(after delay: Duration, _ action: @escaping () -> Void)
    func cancel()
}

/// Real time: libevent timers.
public struct SystemTransportClock: TransportClock {
    public init() {}

    public func timer(on loop: EventLoop) -> any TransportTimer {
        LoopTimer(loop: loop)
    }
}

extension LoopTimer: TransportTimer {}

/// Time that moves only when a test says so. `advance(by:)` runs every timer
/// that has come due, on its loop, and returns once they have run.
public final class ManualTransportClock: TransportClock, @unchecked Sendable {
    // @unchecked: `state` is behind a Mutex; a timer's action is only ever run
    // on the loop it belongs to.
    private let state = Mutex<(now: Duration, timers: [ObjectIdentifier: Timer])>((.zero, [:]))

    public init() {}

    public func timer(on loop: EventLoop) -> any TransportTimer {
        Timer(clock: self, loop: loop)
    }

    /// Timers waiting right now.
    public var pendingTimers: Int { state.withLock { $0.timers.count } }

    /// Moves time forward; timers that come due run on their loops, in deadline order.
    public func advance(by duration: Duration) async {
        let due = state.withLock { state -> [Timer] in
            state.now += duration
            let now = state.now
            let due = state.timers.values.filter { $0.deadline <= now }.sorted { $0.deadline < $1.deadline }
            for timer in due { state.timers[ObjectIdentifier(timer)] = nil }
            return due
        }
        for timer in due {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                timer.loop.execute { [timer] in
                    timer.fire()
                    continuation.resume()
                }
            }
        }
    }

    fileprivate func schedule(_ timer: Timer, after delay: Duration) {
        state.withLock { state in
            timer.deadline = state.now + delay
            state.timers[ObjectIdentifier(timer)] = timer
        }
    }

    fileprivate func cancel(_ timer: Timer) {
        _ = state.withLock { $0.timers.removeValue(forKey: ObjectIdentifier(timer)) }
    }

    final class Timer: TransportTimer, @unchecked Sendable {
        // @unchecked: `action` is set and run on `loop` only; `deadline` under the clock's lock.
        weak var clock: ManualTransportClock?
        let loop: EventLoop
        var deadline: Duration = .zero
        private var action: (() -> Void)?

        init(clock: ManualTransportClock, loop: EventLoop) {
            self.clock = clock
            self.loop = loop
        }

        func schedule(after delay: Duration, _ action: @escaping () -> Void) {
            self.action = action
            clock?.schedule(self, after: delay)
        }

        func cancel() {
            action = nil
            clock?.cancel(self)
        }

        func fire() {
            let action = self.action
            self.action = nil
            action?()
        }
    }
}

/// Counters a server or channel keeps, for tests and metrics.
final class TransportStats: Sendable {
    /// Writers waiting for room (flow control or a full socket buffer).
    let suspendedWriters = Atomic<Int>(0)
    let streamsOpen = Atomic<Int>(0)
    let bytesIn = Atomic<Int>(0)
    let bytesOut = Atomic<Int>(0)
    /// Connections closed at once: over the cap, or while shutting down.
    let connectionsRefused = Atomic<Int>(0)
    /// Connections ended with GOAWAY, by reason ("idle", "too_many_pings", ...).
    private let goAways = Mutex<[String: Int]>([:])
    /// Calls ended by a limit, by limit ("header_list", "message_size", ...).
    private let limits = Mutex<[String: Int]>([:])

    init() {}

    func goAway(_ reason: String) {
        goAways.withLock { $0[reason, default: 0] += 1 }
    }

    func limitHit(_ limit: String) {
        limits.withLock { $0[limit, default: 0] += 1 }
    }

    var goAwaysByReason: [String: Int] { goAways.withLock { $0 } }
    var limitHitsByLimit: [String: Int] { limits.withLock { $0 } }
}

/// What a server's transport has done so far.
public struct TransportStatistics: Sendable {
    public var connections: Int
    public var streams: Int
    public var bytesIn: Int
    public var bytesOut: Int
    public var connectionsRefused: Int
    public var suspendedWriters: Int
    /// GOAWAYs we sent that ended connections, by reason.
    public var goAways: [String: Int]
    /// Calls a limit ended (or streams it refused), by limit.
    public var limitHits: [String: Int]
}
