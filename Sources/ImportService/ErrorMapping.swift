import ImportEngine
import ProtoMessages
import RPCCore

/// The one place domain errors become gRPC statuses. Refused fields also go out
/// as `google.rpc.BadRequest` field violations in `grpc-status-details-bin`.
extension ImportError: RPCErrorConvertible {
    public var rpcError: RPCError {
        switch self {
        case .notFound(let message):
            return RPCError(code: .notFound, message: message)
        case .invalidArgument(let message, let violations):
            let message = Status.bounded(message)
            return RPCError(code: .invalidArgument, message: message, metadata: Self.details(.invalidArgument, message, violations))
        case .failedPrecondition(let message):
            return RPCError(code: .failedPrecondition, message: message)
        case .resourceExhausted(let message):
            return RPCError(code: .resourceExhausted, message: message)
        case .alreadyExists(let message):
            return RPCError(code: .alreadyExists, message: message)
        case .unavailable(let message):
            return RPCError(code: .unavailable, message: message)
        }
    }

    /// Field violations sent at most (the status message says how many more).
    static let maxViolations = 20

    /// `grpc-status-details-bin`: a google.rpc.Status with a BadRequest of the
    /// first `maxViolations` violations, each cut to 256 characters.
    static func details(_ code: Status.Code, _ message: String, _ violations: [FieldViolation]) -> Metadata {
        guard !violations.isEmpty else { return [:] }
        var badRequest = GoogleRPC.BadRequest()
        badRequest.fieldViolations = violations.prefix(maxViolations).map {
            var violation = GoogleRPC.BadRequest.FieldViolation()
            violation.field = String($0.field.prefix(256))
            violation.description = String($0.description.prefix(256))
            return violation
        }
        var any = GoogleProtobuf.AnyMessage()
        any.typeURL = "type.googleapis.com/google.rpc.BadRequest"
        any.value = badRequest.serializedBytes()
        var status = GoogleRPC.Status()
        status.code = Int32(code.rawValue)
        status.message = message
        status.details = [any]
        var metadata = Metadata()
        metadata.add("grpc-status-details-bin", binary: status.serializedBytes())
        return metadata
    }
}

extension InvalidTransition: RPCErrorConvertible {
    public var rpcError: RPCError { ImportError(self).rpcError }
}

extension StoreError: RPCErrorConvertible {
    public var rpcError: RPCError { ImportError(self).rpcError }
}
