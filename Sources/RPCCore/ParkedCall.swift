import Synchronization

/// A server-streaming call that stays open after its handler returned, with no
/// task of its own while it is idle (`RPCWriter.park`). Thousands of quiet
/// streams (dashboards' watches) then cost their buffers and the code that
/// feeds them, not a suspended task each.
///
/// What feeds it offers messages from wherever they are made
/// (`RPCWriter.offer`). When that is not enough (the stream is behind, the last
/// message is due, the source closed), `resume` starts a task that writes
/// normally and ends the call: OK when it returns, its error's status when it
/// throws. When the call ends from the transport's side (the client reset the
/// stream or went away, the deadline passed, the call was terminated), the
/// task, if any, is cancelled; `onEnd` runs however the call ends.
public final class ParkedCall: Sendable {
    private struct State {
        var ended = false
        var resumed = false
        /// A wake came while the task ran: it goes round once more.
        var wakePending = false
        var terminated = false
        var task: Task<Void, Never>?
        var onEnd: [@Sendable () -> Void] = []
        /// Sends the status and logs the call (the router's); dropped when it
        /// has run, as it refers to the call's context, which refers to this.
        var complete: (@Sendable ((any Error)?) async -> Void)?
    }

    private let state: Mutex<State>

    init(complete: @escaping @Sendable ((any Error)?) async -> Void) {
        state = Mutex(State(complete: complete))
    }

    /// Runs `body` in a task: it writes what waits, then returns true to end
    /// the call (OK), or false to park it again (no task until the next
    /// `resume`); a throw ends the call with the error's status. A `resume`
    /// while the task runs makes it run `body` once more before parking.
    public func resume(_ body: @escaping @Sendable () async throws -> Bool) {
        state.withLock { state in
            guard !state.ended else { return }
            guard !state.resumed else {
                state.wakePending = true
                return
            }
            state.resumed = true
            state.wakePending = false
            state.task = Task { await self.run(body) }
        }
    }

    private func run(_ body: @escaping @Sendable () async throws -> Bool) async {
        while true {
            do {
                if try await body() {
                    await end(nil)
                    return
                }
            } catch {
                await end(error)
                return
            }
            enum Next { case again, parked, terminated }
            let next = state.withLock { state -> Next in
                if state.terminated { return .terminated }
                if state.wakePending {
                    state.wakePending = false
                    return .again
                }
                state.resumed = false
                state.task = nil
                return .parked
            }
            switch next {
            case .again: continue
            case .parked: return
            case .terminated:
                await end(CancellationError())
                return
            }
        }
    }

    /// Runs `body` once the call has ended (at once if it has).
    public func onEnd(_ body: @escaping @Sendable () -> Void) {
        let now = state.withLock { state -> Bool in
            if state.ended { return true }
            state.onEnd.append(body)
            return false
        }
        if now { body() }
    }

    /// The transport ended the call (with `reason`, when it chose a status):
    /// the task, if one runs, is cancelled and ends it; else it ends now, as a
    /// cancelled handler would.
    func terminated(_ reason: RPCError? = nil) {
        let task = state.withLock { state -> Task<Void, Never>?? in
            guard !state.ended else { return .some(nil) }
            state.terminated = true
            return state.resumed ? .some(state.task) : nil
        }
        switch task {
        case .some(let running): running?.cancel()
        case .none: Task { await self.end(reason ?? CancellationError()) }
        }
    }

    /// Ends the call once: `onEnd` bodies, then the status.
    func end(_ error: (any Error)?) async {
        let ending = state.withLock { state -> (handlers: [@Sendable () -> Void], complete: (@Sendable ((any Error)?) async -> Void)?)? in
            guard !state.ended else { return nil }
            state.ended = true
            state.task = nil
            defer {
                state.onEnd = []
                state.complete = nil
            }
            return (state.onEnd, state.complete)
        }
        guard let ending else { return }
        for handler in ending.handlers { handler() }
        await ending.complete?(error)
    }
}

/// Where a call's handler parks it, for the router to see.
///
/// The completion it holds refers to the call's context, which holds this
/// slot: the router takes it out when the handler returns (`close`), and a
/// parked call drops it when it ends, or every call's context would be kept
/// alive by itself.
final class ParkingSlot: Sendable {
    private let state = Mutex<(parked: ParkedCall?, complete: (@Sendable ((any Error)?) async -> Void)?)>((nil, nil))

    /// How a parked call is ended (set by the router before the handler runs).
    func setCompletion(_ complete: @escaping @Sendable ((any Error)?) async -> Void) {
        state.withLock { $0.complete = complete }
    }

    /// The handler parks the call: the completion moves into the parked call.
    func park() -> ParkedCall? {
        state.withLock { state in
            if let parked = state.parked { return parked }
            guard let complete = state.complete else { return nil }
            let parked = ParkedCall(complete: complete)
            state.parked = parked
            state.complete = nil
            return parked
        }
    }

    /// The handler returned: no parking from now on. The parked call, if it
    /// parked; else the completion is dropped (the router ends the call).
    func close() -> ParkedCall? {
        state.withLock { state in
            state.complete = nil
            return state.parked
        }
    }
}

extension ParkedCall {
    /// A parked call with no transport under it, ending into `complete` (tests).
    package static func forTesting(complete: @escaping @Sendable ((any Error)?) async -> Void) -> ParkedCall {
        ParkedCall(complete: complete)
    }

    /// As if the transport ended the call (tests).
    package func terminatedForTesting() {
        terminated()
    }
}
