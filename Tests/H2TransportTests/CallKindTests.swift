import H2Transport
import Platform
import ProtoMessages
import RPCCore
import Testing

@Suite struct CallKindTests {
    @Test func unaryEchoesMessageAndMetadata() async throws {
        try await TestHarness.with { h in
            var request = echoRequest("héllo", payload: [0, 1, 2])
            request.echoMetadata = ["x-text", "x-blob-bin"]
            var options = CallOptions()
            options.metadata.add("x-text", "a value")
            options.metadata.add("x-blob-bin", binary: [0xFF, 0, 0x80])
            let response: ClientResponse<RPCTestV1.EchoResponse> = try await h.rpc.unaryResponse(
                RPCTestV1.TestService.Method.echo, request: request, options: options)
            #expect(response.message.message == "héllo")
            #expect(response.message.payload == [0, 1, 2])
            #expect(response.initialMetadata.first("x-text") == "a value")
            #expect(response.initialMetadata.firstBinary("x-blob-bin") == [0xFF, 0, 0x80])
            #expect(response.trailingMetadata.firstBinary("x-blob-bin") == [0xFF, 0, 0x80])
        }
    }

    @Test func errorStatusCarriesMessageAndTrailers() async throws {
        try await TestHarness.with(routes: { router in
            router.registerUnary(
                MethodDescriptor(service: "t.T", method: "Fail", kind: .unary), RPCTestV1.EchoRequest.self,
                RPCTestV1.EchoResponse.self
            ) { _, _ in
                throw RPCError(code: .failedPrecondition, message: "état: 100% wrong\nline two", metadata: ["details-bin": .binary([1, 2, 3])])
            }
        }) { h in
            let error = await #expect(throws: RPCError.self) {
                let _: RPCTestV1.EchoResponse = try await h.rpc.unary(
                    MethodDescriptor(service: "t.T", method: "Fail", kind: .unary), request: echoRequest("x"))
            }
            #expect(error?.code == .failedPrecondition)
            #expect(error?.message == "état: 100% wrong\nline two")
            #expect(error?.metadata.firstBinary("details-bin") == [1, 2, 3])
        }
    }

    @Test func unknownMethodIsUnimplemented() async throws {
        try await TestHarness.with { h in
            let error = await #expect(throws: RPCError.self) {
                let _: RPCTestV1.EchoResponse = try await h.rpc.unary(
                    MethodDescriptor(service: "no.Such", method: "Thing", kind: .unary), request: echoRequest("x"))
            }
            #expect(error?.code == .unimplemented)
        }
    }

    @Test func clientStreamOfTenMegabytesInSmallChunks() async throws {
        try await TestHarness.with { h in
            let piece = (0..<1024).map { UInt8(truncatingIfNeeded: $0 * 7) }
            let summary = try await h.client.collect { writer in
                for i in 0..<10_240 {
                    try await writer.write(chunk(piece, index: UInt64(i)))
                }
            }
            let hasher = Platform.SHA256()
            for _ in 0..<10_240 { hasher.update(piece) }
            #expect(summary.messages == 10_240)
            #expect(summary.bytes == 10_240 * 1024)
            #expect(summary.sha256 == Hex.encode(hasher.finalize()))
        }
    }

    @Test func serverStreamOfManyMessagesArrivesInOrder() async throws {
        try await TestHarness.with { h in
            var request = RPCTestV1.GenerateRequest()
            request.count = 20_000
            request.size = 16
            let indexes = try await h.client.generate(request) { responses in
                var indexes: [UInt64] = []
                for try await message in responses { indexes.append(message.index) }
                return indexes
            }
            #expect(indexes == Array(0..<20_000))
        }
    }

    @Test func serverStreamEndingWithErrorDeliversMessagesThenStatus() async throws {
        try await TestHarness.with { h in
            var request = RPCTestV1.GenerateRequest()
            request.count = 3
            request.size = 1
            request.failCode = Int32(Status.Code.aborted.rawValue)
            let received = Counter()
            let error = await #expect(throws: RPCError.self) {
                try await h.client.generate(request) { responses in
                    for try await _ in responses { received.increment() }
                }
            }
            #expect(received.current == 3)
            #expect(error?.code == .aborted)
        }
    }

    @Test func bidirectionalRepliesInOrder() async throws {
        try await TestHarness.with { h in
            let replies = try await h.client.chat(requests: { writer in
                for i in 0..<500 { try await writer.write(echoRequest("m\(i)")) }
            }, onResponse: { responses in
                try await responses.collect().map(\.message)
            })
            #expect(replies == (0..<500).map { "m\($0)" })
        }
    }

    @Test func thousandConcurrentCallsOnOneConnection() async throws {
        try await TestHarness.with { h in
            try await withThrowingTaskGroup(of: String.self) { group in
                for i in 0..<1000 {
                    group.addTask { try await h.client.echo(echoRequest("c\(i)")).message }
                }
                var seen = Set<String>()
                for try await message in group { seen.insert(message) }
                #expect(seen.count == 1000)
            }
        }
    }

    @Test func healthCheckAndUnknownService() async throws {
        try await TestHarness.with { h in
            let health = GrpcHealthV1.Health.Client(h.rpc)
            #expect(try await health.check(GrpcHealthV1.HealthCheckRequest()).status == .serving)
            var unknown = GrpcHealthV1.HealthCheckRequest()
            unknown.service = "nope"
            let error = await #expect(throws: RPCError.self) { try await health.check(unknown) }
            #expect(error?.code == .notFound)
            let first = try await health.watch(GrpcHealthV1.HealthCheckRequest()) { responses in
                var iterator = responses.makeAsyncIterator()
                return try await iterator.next()?.status
            }
            #expect(first == .serving)
        }
    }

    @Test func handlersCanRunOnTheGlobalExecutor() async throws {
        try await TestHarness.with(configure: { $0.handlerPlacement = .globalExecutor; $0.eventLoops = 2 }) { h in
            let summary = try await h.client.collect { writer in
                for i in 0..<100 { try await writer.write(chunk([UInt8](repeating: 1, count: 100), index: UInt64(i))) }
            }
            #expect(summary.bytes == 10_000)
            #expect(try await h.client.echo(echoRequest("g")).message == "g")
        }
    }
}
