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

    public init(method: MethodDescriptor, metadata: Metadata, deadline: ContinuousClock.Instant?, peer: String) {
        self.method = method
        self.metadata = metadata
        self.deadline = deadline
        self.peer = peer
        self.response = ResponseMetadata()
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

final class ResponseMetadata: Sendable {
    struct State {
        var initial = Metadata()
        var trailing = Metadata()
    }

    let state = Mutex(State())

    var initial: Metadata { state.withLock { $0.initial } }
    var trailing: Metadata { state.withLock { $0.trailing } }
}
