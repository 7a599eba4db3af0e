import Synchronization

/// What a handler knows about its call, and where it sets response metadata.
public struct ServerContext: Sendable {
    /// The method being called.
    public let method: MethodDescriptor
    /// The request metadata (HTTP/2 headers other than gRPC's own).
    public let metadata: Metadata
    /// When the client stops waiting, from `grpc-timeout`.
    public let deadline: ContinuousClock.Instant?
    /// The peer's address, e.g. `127.0.0.1:53412`.
    public let peer: String

    let response: ResponseMetadata
    /// Ends the call from outside its handler (a revoked token).
    public let termination: CallTermination

    public init(method: MethodDescriptor, metadata: Metadata, deadline: ContinuousClock.Instant?, peer: String) {
        self.method = method
        self.metadata = metadata
        self.deadline = deadline
        self.peer = peer
        self.response = ResponseMetadata()
        self.termination = CallTermination()
    }

    /// Adds response headers; they are sent with the first response message (or
    /// with the status, when there is none).
    public func addInitialMetadata(_ metadata: Metadata) {
        response.state.withLock { $0.initial.merge(metadata) }
    }

    /// Adds metadata to the trailers sent with the status.
    public func addTrailingMetadata(_ metadata: Metadata) {
        response.state.withLock { $0.trailing.merge(metadata) }
    }

    /// The time left before the deadline, if there is one.
    public var timeRemaining: Duration? {
        deadline.map { $0 - ContinuousClock.now }
    }
}

/// Lets code outside a call's handler end the call with a status of its
/// choosing: the handler is cancelled, and the call ends with `error` instead
/// of CANCELLED.
public final class CallTermination: Sendable {
    private let state = Mutex<(error: RPCError?, cancel: (@Sendable () -> Void)?)>((nil, nil))

    init() {}

    /// The error the call was terminated with, if it was.
    public var error: RPCError? { state.withLock { $0.error } }

    /// Ends the call with `error` (the first one wins).
    public func terminate(_ error: RPCError) {
        let cancel = state.withLock { state -> (@Sendable () -> Void)? in
            guard state.error == nil else { return nil }
            state.error = error
            return state.cancel
        }
        cancel?()
    }

    /// How to cancel the handler (set by the router).
    func onTerminate(_ cancel: @escaping @Sendable () -> Void) {
        let already = state.withLock { state -> Bool in
            state.cancel = cancel
            return state.error != nil
        }
        if already { cancel() }
    }
}

final class ResponseMetadata: Sendable {
    struct State {
        var initial = Metadata()
        var trailing = Metadata()
    }

    let state = Mutex(State())

    var initial: Metadata { state.withLock { $0.initial } }
    var trailing: Metadata { state.withLock { $0.trailing } }
}
