import RPCCore
import RPCInProcess
import Synchronization
import Testing

/// The router on its own, through the in-process transport: no sockets.
@Suite struct RouterTests {
    static let echo = MethodDescriptor(service: "test.Echo", method: "Get", kind: .unary)
    static let collect = MethodDescriptor(service: "test.Echo", method: "Collect", kind: .clientStreaming)
    static let expand = MethodDescriptor(service: "test.Echo", method: "Expand", kind: .serverStreaming)
    static let chat = MethodDescriptor(service: "test.Echo", method: "Chat", kind: .bidirectionalStreaming)
    static let stall = MethodDescriptor(service: "test.Echo", method: "Stall", kind: .unary)
    static let fail = MethodDescriptor(service: "test.Echo", method: "Fail", kind: .unary)

    struct Unexpected: Error {}
    struct Refusal: RPCErrorConvertible {
        var rpcError: RPCError { RPCError(code: .failedPrecondition, message: "not now", metadata: ["why": .string("converted")]) }
    }

    /// What `onCallFinished` was told.
    final class Finished: Sendable {
        let calls = Mutex<[FinishedCall]>([])
    }

    /// What `onUnexpectedError` was told.
    final class Reports: Sendable {
        let lines = Mutex<[String]>([])
    }

    /// A router with one method of each kind, and the errors a handler may throw.
    static func router(interceptors: [any ServerInterceptor] = [], unexpected: Reports? = nil) -> RPCRouter {
        var router = RPCRouter()
        router.registerUnary(echo, Text.self, Text.self) { request, context in
            context.addInitialMetadata(["seen-by": .string("echo")])
            context.addTrailingMetadata(["deadline": .string(context.deadline == nil ? "none" : "set")])
            return Text(request.value.uppercased())
        }
        router.registerClientStreaming(collect, Text.self, Text.self) { requests, _ in
            var parts: [String] = []
            for try await request in requests { parts.append(request.value) }
            return Text(parts.joined(separator: "+"))
        }
        router.registerServerStreaming(expand, Text.self, Text.self) { request, writer, _ in
            for character in request.value { try await writer.write(Text(String(character))) }
        }
        router.registerBidirectionalStreaming(chat, Text.self, Text.self) { requests, writer, _ in
            for try await request in requests { try await writer.write(Text("re: " + request.value)) }
        }
        router.registerUnary(stall, Text.self, Text.self) { _, _ in
            try await Task.sleep(for: .seconds(3600))
            return Text("too late")
        }
        router.registerUnary(fail, Text.self, Text.self) { request, _ in
            switch request.value {
            case "rpc": throw RPCError(code: .notFound, message: "no such thing", metadata: ["detail": .string("x")])
            case "convertible": throw Refusal()
            default: throw Unexpected()
            }
        }
        router.interceptors = interceptors
        if let unexpected {
            router.onUnexpectedError = { error, context in unexpected.lines.withLock { $0.append("\(context.method.method): \(error)") } }
        }
        return router
    }

    static func client(_ router: RPCRouter) -> RPCClient {
        RPCClient(transport: InProcessTransport(router: router))
    }

    @Test func routesEachKindOfCall() async throws {
        let client = Self.client(Self.router())
        let response: ClientResponse<Text> = try await client.unaryResponse(Self.echo, request: Text("hello"))
        #expect(response.message.value == "HELLO")
        #expect(response.initialMetadata.first("seen-by") == "echo")
        #expect(response.trailingMetadata.first("deadline") == "none")
        let collected: Text = try await client.clientStreaming(Self.collect) { writer in
            for part in ["a", "b", "c"] { try await writer.write(Text(part)) }
        }
        #expect(collected.value == "a+b+c")
        let expanded: [String] = try await client.serverStreaming(Self.expand, request: Text("xyz")) { (responses: RPCAsyncSequence<Text>) in
            var out: [String] = []
            for try await response in responses { out.append(response.value) }
            return out
        }
        #expect(expanded == ["x", "y", "z"])
        let replies: [String] = try await client.bidirectionalStreaming(Self.chat, requests: { (writer: RPCWriter<Text>) in
            for word in ["one", "two"] { try await writer.write(Text(word)) }
        }) { (responses: RPCAsyncSequence<Text>) in
            var out: [String] = []
            for try await response in responses { out.append(response.value) }
            return out
        }
        #expect(replies == ["re: one", "re: two"])
    }

