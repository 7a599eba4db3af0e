import ProtoMessages
import RPCCore

/// `grpc.testing.TestService` as gRPC's interop test descriptions
/// (doc/interop-test-descriptions.md) define the server: payloads of the sizes
/// asked for, `response_status` as the call's status, and the echo headers
/// (`x-grpc-test-echo-initial` into the response headers,
/// `x-grpc-test-echo-trailing-bin` into the trailers).
public struct InteropTestService: GrpcTesting.TestService.ServiceProtocol {
    public init() {}

    static let echoInitial = "x-grpc-test-echo-initial"
    static let echoTrailing = "x-grpc-test-echo-trailing-bin"

    public func emptyCall(request: GrpcTesting.Empty, context: ServerContext) async throws -> GrpcTesting.Empty {
        echoMetadata(context)
        return GrpcTesting.Empty()
    }

    public func unaryCall(request: GrpcTesting.SimpleRequest, context: ServerContext) async throws -> GrpcTesting.SimpleResponse {
        echoMetadata(context)
        try Self.check(request.responseStatus)
        var response = GrpcTesting.SimpleResponse()
        response.payload = try Self.payload(size: request.responseSize)
        return response
    }

    public func cacheableUnaryCall(request: GrpcTesting.SimpleRequest, context: ServerContext) async throws -> GrpcTesting.SimpleResponse {
        try await unaryCall(request: request, context: context)
    }

    public func streamingOutputCall(
        request: GrpcTesting.StreamingOutputCallRequest, response: RPCWriter<GrpcTesting.StreamingOutputCallResponse>, context: ServerContext
    ) async throws {
        echoMetadata(context)
        try await respond(to: request, with: response)
        try Self.check(request.responseStatus)
    }

    public func streamingInputCall(
        requests: RPCAsyncSequence<GrpcTesting.StreamingInputCallRequest>, context: ServerContext
    ) async throws -> GrpcTesting.StreamingInputCallResponse {
        echoMetadata(context)
        var total = 0
        for try await request in requests {
            total += request.payload?.body.count ?? 0
        }
        var response = GrpcTesting.StreamingInputCallResponse()
        response.aggregatedPayloadSize = Int32(clamping: total)
        return response
    }

    public func fullDuplexCall(
        requests: RPCAsyncSequence<GrpcTesting.StreamingOutputCallRequest>, response: RPCWriter<GrpcTesting.StreamingOutputCallResponse>,
        context: ServerContext
    ) async throws {
        echoMetadata(context)
        for try await request in requests {
            try Self.check(request.responseStatus)
            try await respond(to: request, with: response)
        }
    }

    public func halfDuplexCall(
        requests: RPCAsyncSequence<GrpcTesting.StreamingOutputCallRequest>, response: RPCWriter<GrpcTesting.StreamingOutputCallResponse>,
        context: ServerContext
    ) async throws {
        echoMetadata(context)
        var received: [GrpcTesting.StreamingOutputCallRequest] = []
        for try await request in requests {
            received.append(request)
        }
        for request in received {
            try Self.check(request.responseStatus)
            try await respond(to: request, with: response)
        }
    }

    public func unimplementedCall(request: GrpcTesting.Empty, context: ServerContext) async throws -> GrpcTesting.Empty {
        throw RPCError(code: .unimplemented, message: "grpc.testing.TestService/UnimplementedCall is not implemented, by design")
    }

    // MARK: - Helpers

    private func respond(
        to request: GrpcTesting.StreamingOutputCallRequest, with writer: RPCWriter<GrpcTesting.StreamingOutputCallResponse>
    ) async throws {
        for parameters in request.responseParameters {
            if parameters.intervalUs > 0 {
                try await Task.sleep(for: .microseconds(parameters.intervalUs))
            }
            var message = GrpcTesting.StreamingOutputCallResponse()
            message.payload = try Self.payload(size: parameters.size)
            try await writer.write(message)
        }
    }

    /// A COMPRESSABLE payload (zeros) of `size` bytes.
    static func payload(size: Int32) throws -> GrpcTesting.Payload {
        guard size >= 0 else { throw RPCError(code: .invalidArgument, message: "negative response size \(size)") }
        var payload = GrpcTesting.Payload()
        payload.type = .compressable
        payload.body = [UInt8](repeating: 0, count: Int(size))
        return payload
    }

    /// `response_status`, when set and not OK, is the call's status.
    static func check(_ status: GrpcTesting.EchoStatus?) throws {
        guard let status, status.code != 0 else { return }
        throw RPCError(code: Status.Code(rawValue: Int(status.code)), message: status.message)
    }

    private func echoMetadata(_ context: ServerContext) {
        var initial = Metadata()
        for value in context.metadata[Self.echoInitial] { initial.add(Self.echoInitial, value) }
        var trailing = Metadata()
        for value in context.metadata[Self.echoTrailing] { trailing.add(Self.echoTrailing, value) }
        if !initial.isEmpty { context.addInitialMetadata(initial) }
        if !trailing.isEmpty { context.addTrailingMetadata(trailing) }
    }
}

/// `grpc.testing.BenchmarkService` (benchmark_service.proto), as gRPC's QPS
/// benchmark servers implement it: a response of `response_size` bytes to
/// every request.
public struct InteropBenchmarkService: GrpcTesting.BenchmarkService.ServiceProtocol {
    public init() {}

    private static func response(to request: GrpcTesting.SimpleRequest) throws -> GrpcTesting.SimpleResponse {
        var response = GrpcTesting.SimpleResponse()
        response.payload = try InteropTestService.payload(size: request.responseSize)
        return response
    }

    public func unaryCall(request: GrpcTesting.SimpleRequest, context: ServerContext) async throws -> GrpcTesting.SimpleResponse {
        try Self.response(to: request)
    }

    public func streamingCall(
        requests: RPCAsyncSequence<GrpcTesting.SimpleRequest>, response: RPCWriter<GrpcTesting.SimpleResponse>, context: ServerContext
    ) async throws {
        for try await request in requests {
            try await response.write(Self.response(to: request))
        }
    }

    public func streamingFromClient(requests: RPCAsyncSequence<GrpcTesting.SimpleRequest>, context: ServerContext) async throws
        -> GrpcTesting.SimpleResponse
    {
        var last = GrpcTesting.SimpleRequest()
        for try await request in requests { last = request }
        return try Self.response(to: last)
    }

    public func streamingFromServer(
        request: GrpcTesting.SimpleRequest, response: RPCWriter<GrpcTesting.SimpleResponse>, context: ServerContext
    ) async throws {
        let message = try Self.response(to: request)
        while !Task.isCancelled {
            try await response.write(message)
        }
    }

    public func streamingBothWays(
        requests: RPCAsyncSequence<GrpcTesting.SimpleRequest>, response: RPCWriter<GrpcTesting.SimpleResponse>, context: ServerContext
    ) async throws {
        // One response per request, as they come.
        for try await request in requests {
            try await response.write(Self.response(to: request))
        }
    }
}
