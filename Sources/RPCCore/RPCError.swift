/// The error an RPC fails with: a status code, a message a person can act on, and
/// optional trailing metadata (for example `grpc-status-details-bin`).
///
/// Handlers throw it (or an error conforming to `RPCErrorConvertible`); clients
/// receive it when a call ends with a status other than OK.
public struct RPCError: Error, Sendable, Hashable, CustomStringConvertible {
    public var code: Status.Code
    public var message: String
    public var metadata: Metadata

    public init(code: Status.Code, message: String, metadata: Metadata = [:]) {
        self.code = code
        self.message = message
        self.metadata = metadata
    }

    public init(status: Status, metadata: Metadata = [:]) {
        self.init(code: status.code, message: status.message, metadata: metadata)
    }

    public var status: Status { Status(code: code, message: message) }

    public var description: String { "\(code.name): \(message)" }
}

/// An error that knows which `RPCError` it is on the wire. Domain errors conform to
/// this so that one mapping, not each handler, decides their status.
public protocol RPCErrorConvertible: Error {
    var rpcError: RPCError { get }
}

extension RPCError {
    /// The error a handler's thrown error becomes on the wire. Unknown errors become
    /// INTERNAL with a generic message: internals never leak to clients.
    public init(from error: any Error) {
        switch error {
        case let error as RPCError:
            self = error
        case let error as RPCErrorConvertible:
            self = error.rpcError
        case is CancellationError:
            self = RPCError(code: .cancelled, message: "the call was cancelled")
        default:
            self = RPCError(code: .internal, message: "internal error")
        }
    }
}
