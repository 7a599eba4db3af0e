import RPCCore
import Synchronization

/// One call that arrived over the web listener, as the router sees it. The
/// request side is a small bounded queue (one request for unary and server
/// streaming; upload sessions feed it chunk by chunk); the response side goes
/// to a `WebResponseSink`.
final class WebServerCall: ServerCallIO {
    private struct Requests {
        var queue: [[UInt8]] = []
        var finished = false
        var failure: RPCError?
        var receiver: CheckedContinuation<[UInt8]?, any Error>?
        var senders: [CheckedContinuation<Void, any Error>] = []
    }

    /// Messages queued before `offer` waits.
    let capacity: Int
    private let requests = Mutex(Requests())
    private let handler = Mutex<Task<Void, Never>?>(nil)
    private let cancelled = Atomic<Bool>(false)
    let sink: any WebResponseSink

    init(capacity: Int, sink: any WebResponseSink) {
        self.capacity = capacity
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
        failRequests(error)
        handler.withLock { $0 }?.cancel()
    }

    // MARK: Request side

    /// Queues one request message; waits while `capacity` are queued.
    func offer(_ message: [UInt8]) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let (receiver, result) = requests.withLock { state -> (CheckedContinuation<[UInt8]?, any Error>?, Result<Bool, RPCError>) in
                if let failure = state.failure { return (nil, .failure(failure)) }
                if state.finished { return (nil, .failure(RPCError(code: .failedPrecondition, message: "the upload has already ended"))) }
                if let receiver = state.receiver {
                    state.receiver = nil
                    return (receiver, .success(true))
                }
                if state.queue.count < capacity {
                    state.queue.append(message)
                    return (nil, .success(true))
                }
                state.queue.append(message)
                state.senders.append(continuation)
                return (nil, .success(false))
            }
            switch result {
            case .failure(let error): continuation.resume(throwing: error)
            case .success(true):
                receiver?.resume(returning: message)
                continuation.resume()
            case .success(false): break
            }
        }
    }

    /// No more requests follow.
    func finishRequests() {
        let receiver = requests.withLock { state -> CheckedContinuation<[UInt8]?, any Error>? in
            state.finished = true
            defer { state.receiver = nil }
            return state.queue.isEmpty ? state.receiver : nil
        }
        receiver?.resume(returning: nil)
    }

    private func failRequests(_ error: RPCError) {
        let (receiver, senders) = requests.withLock { state in
            if state.failure == nil { state.failure = error }
            state.queue.removeAll()
            defer {
                state.receiver = nil
                state.senders = []
            }
            return (state.receiver, state.senders)
        }
        receiver?.resume(throwing: error)
        for sender in senders { sender.resume(throwing: error) }
    }

    func receive() async throws -> [UInt8]? {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[UInt8]?, any Error>) in
            let (result, sender) = requests.withLock { state -> (Result<[UInt8]?, RPCError>?, CheckedContinuation<Void, any Error>?) in
                if let failure = state.failure { return (.failure(failure), nil) }
                if !state.queue.isEmpty {
                    let message = state.queue.removeFirst()
                    let sender = state.senders.isEmpty ? nil : state.senders.removeFirst()
                    return (.success(message), sender)
                }
                if state.finished { return (.success(nil), nil) }
                state.receiver = continuation
                return (nil, nil)
            }
            sender?.resume()
            if let result { continuation.resume(with: result.mapError { $0 as any Error }) }
        }
    }

    // MARK: Response side

    func sendHeaders(_ metadata: Metadata) async throws {
        try await sink.headers(metadata)
    }

    func send(framedMessage: [UInt8]) async throws {
        try await sink.message(Array(framedMessage.dropFirst(MessageFraming.headerSize)))
    }

    func finish(status: Status, trailers: Metadata) async {
        await sink.finish(status: status, trailers: trailers)
        failRequests(RPCError(code: .cancelled, message: "the call has ended"))
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
