import Platform
import ProtoMessages
import RPCCore

/// `rpctest.v1.TestService`: all four call kinds, for the transport's interop
/// tests and benchmarks.
public struct TestService: RPCTestV1.TestService.ServiceProtocol {
    public init() {}

    public func echo(request: RPCTestV1.EchoRequest, context: ServerContext) async throws -> RPCTestV1.EchoResponse {
        if request.sleepMs > 0 {
            try await Task.sleep(for: .milliseconds(request.sleepMs))
        }
        echoMetadata(request.echoMetadata, context)
        if request.failCode != 0 {
            throw RPCError(code: Status.Code(rawValue: Int(request.failCode)), message: request.failMessage)
        }
        var response = RPCTestV1.EchoResponse()
        response.message = request.message
        response.payload = request.payload
        return response
    }

    public func collect(requests: RPCAsyncSequence<RPCTestV1.Chunk>, context: ServerContext) async throws
        -> RPCTestV1.CollectSummary
    {
        // `x-delay-us-per-message` makes this a slow consumer (backpressure tests).
        let delay = context.metadata.first("x-delay-us-per-message").flatMap { Int64($0) } ?? 0
        let hasher = Platform.SHA256()
        var summary = RPCTestV1.CollectSummary()
        for try await chunk in requests {
            summary.messages += 1
            summary.bytes += UInt64(chunk.data.count)
            hasher.update(chunk.data)
            if delay > 0 {
                try await Task.sleep(for: .microseconds(delay))
            }
        }
        summary.sha256 = Hex.encode(hasher.finalize())
        return summary
    }

    public func generate(
        request: RPCTestV1.GenerateRequest, response: RPCWriter<RPCTestV1.Chunk>, context: ServerContext
    ) async throws {
        let payload = [UInt8](repeating: 0x61, count: Int(request.size))
        for index in 0..<request.count {
            var chunk = RPCTestV1.Chunk()
            chunk.index = index
            chunk.data = payload
            try await response.write(chunk)
            if request.intervalMs > 0 {
                try await Task.sleep(for: .milliseconds(request.intervalMs))
            }
        }
        if request.failCode != 0 {
            throw RPCError(code: Status.Code(rawValue: Int(request.failCode)), message: "failed after \(request.count) messages")
        }
    }

    public func chat(
        requests: RPCAsyncSequence<RPCTestV1.EchoRequest>, response: RPCWriter<RPCTestV1.EchoResponse>,
        context: ServerContext
    ) async throws {
        for try await request in requests {
            if request.failCode != 0 {
                throw RPCError(code: Status.Code(rawValue: Int(request.failCode)), message: request.failMessage)
            }
            var reply = RPCTestV1.EchoResponse()
            reply.message = request.message
            reply.payload = request.payload
            try await response.write(reply)
        }
    }

    private func echoMetadata(_ keys: [String], _ context: ServerContext) {
        var initial = Metadata()
        var trailing = Metadata()
        for key in keys {
            for value in context.metadata[key] {
                initial.add(key, value)
                trailing.add(key, value)
            }
        }
        context.addInitialMetadata(initial)
        context.addTrailingMetadata(trailing)
    }
}
