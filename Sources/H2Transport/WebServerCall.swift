import RPCCore
import Synchronization

/// One call that arrived over the web listener, as the router sees it. The
/// request side is a small bounded queue (one request for unary and server
/// streaming; upload sessions feed it chunk by chunk); the response side goes
/// to a `WebResponseSink`.
final class WebServerCall: ServerCallIO {
    private let requests: MessagePipe
    private let handler = Mutex<Task<Void, Never>?>(nil)
    private let cancelled = Atomic<Bool>(false)
    let sink: any WebResponseSink

    /// `capacity`: request messages queued before `offer` waits.
    init(capacity: Int, sink: any WebResponseSink) {
        requests = MessagePipe(capacity: capacity)
        self.sink = sink
    }

    /// Runs the call on `router` in a new task.
    func start(router: RPCRouter, path: String, metadata: Metadata, timeout: Duration?, peer: String, onEnd: @escaping @Sendable () -> Void) {
        let deadline = timeout.map { ContinuousClock.now + $0 }
        let task = Task {
            let timer = timeout.map { timeout in
                Task { [self] in
                    try? await Task.sleep(for: timeout)
                    guard !Task.isCancelled else { return }
                    await sink.finish(status: Status(code: .deadlineExceeded, message: "the deadline was exceeded"), trailers: [:])
                    cancel(RPCError(code: .deadlineExceeded, message: "the deadline was exceeded"))
                }
            }
            await router.handle(path: path, call: self, metadata: metadata, deadline: deadline, peer: peer)
            timer?.cancel()
            onEnd()
        }
        let cancelNow = handler.withLock { handler -> Bool in
            handler = task
            return cancelled.load(ordering: .acquiring)
        }
        if cancelNow { task.cancel() }
    }

    /// The client went away or the deadline passed: the handler is cancelled
    /// and whatever waits on the request side fails.
    func cancel(_ error: RPCError = RPCError(code: .cancelled, message: "the client went away")) {
        cancelled.store(true, ordering: .releasing)
        requests.fail(error)
        handler.withLock { $0 }?.cancel()
    }

    // MARK: Request side

    /// Queues one request message; waits while the queue is full.
    func offer(_ message: [UInt8]) async throws { try await requests.send(message) }

    /// No more requests follow.
    func finishRequests() { requests.finish() }

    func receive() async throws -> [UInt8]? { try await requests.receive() }

    // MARK: Response side

    func sendHeaders(_ metadata: Metadata) async throws {
        try await sink.headers(metadata)
    }

    func send(framedMessage: [UInt8]) async throws {
        try await sink.message(Array(framedMessage.dropFirst(MessageFraming.headerSize)))
    }

    func finish(status: Status, trailers: Metadata) async {
        await sink.finish(status: status, trailers: trailers)
        requests.fail(RPCError(code: .cancelled, message: "the call has ended"))
    }

    func cancelHandler() {
        handler.withLock { $0 }?.cancel()
    }
}

/// Where a web call's response goes.
protocol WebResponseSink: Sendable {
    func headers(_ metadata: Metadata) async throws
    func message(_ payload: [UInt8]) async throws
    /// Idempotent: the first status wins.
    func finish(status: Status, trailers: Metadata) async
}

/// Collects a whole response (Connect unary, an upload's result) for one reply.
final class WebResponseCollector: WebResponseSink {
    struct Result: Sendable {
        var headers = Metadata()
        var message: [UInt8]?
        var status = Status.ok
        var trailers = Metadata()
    }

    private struct State {
        var result = Result()
        var done = false
        var waiters: [CheckedContinuation<Result, Never>] = []
    }

    private let state = Mutex(State())
    /// The largest response kept.
    let maxMessageSize: Int

    init(maxMessageSize: Int) { self.maxMessageSize = maxMessageSize }

    func headers(_ metadata: Metadata) async throws {
        state.withLock { if $0.result.headers.isEmpty { $0.result.headers = metadata } }
    }

    func message(_ payload: [UInt8]) async throws {
        guard payload.count <= maxMessageSize else {
            throw RPCError(code: .resourceExhausted, message: "the response is larger than \(maxMessageSize) bytes")
        }
        try state.withLock { state throws(RPCError) in
            guard !state.done else { throw RPCError(code: .cancelled, message: "the call has ended") }
            guard state.result.message == nil else { throw RPCError(code: .internal, message: "a unary method sent two responses") }
            state.result.message = payload
        }
    }

    func finish(status: Status, trailers: Metadata) async {
        let (result, waiters) = state.withLock { state -> (Result, [CheckedContinuation<Result, Never>]) in
            guard !state.done else { return (state.result, []) }
            state.done = true
            state.result.status = status
            state.result.trailers = trailers
            if status.code != .ok { state.result.message = nil }
            defer { state.waiters = [] }
            return (state.result, state.waiters)
        }
        for waiter in waiters { waiter.resume(returning: result) }
    }

    /// Waits for the call to end.
    func result() async -> Result {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Result? in
                if state.done { return state.result }
                state.waiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// The result if the call has ended.
    var ended: Result? { state.withLock { $0.done ? $0.result : nil } }
}
