import Synchronization

/// One direction of a call's messages where no wire carries them (the
/// in-process transport, the web listener's requests): a bounded queue with
/// one receiver; senders wait while it is full. `finish` ends it after what is
/// queued; `fail` ends it at once, for both sides. Capacities are small (a few
/// messages), so the queue is a plain array.
public final class MessagePipe: Sendable {
    private struct State {
        var queue: [[UInt8]] = []
        var finished = false
        var failure: RPCError?
        var receiver: CheckedContinuation<[UInt8]?, any Error>?
        var senders: [CheckedContinuation<Void, any Error>] = []
    }

    public let capacity: Int
    private let state = Mutex(State())

    public init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    public func send(_ message: [UInt8]) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            enum Next { case done, wait, failed(RPCError), deliver(CheckedContinuation<[UInt8]?, any Error>) }
            let next = state.withLock { state -> Next in
                if let failure = state.failure { return .failed(failure) }
                if state.finished { return .failed(RPCError(code: .internal, message: "sent after the end of the stream")) }
                if let receiver = state.receiver {
                    state.receiver = nil
                    return .deliver(receiver)
                }
                state.queue.append(message)
                if state.queue.count <= capacity { return .done }
                state.senders.append(continuation)
                return .wait
            }
            switch next {
            case .done: continuation.resume()
            case .wait: break
            case .failed(let error): continuation.resume(throwing: error)
            case .deliver(let receiver):
                receiver.resume(returning: message)
                continuation.resume()
            }
        }
    }

    public func receive() async throws -> [UInt8]? {
        try await withCheckedThrowingContinuation { continuation in
            enum Next { case message([UInt8], CheckedContinuation<Void, any Error>?), end, failed(RPCError), wait }
            let next = state.withLock { state -> Next in
                if let failure = state.failure { return .failed(failure) }
                if !state.queue.isEmpty {
                    let message = state.queue.removeFirst()
                    let sender = state.queue.count < capacity && !state.senders.isEmpty ? state.senders.removeFirst() : nil
                    return .message(message, sender)
                }
                if state.finished { return .end }
                state.receiver = continuation
                return .wait
            }
            switch next {
            case .message(let message, let sender):
                sender?.resume()
                continuation.resume(returning: message)
            case .end: continuation.resume(returning: nil)
            case .failed(let error): continuation.resume(throwing: error)
            case .wait: break
            }
        }
    }

    /// No more messages: the receiver gets nil after the queued ones.
    public func finish() {
        let receiver = state.withLock { state -> CheckedContinuation<[UInt8]?, any Error>? in
            guard !state.finished, state.failure == nil else { return nil }
            state.finished = true
            defer { state.receiver = nil }
            return state.queue.isEmpty ? state.receiver : nil
        }
        receiver?.resume(returning: nil)
    }

    /// Ends the pipe at once: waiting senders and the receiver get `error`.
    public func fail(_ error: RPCError) {
        let (receiver, senders) = state.withLock { state -> (CheckedContinuation<[UInt8]?, any Error>?, [CheckedContinuation<Void, any Error>]) in
            guard state.failure == nil else { return (nil, []) }
            if state.finished && state.queue.isEmpty { return (nil, []) }
            state.failure = error
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
}
