import ProtoMessages
import RPCCore
import Synchronization

/// The standard `grpc.health.v1.Health` service. The empty service name is the
/// server as a whole; services set their own status with `setStatus`.
public final class HealthService: GrpcHealthV1.Health.ServiceProtocol {
    public typealias ServingStatus = GrpcHealthV1.HealthCheckResponse.ServingStatus

    private struct State {
        var statuses: [String: ServingStatus] = ["": .serving]
        var watchers: [Int: (service: String, continuation: AsyncStream<ServingStatus>.Continuation)] = [:]
        var nextWatcher = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// A health request is a service name: nobody may make the server hold more
    /// for one (the service needs no token).
    public static let maxRequestSize = 1 << 10

    /// Adds the service to `router`, with its request size limit.
    public func register(on router: inout RPCRouter) {
        registerRoutes(with: &router)
        router.requestSizeLimits[GrpcHealthV1.Health.serviceName] = Self.maxRequestSize
    }

    /// Sets a service's status; watchers of that service see the change.
    public func setStatus(_ status: ServingStatus, forService service: String = "") {
        let watchers = state.withLock { state -> [AsyncStream<ServingStatus>.Continuation] in
            state.statuses[service] = status
            return state.watchers.values.filter { $0.service == service }.map(\.continuation)
        }
        for watcher in watchers { watcher.yield(status) }
    }

    /// Marks every service NOT_SERVING (used while the server drains).
    public func markAllNotServing() {
        let services = state.withLock { Array($0.statuses.keys) }
        for service in services { setStatus(.notServing, forService: service) }
    }

    public func check(request: GrpcHealthV1.HealthCheckRequest, context: ServerContext) async throws
        -> GrpcHealthV1.HealthCheckResponse
    {
        guard let status = state.withLock({ $0.statuses[request.service] }) else {
            throw RPCError(code: .notFound, message: "unknown service \(request.service)")
        }
        var response = GrpcHealthV1.HealthCheckResponse()
        response.status = status
        return response
    }

    public func watch(
        request: GrpcHealthV1.HealthCheckRequest, response: RPCWriter<GrpcHealthV1.HealthCheckResponse>,
        context: ServerContext
    ) async throws {
        let (stream, continuation) = AsyncStream.makeStream(of: ServingStatus.self, bufferingPolicy: .bufferingNewest(1))
        let id = state.withLock { state -> Int in
            let id = state.nextWatcher
            state.nextWatcher += 1
            state.watchers[id] = (request.service, continuation)
            continuation.yield(state.statuses[request.service] ?? .serviceUnknown)
            return id
        }
        defer { _ = state.withLock { $0.watchers.removeValue(forKey: id) } }
        var last: ServingStatus?
        for await status in stream {
            try Task.checkCancellation()
            if status == last { continue }
            last = status
            var message = GrpcHealthV1.HealthCheckResponse()
            message.status = status
            try await response.write(message)
        }
    }
}
