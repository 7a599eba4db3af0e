import H2Transport
import ProtoMessages
import RPCCore
import RPCHealth
import RPCTestService
import Synchronization

/// A server on 127.0.0.1 (port picked by the OS) with TestService, Health and any
/// extra routes, and a client channel to it.
struct TestHarness {
    let server: GRPCServer
    let channel: GRPCChannel
    let client: RPCTestV1.TestService.Client
    let rpc: RPCClient

    static func with<R>(
        configure: (inout GRPCServerConfiguration) -> Void = { _ in },
        routes: (inout RPCRouter) -> Void = { _ in },
        clientLimits: HTTP2Limits = HTTP2Limits(),
        _ body: (TestHarness) async throws -> R
    ) async throws -> R {
        var router = RPCRouter()
        TestService().registerRoutes(with: &router)
        HealthService().register(on: &router)
        routes(&router)
        var configuration = GRPCServerConfiguration()
        configure(&configuration)
        let server = GRPCServer(router: router, configuration: configuration)
        let port = try await server.start()
        let channel = GRPCChannel(host: "127.0.0.1", port: port, limits: clientLimits)
        let rpc = RPCClient(transport: channel)
        let harness = TestHarness(server: server, channel: channel, client: RPCTestV1.TestService.Client(rpc), rpc: rpc)
        do {
            let result = try await body(harness)
            await channel.close()
            await server.shutdown(grace: .seconds(2))
            return result
        } catch {
            await channel.close()
            await server.shutdown(grace: .seconds(2))
            throw error
        }
    }
}

/// A counter tests share with handlers.
final class Counter: Sendable {
    private let value = Mutex(0)
    func increment(by n: Int = 1) { value.withLock { $0 += n } }
    var current: Int { value.withLock { $0 } }
}

/// Polls `condition` until it holds or `timeout` passes.
func eventually(timeout: Duration = .seconds(5), _ condition: () -> Bool) async -> Bool {
    let end = ContinuousClock.now + timeout
    while ContinuousClock.now < end {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}

func echoRequest(_ message: String, payload: [UInt8] = []) -> RPCTestV1.EchoRequest {
    var request = RPCTestV1.EchoRequest()
    request.message = message
    request.payload = payload
    return request
}

func chunk(_ data: [UInt8], index: UInt64 = 0) -> RPCTestV1.Chunk {
    var chunk = RPCTestV1.Chunk()
    chunk.data = data
    chunk.index = index
    return chunk
}
