import H2Transport
import ProtoMessages
import RPCCore
import Synchronization
import Testing

/// Deadlines, cancellation, limits and shutdown.
@Suite struct LifecycleTests {
    static let slow = MethodDescriptor(service: "t.Lifecycle", method: "Slow", kind: .unary)
    static let forever = MethodDescriptor(service: "t.Lifecycle", method: "Forever", kind: .serverStreaming)

    /// A unary handler that sleeps 10 s and a stream that never ends, both
    /// counting how often they started and how often they saw cancellation.
    static func routes(_ cancellations: Counter, started: Counter = Counter()) -> (inout RPCRouter) -> Void {
        { router in
            router.registerUnary(slow, RPCTestV1.EchoRequest.self, RPCTestV1.EchoResponse.self) { _, _ in
                started.increment()
                do {
                    try await Task.sleep(for: .seconds(10))
                } catch {
                    cancellations.increment()
                    throw error
                }
                return RPCTestV1.EchoResponse()
            }
            router.registerServerStreaming(forever, RPCTestV1.GenerateRequest.self, RPCTestV1.Chunk.self) { _, writer, _ in
                var i: UInt64 = 0
                do {
                    while true {
                        try await writer.write(chunk([1], index: i))
                        i += 1
                        try await Task.sleep(for: .milliseconds(5))
                    }
                } catch {
                    cancellations.increment()
                    throw error
                }
            }
        }
    }

