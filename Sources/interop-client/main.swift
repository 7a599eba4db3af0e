// interop-client: gRPC's interop test client (doc/interop-test-descriptions.md)
// on this project's transport. Runs one case against a grpc.testing.TestService
// server; exits 0 when it passes, 1 with one line saying why when it fails.
//
//   interop-client --server_host H --server_port P --test_case NAME
//                  [--use_tls [--ca_file F] [--server_host_override NAME]]
import ArgumentParser
import H2Transport
import ProtoMessages
import RPCCore

#if canImport(Glibc)
import Glibc
#endif

@main
struct InteropClient: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "interop-client",
        abstract: "gRPC's interop test client: runs one test case.",
        discussion: "Cases: \(InteropCase.allCases.map(\.rawValue).joined(separator: ", ")).")

    @Option(name: .customLong("server_host"), help: "The server's host.")
    var host = "127.0.0.1"

    @Option(name: .customLong("server_port"), help: "The server's port.")
    var port: Int

    @Option(name: .customLong("test_case"), help: "The case to run.")
    var testCase: InteropCase

    @Flag(name: .customLong("use_tls"), help: "Connect with TLS (h2 by ALPN).")
    var useTLS = false

    @Option(name: .customLong("ca_file"), help: "PEM roots to trust with --use_tls (default: the system's).")
    var caFile: String?

    @Option(name: .customLong("server_host_override"), help: "The name to verify the server's certificate against.")
    var hostOverride: String?

    func run() async throws {
        let tls = useTLS ? TLSClientConfiguration(trustRootsFile: caFile, serverName: hostOverride) : nil
        let channel = GRPCChannel(host: host, port: port, tls: tls)
        let cases = InteropCases(rpc: RPCClient(transport: channel))
        do {
            try await cases.run(testCase)
        } catch {
            await channel.close()
            print("\(testCase.rawValue): FAILED: \(error)")
            throw ExitCode(1)
        }
        await channel.close()
        print("\(testCase.rawValue): passed")
    }
}

extension InteropCase: ExpressibleByArgument {}

/// The cases of gRPC's interop test descriptions that this client runs.
enum InteropCase: String, CaseIterable {
    case emptyUnary = "empty_unary"
    case largeUnary = "large_unary"
    case clientStreaming = "client_streaming"
    case serverStreaming = "server_streaming"
    case pingPong = "ping_pong"
    case emptyStream = "empty_stream"
    case timeoutOnSleepingServer = "timeout_on_sleeping_server"
    case cancelAfterBegin = "cancel_after_begin"
    case cancelAfterFirstResponse = "cancel_after_first_response"
    case customMetadata = "custom_metadata"
    case statusCodeAndMessage = "status_code_and_message"
    case specialStatusMessage = "special_status_message"
    case unimplementedMethod = "unimplemented_method"
    case unimplementedService = "unimplemented_service"
    case clientCompressedUnary = "client_compressed_unary"
}

/// A case failed: what was expected and what came.
struct CaseFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

struct InteropCases {
    let rpc: RPCClient
    typealias Method = GrpcTesting.TestService.Method

    // The sizes gRPC's descriptions use.
    static let requestSizes: [Int32] = [27182, 8, 1828, 45904]
    static let responseSizes: [Int32] = [31415, 9, 2653, 58979]

    func run(_ testCase: InteropCase) async throws {
        switch testCase {
        case .emptyUnary: try await emptyUnary()
        case .largeUnary: try await largeUnary()
        case .clientStreaming: try await clientStreaming()
        case .serverStreaming: try await serverStreaming()
        case .pingPong: try await pingPong()
        case .emptyStream: try await emptyStream()
        case .timeoutOnSleepingServer: try await timeoutOnSleepingServer()
        case .cancelAfterBegin: try await cancelAfterBegin()
        case .cancelAfterFirstResponse: try await cancelAfterFirstResponse()
        case .customMetadata: try await customMetadata()
        case .statusCodeAndMessage: try await statusCodeAndMessage()
        case .specialStatusMessage: try await specialStatusMessage()
        case .unimplementedMethod: try await unimplemented(Method.unimplementedCall)
        case .unimplementedService: try await unimplemented(GrpcTesting.UnimplementedService.Method.unimplementedCall)
        case .clientCompressedUnary: try await largeUnary(options: CallOptions(compression: .gzip))
        }
    }

    // MARK: - Cases

    func emptyUnary() async throws {
        let response: GrpcTesting.Empty = try await rpc.unary(Method.emptyCall, request: GrpcTesting.Empty())
        try expect(response == GrpcTesting.Empty(), "EmptyCall returned a non-empty message")
    }

