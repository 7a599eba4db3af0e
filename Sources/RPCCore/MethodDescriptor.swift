/// The four kinds of gRPC call.
public enum MethodKind: Sendable, Hashable {
    case unary
    case clientStreaming
    case serverStreaming
    case bidirectionalStreaming

    /// The client sends a stream of messages.
    public var clientStreams: Bool { self == .clientStreaming || self == .bidirectionalStreaming }
    /// The server sends a stream of messages.
    public var serverStreams: Bool { self == .serverStreaming || self == .bidirectionalStreaming }
}

/// Names one method of one service: `/<package>.<Service>/<Method>` on the wire.
public struct MethodDescriptor: Sendable, Hashable, CustomStringConvertible {
    /// The fully qualified service name, e.g. `grpc.health.v1.Health`.
    public let service: String
    /// The method name, e.g. `Check`.
    public let method: String
    public let kind: MethodKind

    public init(service: String, method: String, kind: MethodKind) {
        self.service = service
        self.method = method
        self.kind = kind
    }

    /// The HTTP/2 `:path` of the method.
    public var path: String { "/\(service)/\(method)" }

    public var description: String { path }
}
