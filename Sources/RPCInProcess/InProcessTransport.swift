import RPCCore
import Synchronization

/// A client transport whose calls go straight to an `RPCRouter` in the same
/// process: no sockets, no HTTP/2, the same call semantics (request and
/// response streams with back-pressure, headers, status and trailers,
/// deadlines, cancellation). For fast service tests, as grpc-swift-2's
/// GRPCInProcessTransport is.
public struct InProcessTransport: ClientTransport {
    public let router: RPCRouter
    /// Messages each direction may hold before a sender waits.
    public let bufferedMessages: Int

    public init(router: RPCRouter, bufferedMessages: Int = 16) {
        self.router = router
        self.bufferedMessages = bufferedMessages
    }

    /// `compression` does not apply: messages are never serialized onto a wire.
    public func openCall(method: MethodDescriptor, metadata: Metadata, timeout: Duration?, compression: MessageEncoding) async throws -> any ClientCallIO {
        let call = InProcessCall(capacity: bufferedMessages)
        let deadline = timeout.map { ContinuousClock.now + $0 }
        let router = self.router
        let handler = Task {
            await router.handle(path: method.path, call: call.server, metadata: metadata, deadline: deadline, peer: "in-process")
        }
        let timer = timeout.map { timeout in
            Task {
                try? await Task.sleep(for: timeout)
                if !Task.isCancelled { call.end(Status(code: .deadlineExceeded, message: "the deadline was exceeded")) }
            }
        }
        call.attach(handler, timer: timer)
        return call.client
    }
}

/// One call: the two directions and the state both ends share.
final class InProcessCall: Sendable {
    struct State {
        var headers: Metadata?
        var headerWaiters: [CheckedContinuation<Metadata, Never>] = []
        var status: (Status, Metadata)?
        var statusWaiters: [CheckedContinuation<(Status, Metadata), Never>] = []
        var handler: Task<Void, Never>?
        var timer: Task<Void, Never>?
    }

    let requests: MessagePipe
    let responses: MessagePipe
    private let state = Mutex(State())
    var server: ServerSide { ServerSide(call: self) }
    var client: ClientSide { ClientSide(call: self) }

    init(capacity: Int) {
        requests = MessagePipe(capacity: capacity)
        responses = MessagePipe(capacity: capacity)
    }

    func attach(_ handler: Task<Void, Never>, timer: Task<Void, Never>?) {
        let ended = state.withLock { state -> Bool in
            state.handler = handler
            state.timer = timer
            return state.status != nil
        }
        if ended {
            handler.cancel()
            timer?.cancel()
        }
    }

    var isEnded: Bool { state.withLock { $0.status != nil } }

    func cancelHandler() { state.withLock { $0.handler }?.cancel() }

    func sendHeaders(_ metadata: Metadata) {
        let waiters = state.withLock { state -> [CheckedContinuation<Metadata, Never>] in
            guard state.headers == nil, state.status == nil else { return [] }
            state.headers = metadata
            defer { state.headerWaiters = [] }
            return state.headerWaiters
        }
        for waiter in waiters { waiter.resume(returning: metadata) }
    }

    func headers() async -> Metadata {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Metadata? in
                if let headers = state.headers { return headers }
                if state.status != nil { return [:] }
                state.headerWaiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Ends the call once: the first status wins (the handler's, a
    /// cancellation, or the deadline). Later calls do nothing.
    func end(_ status: Status, trailers: Metadata = [:]) {
        let (headerWaiters, statusWaiters, handler, timer, first) = state.withLock { state in
            guard state.status == nil else {
                return ([CheckedContinuation<Metadata, Never>](), [CheckedContinuation<(Status, Metadata), Never>](), Task<Void, Never>?.none,
                        Task<Void, Never>?.none, false)
            }
            state.status = (status, trailers)
            defer {
                state.headerWaiters = []
                state.statusWaiters = []
            }
            return (state.headerWaiters, state.statusWaiters, state.handler, state.timer, true)
        }
        guard first else { return }
        timer?.cancel()
        let error = RPCError(code: status.code == .ok ? .cancelled : status.code, message: status.message)
        if status.code == .ok {
            responses.finish()
        } else {
            // An abandoned call: nothing more flows either way.
            responses.fail(error)
            handler?.cancel()
        }
        requests.fail(RPCError(code: .cancelled, message: "the call has ended"))
        for waiter in headerWaiters { waiter.resume(returning: [:]) }
        for waiter in statusWaiters { waiter.resume(returning: (status, trailers)) }
    }

    func status() async -> (Status, Metadata) {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> (Status, Metadata)? in
                if let status = state.status { return status }
                state.statusWaiters.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// The payload of a framed message (the transport's framing, undone).
    static func payload(_ framed: [UInt8]) -> [UInt8] {
        Array(framed.dropFirst(MessageFraming.headerSize))
    }

    /// The server's end of the call, as the router sees it.
    final class ServerSide: ServerCallIO {
        let call: InProcessCall

        init(call: InProcessCall) { self.call = call }

        func receive() async throws -> [UInt8]? { try await call.requests.receive() }

        func sendHeaders(_ metadata: Metadata) async throws {
            guard !call.isEnded else { throw RPCError(code: .cancelled, message: "the call has ended") }
            call.sendHeaders(metadata)
        }

        func send(framedMessage: [UInt8]) async throws {
            call.sendHeaders([:])
            try await call.responses.send(InProcessCall.payload(framedMessage))
        }

        func finish(status: Status, trailers: Metadata) async {
            call.end(status, trailers: trailers)
        }

        func cancelHandler() { call.cancelHandler() }
    }

    /// The client's end of the call.
    final class ClientSide: ClientCallIO {
        let call: InProcessCall

        init(call: InProcessCall) { self.call = call }

        func send(framedMessage: [UInt8]) async throws {
            try await call.requests.send(InProcessCall.payload(framedMessage))
        }

        func closeSend() { call.requests.finish() }

        func responseHeaders() async throws -> Metadata { await call.headers() }

        func receive() async throws -> [UInt8]? {
            do {
                return try await call.responses.receive()
            } catch {
                // The status says why; the stream just ends.
                return nil
            }
        }

        func status() async -> (Status, Metadata) { await call.status() }

        func cancel() { call.end(Status(code: .cancelled, message: "the client cancelled the call")) }
    }
}
