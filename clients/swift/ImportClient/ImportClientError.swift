import ProtoMessages
import RPCCore

/// A call that failed: its gRPC status code and message, the field violations
/// the server attached (google.rpc.BadRequest: which fields or columns, and
/// why), and the request id it logged the call under, when it sent one.
public struct ImportClientError: Error, CustomStringConvertible, Sendable {
    public struct FieldViolation: Sendable, Hashable {
        public var field: String
        public var description: String
    }

    public var code: Status.Code
    public var message: String
    public var violations: [FieldViolation]
    public var requestID: String?

    public init(code: Status.Code, message: String, violations: [FieldViolation] = [], requestID: String? = nil) {
        self.code = code
        self.message = message
        self.violations = violations
        self.requestID = requestID
    }

    /// The error for a failed call, with the details its trailers carry.
    public init(_ error: RPCError) {
        var violations: [FieldViolation] = []
        if let bytes = error.metadata.firstBinary("grpc-status-details-bin"),
            let status = try? GoogleRPC.Status(serializedBytes: bytes)
        {
            for detail in status.details where detail.typeURL.hasSuffix("/google.rpc.BadRequest") {
                guard let bad = try? GoogleRPC.BadRequest(serializedBytes: detail.value) else { continue }
                violations += bad.fieldViolations.map { FieldViolation(field: $0.field, description: $0.description) }
            }
        }
        self.init(code: error.code, message: error.message, violations: violations, requestID: error.metadata.first("x-request-id"))
    }

    public var description: String {
        "\(code.name): \(message)" + (requestID.map { " (request id \($0))" } ?? "")
    }
}

/// Runs a call, turning its RPCError into an ImportClientError.
func converting<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as RPCError {
        throw ImportClientError(error)
    }
}
