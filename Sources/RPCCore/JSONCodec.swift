/// Messages as JSON, for transports that speak it (the Connect protocol's
/// `application/json`). The core knows no message schemas: whoever builds the
/// server supplies one (ProtoMessages' `ProtoJSONCodec`, proto3's JSON mapping).
public protocol RPCJSONCodec: Sendable {
    /// The serialized request of the method at `path` from its JSON text.
    /// Throws an `RPCError` (INVALID_ARGUMENT) for JSON that does not fit.
    func request(path: String, fromJSON json: [UInt8]) throws -> [UInt8]
    /// The JSON text of a serialized response of the method at `path`.
    func response(path: String, toJSON payload: [UInt8]) throws -> [UInt8]
    /// The details of a `grpc-status-details-bin` trailer (a serialized
    /// google.rpc.Status) as Connect error details: each detail's type name, its
    /// serialized bytes, and its JSON text when the type is known.
    func errorDetails(statusDetails: [UInt8]) -> [(type: String, value: [UInt8], json: String?)]
}