    func largeUnary(options: CallOptions = .defaults) async throws {
        let response: GrpcTesting.SimpleResponse = try await rpc.unary(Method.unaryCall, request: Self.simpleRequest(), options: options)
        try expectPayload(response.payload, size: 314159)
    }

    func clientStreaming() async throws {
        let response: GrpcTesting.StreamingInputCallResponse = try await rpc.clientStreaming(Method.streamingInputCall) { writer in
            for size in Self.requestSizes {
                var request = GrpcTesting.StreamingInputCallRequest()
                request.payload = Self.payload(size)
                try await writer.write(request)
            }
        }
        try expect(response.aggregatedPayloadSize == 74922, "aggregated_payload_size \(response.aggregatedPayloadSize), expected 74922")
    }

    func serverStreaming() async throws {
        var request = GrpcTesting.StreamingOutputCallRequest()
        request.responseParameters = Self.responseSizes.map(Self.parameters)
        let sizes: [Int] = try await rpc.serverStreaming(Method.streamingOutputCall, request: request) {
            (responses: RPCAsyncSequence<GrpcTesting.StreamingOutputCallResponse>) in
            var sizes: [Int] = []
            for try await response in responses {
                sizes.append(response.payload?.body.count ?? -1)
            }
            return sizes
        }
        try expect(sizes == Self.responseSizes.map(Int.init), "response sizes \(sizes), expected \(Self.responseSizes)")
    }

    func pingPong() async throws {
        let call = try await open(Method.fullDuplexCall)
        for (requestSize, responseSize) in zip(Self.requestSizes, Self.responseSizes) {
            try await send(Self.streamingRequest(response: responseSize, payload: requestSize), on: call)
            let response: GrpcTesting.StreamingOutputCallResponse = try await receive(on: call)
            try expectPayload(response.payload, size: Int(responseSize))
        }
        call.closeSend()
        try await expectEnd(call, .ok)
    }

    func emptyStream() async throws {
        let call = try await open(Method.fullDuplexCall)
        call.closeSend()
        try await expectEnd(call, .ok)
    }

    func timeoutOnSleepingServer() async throws {
        let call = try await open(Method.fullDuplexCall, timeout: .milliseconds(1))
        // The deadline may pass before the request is even sent: that is the point.
        try? await send(Self.streamingRequest(response: nil, payload: 27182), on: call)
        try await expectEnd(call, .deadlineExceeded)
    }

    func cancelAfterBegin() async throws {
        let call = try await open(Method.streamingInputCall)
        call.cancel()
        try await expectEnd(call, .cancelled)
    }

    func cancelAfterFirstResponse() async throws {
        let call = try await open(Method.fullDuplexCall)
        try await send(Self.streamingRequest(response: 31415, payload: 27182), on: call)
        let response: GrpcTesting.StreamingOutputCallResponse = try await receive(on: call)
        try expectPayload(response.payload, size: 31415)
        call.cancel()
        try await expectEnd(call, .cancelled)
    }

    func customMetadata() async throws {
        let initialValue = "test_initial_metadata_value"
        let trailingValue: [UInt8] = [0xAB, 0xAB, 0xAB]
        var metadata = Metadata()
        metadata.add("x-grpc-test-echo-initial", .string(initialValue))
        metadata.add("x-grpc-test-echo-trailing-bin", .binary(trailingValue))
        func check(_ headers: Metadata, _ trailers: Metadata, _ what: String) throws {
            try expect(headers.first("x-grpc-test-echo-initial") == initialValue, "\(what): initial metadata not echoed: \(headers)")
            try expect(trailers.firstBinary("x-grpc-test-echo-trailing-bin") == trailingValue, "\(what): trailing metadata not echoed: \(trailers)")
        }
        // Unary.
        let unary: ClientResponse<GrpcTesting.SimpleResponse> = try await rpc.unaryResponse(
            Method.unaryCall, request: Self.simpleRequest(), options: CallOptions(metadata: metadata))
        try expectPayload(unary.message.payload, size: 314159)
        try check(unary.initialMetadata, unary.trailingMetadata, "UnaryCall")
        // Full duplex.
        let call = try await open(Method.fullDuplexCall, metadata: metadata)
        try await send(Self.streamingRequest(response: 314159, payload: 271828), on: call)
        let response: GrpcTesting.StreamingOutputCallResponse = try await receive(on: call)
        try expectPayload(response.payload, size: 314159)
        call.closeSend()
        let headers = try await call.responseHeaders()
        let (status, trailers) = await call.status()
        try expect(status.code == .ok, "FullDuplexCall ended with \(status)")
        try check(headers, trailers, "FullDuplexCall")
    }