    @Test func deadlineExceededCancelsTheHandler() async throws {
        let cancellations = Counter()
        let started = Counter()
        try await TestHarness.with(routes: Self.routes(cancellations, started: started)) { h in
            // Connect first: the deadline is about the handler, not about setting up.
            _ = try await h.client.echo(echoRequest("warm up"))
            let start = ContinuousClock.now
            let error = await #expect(throws: RPCError.self) {
                let _: RPCTestV1.EchoResponse = try await h.rpc.unary(
                    Self.slow, request: echoRequest("x"), options: CallOptions(timeout: .seconds(3)))
            }
            #expect(error?.code == .deadlineExceeded)
            #expect(ContinuousClock.now - start < .seconds(8))
            // The handler (it sleeps 10 s) ran and was cancelled, not left running.
            #expect(started.current == 1)
            #expect(await eventually { cancellations.current == 1 })
        }
    }

    @Test func clientLeavingAStreamCancelsTheHandler() async throws {
        let cancellations = Counter()
        try await TestHarness.with(routes: Self.routes(cancellations)) { h in
            let received: Int = try await h.rpc.serverStreaming(
                Self.forever, request: RPCTestV1.GenerateRequest()
            ) { (responses: RPCAsyncSequence<RPCTestV1.Chunk>) in
                var n = 0
                for try await _ in responses {
                    n += 1
                    if n == 3 { break }
                }
                return n
            }
            #expect(received == 3)
            #expect(await eventually { cancellations.current == 1 })
        }
    }

    @Test func cancellingTheClientTaskCancelsTheCall() async throws {
        let cancellations = Counter()
        let started = Counter()
        try await TestHarness.with(routes: Self.routes(cancellations, started: started)) { h in
            let task = Task {
                let _: RPCTestV1.EchoResponse = try await h.rpc.unary(Self.slow, request: echoRequest("x"))
            }
            #expect(await eventually { started.current == 1 })
            task.cancel()
            let result = await task.result
            #expect(throws: RPCError.self) { try result.get() }
            #expect(await eventually { cancellations.current == 1 })
        }
    }

    @Test func oversizedRequestIsResourceExhausted() async throws {
        try await TestHarness.with { h in
            let error = await #expect(throws: RPCError.self) {
                try await h.client.echo(echoRequest("x", payload: [UInt8](repeating: 1, count: (4 << 20) + 1)))
            }
            #expect(error?.code == .resourceExhausted)
            // The connection is still good.
            let after = try await h.client.echo(echoRequest("after"))
            #expect(after.message == "after")
        }
    }

    @Test func oversizedResponseIsResourceExhaustedOnTheClient() async throws {
        var limits = HTTP2Limits()
        limits.maxReceiveMessageSize = 1000
        try await TestHarness.with(clientLimits: limits) { h in
            let error = await #expect(throws: RPCError.self) {
                try await h.client.echo(echoRequest("x", payload: [UInt8](repeating: 1, count: 2000)))
            }
            #expect(error?.code == .resourceExhausted)
        }
    }

    @Test func serverRefusingEarlyStopsTheUpload() async throws {
        let refuse = MethodDescriptor(service: "t.Lifecycle", method: "Refuse", kind: .clientStreaming)
        let sent = Counter()
        try await TestHarness.with(routes: { router in
            router.registerClientStreaming(refuse, RPCTestV1.Chunk.self, RPCTestV1.CollectSummary.self) { requests, _ in
                for try await _ in requests {
                    throw RPCError(code: .invalidArgument, message: "bad header row")
                }
                return RPCTestV1.CollectSummary()
            }
        }) { h in
            let piece = [UInt8](repeating: 7, count: 64 << 10)
            let error = await #expect(throws: RPCError.self) {
                let _: RPCTestV1.CollectSummary = try await h.rpc.clientStreaming(refuse) { writer in
                    for i in 0..<2000 {  // 128 MB
                        try await writer.write(chunk(piece, index: UInt64(i)))
                        sent.increment()
                    }
                }
            }
            #expect(error?.code == .invalidArgument)
            #expect(error?.message == "bad header row")
            #expect(sent.current < 200, "the client learned of the refusal while sending")
        }
    }

    @Test func slowHandlerBoundsWhatTheServerBuffers() async throws {
        let gated = MethodDescriptor(service: "t.Lifecycle", method: "Gated", kind: .clientStreaming)
        let gate = Gate()
        let consumed = Counter()
        try await TestHarness.with(routes: { router in
            router.registerClientStreaming(gated, RPCTestV1.Chunk.self, RPCTestV1.CollectSummary.self) { requests, _ in
                var summary = RPCTestV1.CollectSummary()
                for try await message in requests {
                    if summary.messages == 1 { await gate.wait() }
                    summary.messages += 1
                    summary.bytes += UInt64(message.data.count)
                    consumed.increment()
                }
                return summary
            }
        }) { h in
            let sent = Counter()
            let piece = [UInt8](repeating: 3, count: 4096)
            let upload = Task {
                let summary: RPCTestV1.CollectSummary = try await h.rpc.clientStreaming(gated) { writer in
                    for i in 0..<10_000 {  // 40 MB
                        try await writer.write(chunk(piece, index: UInt64(i)))
                        sent.increment()
                    }
                }
                return summary
            }
            #expect(await eventually { consumed.current == 1 })
            // The client's writer stalls on flow control: it waits for room.
            #expect(await eventually { h.channel.suspendedWriters == 1 })
            // While the handler holds its second message, the client is held back by
            // flow control: about one stream window plus buffers, not 40 MB.
            let inFlight = sent.current * 4096
            #expect(consumed.current == 1)
            #expect(inFlight < HTTP2Limits().streamWindow + (2 << 20), "sent \(inFlight) bytes into a stalled handler")
            await gate.open()
            let summary = try await upload.value
            #expect(summary.messages == 10_000)
            #expect(summary.bytes == 40_960_000)
        }
    }

    @Test func slowClientSuspendsTheServersWriter() async throws {
        let firehose = MethodDescriptor(service: "t.Lifecycle", method: "Firehose", kind: .serverStreaming)
        let written = Counter()
        try await TestHarness.with(routes: { router in
            router.registerServerStreaming(firehose, RPCTestV1.GenerateRequest.self, RPCTestV1.Chunk.self) { request, writer, _ in
                let piece = [UInt8](repeating: 5, count: 4096)
                for i in 0..<request.count {
                    try await writer.write(chunk(piece, index: i))
                    written.increment()
                }
            }
        }) { h in
            var request = RPCTestV1.GenerateRequest()
            request.count = 10_000  // 40 MB
            let total: Int = try await h.rpc.serverStreaming(firehose, request: request) {
                (responses: RPCAsyncSequence<RPCTestV1.Chunk>) in
                var iterator = responses.makeAsyncIterator()
                _ = try await iterator.next()
                // The server's writer stalls: the client reads nothing.
                #expect(await eventually { h.server.suspendedWriters == 1 })
                let buffered = written.current * 4096
                // The client's stream window, the stream's queue and socket buffers: not 40 MB.
                #expect(buffered < HTTP2Limits().streamWindow + (2 << 20), "the server wrote \(buffered) bytes to a client that reads nothing")
                var n = 1
                while try await iterator.next() != nil { n += 1 }
                return n
            }
            #expect(total == 10_000)
        }
    }

    @Test func everyMessageArrivesWholeAndInOrderWhileTheSocketFillsAndDrains() async throws {
        // A message written out at once drops the stream's nghttp2 data source,
        // and the next message gives it a new one (`HTTP2DataRead.lastBytes`);
        // while the socket buffer is full that hand-over waits for the write.
        // Sizes from 1 byte to several frames, pauses that let the stream
        // drain, a client that stalls and then reads: every message whole, in order.
        let firehose = MethodDescriptor(service: "t.Lifecycle", method: "Firehose", kind: .serverStreaming)
        @Sendable func size(_ i: Int) -> Int { (i * 7919) % 40_000 + 1 }
        // Windows far larger than the socket budget (and within what the
        // client may hold): the server's output fills while its writer sleeps
        // between messages.
        var clientLimits = HTTP2Limits()
        clientLimits.streamWindow = 16 << 20
        clientLimits.connectionWindow = 24 << 20
        try await TestHarness.with(
            configure: { $0.limits.outputHighWater = 64 << 10 },
            routes: { router in
                router.registerServerStreaming(firehose, RPCTestV1.GenerateRequest.self, RPCTestV1.Chunk.self) { request, writer, _ in
                    for i in 0..<Int(request.count) {
                        try await writer.write(chunk([UInt8](repeating: UInt8(i % 251), count: size(i)), index: UInt64(i)))
                        if i % 3 == 0 { try await Task.sleep(for: .microseconds(100)) }
                    }
                }
            }, clientLimits: clientLimits
        ) { h in
            var request = RPCTestV1.GenerateRequest()
            request.count = 3000  // about 60 MB
            let received: Int = try await h.rpc.serverStreaming(firehose, request: request) {
                (responses: RPCAsyncSequence<RPCTestV1.Chunk>) in
                var n = 0
                for try await message in responses {
                    #expect(message.index == UInt64(n))
                    #expect(message.data.count == size(n) && message.data.allSatisfy { $0 == UInt8(n % 251) })
                    n += 1
                    if n == 1 || n == 1500 { try await Task.sleep(for: .milliseconds(300)) }
                }
                return n
            }
            #expect(received == 3000)
        }
    }

    @Test func manyStalledStreamsShareOneOutboundBudget() async throws {
        // 20 streams whose client reads nothing: without a per-connection budget
        // the server would queue 256 KiB for each (5 MiB); with a 1 MiB budget
        // the writers stop once the connection holds that much.
        let firehose = MethodDescriptor(service: "t.Lifecycle", method: "Firehose", kind: .serverStreaming)
        let written = Counter()
        let streams = 20
        var clientLimits = HTTP2Limits()
        clientLimits.streamWindow = 65_535
        try await TestHarness.with(
            configure: { $0.limits.maxBufferedOutboundBytes = 1 << 20 },
            routes: { router in
                router.registerServerStreaming(firehose, RPCTestV1.GenerateRequest.self, RPCTestV1.Chunk.self) { request, writer, _ in
                    let piece = [UInt8](repeating: 5, count: 4096)
                    for i in 0..<request.count {
                        try await writer.write(chunk(piece, index: i))
                        written.increment()
                    }
                }
            }, clientLimits: clientLimits
        ) { h in
            let rpc = h.rpc
            await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<streams {
                    group.addTask {
                        var request = RPCTestV1.GenerateRequest()
                        request.count = 1000  // 4 MB a stream
                        let _: Int = try await rpc.serverStreaming(firehose, request: request) {
                            (responses: RPCAsyncSequence<RPCTestV1.Chunk>) in
                            var n = 0
                            for try await _ in responses { n += 1 }
                            return n
                        }
                    }
                }
                // The client's stream windows (64 KiB each) fill; then the server holds the rest.
                #expect(await eventually { h.server.suspendedWriters == streams })
                let buffered = written.current * 4096 - streams * 65_535
                #expect(buffered < (1 << 20) + streams * 8192, "the server queued \(buffered) bytes for stalled streams")
                group.cancelAll()
            }
        }
    }

    @Test func gracefulShutdownLetsInFlightCallsFinish() async throws {
        try await TestHarness.with { h in
            var request = RPCTestV1.GenerateRequest()
            request.count = 20
            request.size = 10
            request.intervalMs = 25
            let received = Counter()
            let stream = Task {
                try await h.client.generate(request) { responses in
                    for try await _ in responses { received.increment() }
                    return received.current
                }
            }
            #expect(await eventually { received.current >= 1 })
            let shutdown = Task { await h.server.shutdown(grace: .seconds(5)) }
            let count = try await stream.value
            #expect(count == 20)
            await shutdown.value
            let error = await #expect(throws: RPCError.self) { try await h.client.echo(echoRequest("late")) }
            #expect(error?.code == .unavailable)
        }
    }

    @Test func shutdownGraceEndsCallsThatOutstayIt() async throws {
        let cancellations = Counter()
        try await TestHarness.with(routes: Self.routes(cancellations)) { h in
            let received = Counter()
            let stream = Task {
                try await h.rpc.serverStreaming(Self.forever, request: RPCTestV1.GenerateRequest()) {
                    (responses: RPCAsyncSequence<RPCTestV1.Chunk>) in
                    for try await _ in responses { received.increment() }
                    return received.current
                }
            }
            #expect(await eventually { received.current >= 1 })
            let start = ContinuousClock.now
            await h.server.shutdown(grace: .milliseconds(300))
            #expect(ContinuousClock.now - start < .seconds(3))
            let result = await stream.result
            #expect(throws: RPCError.self) { try result.get() }
            #expect(await eventually { cancellations.current == 1 })
        }
    }

    @Test func idleConnectionsAreClosedAndTheClientReconnects() async throws {
        let clock = ManualTransportClock()
        try await TestHarness.with(configure: {
            $0.idleTimeout = .seconds(300)
            $0.keepalive.time = nil  // only the idle timer is watched here
            $0.clock = clock
        }) { h in
            let first = try await h.client.echo(echoRequest("1"))
            #expect(first.message == "1")
            #expect(h.server.connectionCount == 1)
            // The idle timer runs once the call's stream is closed; nothing happens until it is due.
            #expect(await eventually { clock.pendingTimers == 1 })
            await clock.advance(by: .seconds(299))
            #expect(h.server.connectionCount == 1)
            await clock.advance(by: .seconds(1))
            #expect(await eventually { h.server.connectionCount == 0 })
            let second = try await h.client.echo(echoRequest("2"))
            #expect(second.message == "2")
        }
    }

    @Test func noServerIsUnavailableWithAReason() async throws {
        // Bind a port, then free it: nothing listens there.
        let server = GRPCServer(router: RPCRouter())
        let port = try await server.start()
        await server.shutdown(grace: .zero)
        let channel = GRPCChannel(host: "127.0.0.1", port: port)
        let client = RPCTestV1.TestService.Client(RPCClient(transport: channel))
        let error = await #expect(throws: RPCError.self) { try await client.echo(echoRequest("x")) }
        #expect(error?.code == .unavailable)
        #expect(error?.message.contains("refused") == true)
        await channel.close()
    }
}

