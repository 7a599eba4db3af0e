import Synchronization

/// How a running import is asked to stop at its next batch boundary.
enum StopRequest: Int, Comparable, Sendable {
    /// The server is shutting down: stop, stay RUNNING in storage, resume on restart.
    case shutdown = 1
    case pause
    case cancel

    static func < (lhs: StopRequest, rhs: StopRequest) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// The link between a running import and the calls that want it to stop. The
/// strongest request wins (cancel over pause over shutdown); each caller gets
/// the import as it was when the run ended.
final class RunControl: Sendable {
    private struct State {
        var request: StopRequest?
        var waiters: [CheckedContinuation<ImportJob, Never>] = []
        var finished: ImportJob?
    }

    private let state = Mutex(State())

    var request: StopRequest? { state.withLock { $0.request } }

    /// Asks the run to stop without waiting for it to end.
    @discardableResult
    func request(_ request: StopRequest) -> Bool {
        state.withLock { state in
            guard state.finished == nil else { return false }
            state.request = max(state.request ?? request, request)
            return true
        }
    }

    /// Asks the run to stop; returns the import once the run has ended.
    func stop(_ request: StopRequest) async -> ImportJob {
        await withCheckedContinuation { continuation in
            let done = state.withLock { state -> ImportJob? in
                if let finished = state.finished { return finished }
                state.request = max(state.request ?? request, request)
                state.waiters.append(continuation)
                return nil
            }
            if let done { continuation.resume(returning: done) }
        }
    }

    /// The run ended with `job`.
    func finish(_ job: ImportJob) {
        let waiters = state.withLock { state -> [CheckedContinuation<ImportJob, Never>] in
            state.finished = job
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: job) }
    }
}