    func statusCodeAndMessage() async throws {
        try await expectStatusEcho(code: 2, message: "test status message")
    }

    func specialStatusMessage() async throws {
        try await expectStatusEcho(code: 2, message: "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n", fullDuplex: false)
    }

    func unimplemented(_ method: MethodDescriptor) async throws {
        do {
            let _: GrpcTesting.Empty = try await rpc.unary(method, request: GrpcTesting.Empty())
            throw CaseFailure("\(method.path) succeeded; expected UNIMPLEMENTED")
        } catch let error as RPCError {
            try expect(error.code == .unimplemented, "\(method.path) failed with \(error.code), expected UNIMPLEMENTED")
        }
    }

    // MARK: - Helpers

    private func expectStatusEcho(code: Int32, message: String, fullDuplex: Bool = true) async throws {
        var echo = GrpcTesting.EchoStatus()
        echo.code = code
        echo.message = message
        var request = GrpcTesting.SimpleRequest()
        request.responseStatus = echo
        do {
            let _: GrpcTesting.SimpleResponse = try await rpc.unary(Method.unaryCall, request: request)
            throw CaseFailure("UnaryCall succeeded; expected status \(code)")
        } catch let error as RPCError {
            try expect(error.code.rawValue == Int(code) && error.message == message,
                "UnaryCall ended with \(error.code) \(String(reflecting: error.message)), expected \(code) \(String(reflecting: message))")
        }
        guard fullDuplex else { return }
        let call = try await open(Method.fullDuplexCall)
        var streaming = GrpcTesting.StreamingOutputCallRequest()
        streaming.responseStatus = echo
        try await send(streaming, on: call)
        call.closeSend()
        let (status, _) = await call.status()
        try expect(status.code.rawValue == Int(code) && status.message == message,
            "FullDuplexCall ended with \(status), expected \(code) \(String(reflecting: message))")
    }

    private func open(_ method: MethodDescriptor, metadata: Metadata = [:], timeout: Duration? = nil) async throws -> any ClientCallIO {
        try await rpc.transport.openCall(method: method, metadata: metadata, timeout: timeout, compression: .identity)
    }

    private func send<Message: RPCMessage>(_ message: Message, on call: any ClientCallIO) async throws {
        try await call.send(framedMessage: MessageFraming.frame(message))
    }

    private func receive<Message: RPCMessage>(on call: any ClientCallIO) async throws -> Message {
        guard let bytes = try await call.receive() else {
            let (status, _) = await call.status()
            throw CaseFailure("the stream ended before a response (\(status))")
        }
        return try Message(serializedBytes: bytes)
    }

    private func expectEnd(_ call: any ClientCallIO, _ code: Status.Code) async throws {
        let (status, _) = await call.status()
        try expect(status.code == code, "the call ended with \(status), expected \(code)")
        if code == .ok {
            let extra = try await call.receive()
            try expect(extra == nil, "a response came after the last expected one")
        }
    }

    private func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
        if !condition { throw CaseFailure(message()) }
    }

    private func expectPayload(_ payload: GrpcTesting.Payload?, size: Int) throws {
        guard let payload else { throw CaseFailure("no payload; expected \(size) bytes") }
        try expect(payload.body.count == size && payload.body.allSatisfy { $0 == 0 },
            "payload of \(payload.body.count) bytes, expected \(size) zero bytes")
    }

    static func payload(_ size: Int32) -> GrpcTesting.Payload {
        var payload = GrpcTesting.Payload()
        payload.body = [UInt8](repeating: 0, count: Int(size))
        return payload
    }

    static func parameters(_ size: Int32) -> GrpcTesting.ResponseParameters {
        var parameters = GrpcTesting.ResponseParameters()
        parameters.size = size
        return parameters
    }

    static func simpleRequest() -> GrpcTesting.SimpleRequest {
        var request = GrpcTesting.SimpleRequest()
        request.responseSize = 314159
        request.payload = payload(271828)
        return request
    }

    static func streamingRequest(response: Int32?, payload size: Int32) -> GrpcTesting.StreamingOutputCallRequest {
        var request = GrpcTesting.StreamingOutputCallRequest()
        if let response { request.responseParameters = [parameters(response)] }
        request.payload = payload(size)
        return request
    }
}