/// Blocks tasks until opened.
actor Gate {
    private var isOpen = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func wait() async {
        if isOpen { return }
        await withCheckedContinuation { waiters.append($0) }
    }

    func open() {
        isOpen = true
        for waiter in waiters { waiter.resume() }
        waiters.removeAll()
    }
}

@Suite struct ConnectionLimitTests {
    @Test func connectionsBeyondTheCapAreClosedAtOnce() async throws {
        try await TestHarness.with(configure: { $0.maxConnections = 2 }) { h in
            _ = try await h.client.echo(echoRequest("first"))
            let second = GRPCChannel(host: "127.0.0.1", port: h.server.port)
            let third = GRPCChannel(host: "127.0.0.1", port: h.server.port)
            let secondClient = RPCTestV1.TestService.Client(RPCClient(transport: second))
            let thirdClient = RPCTestV1.TestService.Client(RPCClient(transport: third))
            let reply = try await secondClient.echo(echoRequest("second"))
            #expect(reply.message == "second")
            #expect(h.server.connectionCount == 2)
            let error = await #expect(throws: RPCError.self) { try await thirdClient.echo(echoRequest("third")) }
            #expect(error?.code == .unavailable)
            await second.close()
            #expect(await eventually { h.server.connectionCount == 1 })
            // A slot is free again.
            let fourth = GRPCChannel(host: "127.0.0.1", port: h.server.port)
            let again = try await RPCTestV1.TestService.Client(RPCClient(transport: fourth)).echo(echoRequest("fourth"))
            #expect(again.message == "fourth")
            await third.close()
            await fourth.close()
        }
    }