    @Test func unknownMethodsAndServicesAreUnimplemented() async throws {
        let client = Self.client(Self.router())
        for method in [MethodDescriptor(service: "test.Echo", method: "Nope", kind: .unary),
                       MethodDescriptor(service: "test.Missing", method: "Get", kind: .unary)] {
            let error = await #expect(throws: RPCError.self) { let _: Text = try await client.unary(method, request: Text("x")) }
            #expect(error?.code == .unimplemented)
            #expect(error?.message == "method \(method.path) is not implemented by this server")
        }
    }

    /// Records the calls it sees; refuses those without `token: good`.
    final class Gate: ServerInterceptor {
        let seen = Mutex<[String]>([])
        let name: String
        let refuse: Bool

        init(_ name: String, refuse: Bool) {
            self.name = name
            self.refuse = refuse
        }

        func intercept(context: ServerContext) async throws {
            seen.withLock { $0.append("\(name) \(context.method.method)") }
            if refuse && context.metadata.first("token") != "good" {
                throw RPCError(code: .unauthenticated, message: "\(name) says no")
            }
        }
    }

    @Test func interceptorsRunInOrderAndTheirRefusalIsTheStatus() async throws {
        let first = Gate("first", refuse: false)
        let second = Gate("second", refuse: true)
        let router = Self.router(interceptors: [first, second])
        let refused = await #expect(throws: RPCError.self) {
            let _: Text = try await Self.client(router).unary(Self.echo, request: Text("x"))
        }
        // The status; the trailers also carry the call's x-request-id.
        #expect(refused?.status == Status(code: .unauthenticated, message: "second says no"))
        #expect(refused?.metadata.first("x-request-id")?.hasPrefix("r-") == true)
        #expect(first.seen.withLock { $0 } == ["first Get"])
        var allowed = Self.client(router)
        allowed.defaultMetadata = ["token": .string("good")]
        let response: Text = try await allowed.unary(Self.echo, request: Text("ok"))
        #expect(response.value == "OK")
        #expect(second.seen.withLock { $0 } == ["second Get", "second Get"])
    }

    @Test func handlerErrorsBecomeStatusesInOnePlace() async throws {
        let unexpected = Reports()
        let client = Self.client(Self.router(unexpected: unexpected))
        func call(_ value: String) async -> RPCError? {
            await #expect(throws: RPCError.self) { let _: Text = try await client.unary(Self.fail, request: Text(value)) }
        }
        let rpc = await call("rpc")
        #expect(rpc?.code == .notFound && rpc?.message == "no such thing" && rpc?.metadata.first("detail") == "x")
        let converted = await call("convertible")
        #expect(converted?.code == .failedPrecondition && converted?.metadata.first("why") == "converted")
        let other = await call("other")
        #expect(other?.code == .internal)
        // The client learns nothing of the failure but the id of its log line.
        let id = other?.metadata.first("x-request-id") ?? "none"
        #expect(other?.message == "internal error; request id \(id)" && id.hasPrefix("r-"))
        // Only the error nobody turned into a status is reported, for the log.
        #expect(unexpected.lines.withLock { $0 } == ["Fail: Unexpected()"])
    }

    @Test func everyCallIsReportedOnceWithItsStatusAndIDs() async throws {
        var router = Self.router()
        let finished = Finished()
        router.onCallFinished = { call in finished.calls.withLock { $0.append(call) } }
        let client = Self.client(router)
        let traced = CallOptions(metadata: ["traceparent": .string("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")])
        let _: Text = try await client.unary(Self.echo, request: Text("x"), options: traced)
        _ = try? await client.unary(Self.fail, request: Text("rpc")) as Text
        let calls = finished.calls.withLock { $0 }
        #expect(calls.map(\.path) == ["/test.Echo/Get", "/test.Echo/Fail"])
        #expect(calls.map(\.code) == [.ok, .notFound])
        #expect(calls[0].traceID == "4bf92f3577b34da6a3ce929d0e0e4736" && calls[1].traceID == nil)
        #expect(Set(calls.map(\.requestID)).count == 2)
    }

    @Test func aDeadlineEndsTheCallAndTheHandler() async throws {
        let client = Self.client(Self.router())
        let started = ContinuousClock.now
        let error = await #expect(throws: RPCError.self) {
            let _: Text = try await client.unary(Self.stall, request: Text("x"), options: CallOptions(timeout: .milliseconds(50)))
        }
        #expect(error?.code == .deadlineExceeded)
        #expect(ContinuousClock.now - started < .seconds(5))
        let response: ClientResponse<Text> = try await client.unaryResponse(Self.echo, request: Text("x"), options: CallOptions(timeout: .seconds(60)))
        #expect(response.trailingMetadata.first("deadline") == "set")
    }

    /// Keeps a weak reference to every call's context it sees (to its
    /// termination, one of the objects the context holds).
    final class Witness: ServerInterceptor {
        final class Weak: Sendable {
            nonisolated(unsafe) weak var context: CallTermination?
            init(_ context: ServerContext) { self.context = context.termination }
        }

        let seen = Mutex<[Weak]>([])

        func intercept(context: ServerContext) async throws {
            seen.withLock { $0.append(Weak(context)) }
        }

        var alive: Int { seen.withLock { $0.count { $0.context != nil } } }
    }

    /// A call's context (and what it holds: the call, its metadata) is freed
    /// when the call ends, however it ends: the completion that ends a parked
    /// call refers to the context and must not stay in it.
    @Test func aCallsContextIsFreedWhenTheCallEnds() async throws {
        let witness = Witness()
        let client = Self.client(Self.router(interceptors: [witness, Gate("gate", refuse: true)]))
        var allowed = client
        allowed.defaultMetadata = ["token": .string("good")]
        let _: Text = try await allowed.unary(Self.echo, request: Text("ok"))
        _ = try? await allowed.unary(Self.fail, request: Text("rpc")) as Text
        _ = try? await allowed.unary(Self.fail, request: Text("boom")) as Text
        _ = try? await client.unary(Self.echo, request: Text("refused")) as Text
        let expanded: Int = try await allowed.serverStreaming(Self.expand, request: Text("xyz")) { (responses: RPCAsyncSequence<Text>) in
            var count = 0
            for try await _ in responses { count += 1 }
            return count
        }
        #expect(expanded == 3)
        #expect(witness.seen.withLock { $0.count } == 5)
        var waited = 0
        while witness.alive > 0 && waited < 5_000 {
            try await Task.sleep(for: .milliseconds(1))
            waited += 1
        }
        #expect(witness.alive == 0, "every ended call's context is freed")
    }

    @Test func requestSizeLimitsApplyByMethodThenService() {
        var router = RPCRouter()
        router.requestSizeLimits["test.Echo"] = 100
        router.registerUnary(Self.echo, Text.self, Text.self) { request, _ in request }
        router.registerUnary(Self.fail, Text.self, Text.self) { request, _ in request }
        #expect(router.maxRequestSize(forPath: Self.echo.path) == 100, "set before the method was registered")
        router.requestSizeLimits[Self.fail.path] = 10
        router.registerServerStreaming(Self.expand, Text.self, Text.self) { _, _, _ in }
        #expect(router.maxRequestSize(forPath: Self.fail.path) == 10, "the method's own limit first")
        #expect(router.maxRequestSize(forPath: Self.expand.path) == 100, "registered after the limit was set")
        #expect(router.maxRequestSize(forPath: "/test.Echo/Unknown") == nil)
        #expect(router.maxRequestSize(forPath: "/other.Service/Get") == nil)
        router.requestSizeLimits["test.Echo"] = nil
        #expect(router.maxRequestSize(forPath: Self.echo.path) == nil)
        #expect(router.maxRequestSize(forPath: Self.fail.path) == 10)
    }

    @Test func aCancelledClientCancelsTheHandler() async throws {
        let client = Self.client(Self.router())
        let task = Task { let _: Text = try await client.unary(Self.stall, request: Text("x")) }
        task.cancel()
        let error = await #expect(throws: (any Error).self) { try await task.value }
        #expect((error as? RPCError)?.code == .cancelled || error is CancellationError)
    }
}

/// A message that is just UTF-8 text.
struct Text: RPCMessage, Equatable {
    var value: String

    init(_ value: String) { self.value = value }

    init(serializedBytes: [UInt8]) throws {
        value = String(decoding: serializedBytes, as: UTF8.self)
    }

    func serialize(into buffer: inout [UInt8]) {
        buffer.append(contentsOf: value.utf8)
    }
}