    @Test func callsBeyondTheServersCapAreResourceExhausted() async throws {
        let cancellations = Counter()
        try await TestHarness.with(configure: { $0.maxCalls = 2 }, routes: LifecycleTests.routes(cancellations)) { h in
            let received = Counter()
            // Two watches hold the two calls; one on a second connection (the cap is the server's).
            let other = GRPCChannel(host: "127.0.0.1", port: h.server.port)
            let watches = [h.rpc, RPCClient(transport: other)].map { rpc in
                Task {
                    try await rpc.serverStreaming(LifecycleTests.forever, request: RPCTestV1.GenerateRequest()) {
                        (responses: RPCAsyncSequence<RPCTestV1.Chunk>) in
                        for try await _ in responses { received.increment() }
                        return 0
                    }
                }
            }
            #expect(await eventually { h.server.statistics.streams == 2 && received.current >= 2 })
            let error = await #expect(throws: RPCError.self) { try await h.client.echo(echoRequest("third")) }
            #expect(error?.code == .resourceExhausted)
            #expect(error?.message.contains("limit of 2 calls") == true)
            #expect(h.server.statistics.limitHits["calls"] == 1)
            // A call ends: there is room again.
            watches[0].cancel()
            #expect(await eventually { h.server.statistics.streams == 1 })
            let reply = try await h.client.echo(echoRequest("fourth"))
            #expect(reply.message == "fourth")
            watches[1].cancel()
            await other.close()
        }
    }
}
