import Foundation
import H2Transport
import Platform
import ProtoMessages
import RPCCore
import Testing

/// The Swift client against a grpcio (C-core) server with the same proto.
/// Needs python3 with grpcio and grpcio-tools (make test installs them).
@Suite(.serialized) struct SwiftClientAgainstGrpcioTests {
    /// A grpcio TestService server in a child process.
    final class GrpcioServer: Sendable {
        let process: Process
        let stdin: Pipe
        let port: Int

        init() throws {
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            let process = Process()
            // make test points INTEROP_PYTHON at its virtualenv (grpcio installed there).
            let python = ProcessInfo.processInfo.environment["INTEROP_PYTHON"] ?? "python3"
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [python, root.appendingPathComponent("Tests/Interop/grpcio_test_server.py").path]
            let stdin = Pipe()
            let stdout = Pipe()
            process.standardInput = stdin
            process.standardOutput = stdout
            try process.run()
            var line = Data()
            let handle = stdout.fileHandleForReading
            while !line.contains(UInt8(ascii: "\n")) {
                let byte = handle.readData(ofLength: 1)
                guard !byte.isEmpty else { break }
                line.append(byte)
            }
            let text = String(decoding: line, as: UTF8.self)
            guard text.hasPrefix("listening on "), let port = Int(text.split(separator: ":").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") else {
                process.terminate()
                throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "grpcio server did not start: \(text)"])
            }
            self.process = process
            self.stdin = stdin
            self.port = port
        }

        func stop() {
            try? stdin.fileHandleForWriting.close()
            process.waitUntilExit()
        }
    }

    private func withGrpcio(_ body: (RPCTestV1.TestService.Client, RPCClient) async throws -> Void) async throws {
        let server = try GrpcioServer()
        let channel = GRPCChannel(host: "127.0.0.1", port: server.port)
        let rpc = RPCClient(transport: channel)
        do {
            try await body(RPCTestV1.TestService.Client(rpc), rpc)
        } catch {
            await channel.close()
            server.stop()
            throw error
        }
        await channel.close()
        server.stop()
    }

    @Test func allFourKindsDeadlinesAndErrors() async throws {
        try await withGrpcio { client, rpc in
            // Unary with metadata both ways.
            var request = echoRequest("héllo", payload: [0, 255])
            request.echoMetadata = ["x-text", "x-blob-bin"]
            var options = CallOptions()
            options.metadata.add("x-text", "value")
            options.metadata.add("x-blob-bin", binary: [9, 8, 7])
            let response: ClientResponse<RPCTestV1.EchoResponse> = try await rpc.unaryResponse(
                RPCTestV1.TestService.Method.echo, request: request, options: options)
            #expect(response.message.message == "héllo" && response.message.payload == [0, 255])
            #expect(response.initialMetadata.first("x-text") == "value")
            #expect(response.trailingMetadata.firstBinary("x-blob-bin") == [9, 8, 7])

            // Error status with a non-ASCII message.
            var failing = echoRequest("x")
            failing.failCode = Int32(Status.Code.notFound.rawValue)
            failing.failMessage = "no such thing: ünïcode 100%"
            let notFound = await #expect(throws: RPCError.self) { try await client.echo(failing) }
            #expect(notFound?.code == .notFound)
            #expect(notFound?.message == "no such thing: ünïcode 100%")

            // Client streaming: 20 MB in 8 KiB chunks.
            let piece = (0..<8192).map { UInt8(truncatingIfNeeded: $0) }
            let summary = try await client.collect { writer in
                for i in 0..<2560 { try await writer.write(chunk(piece, index: UInt64(i))) }
            }
            let hasher = Platform.SHA256()
            for _ in 0..<2560 { hasher.update(piece) }
            #expect(summary.messages == 2560 && summary.bytes == 2560 * 8192)
            #expect(summary.sha256 == Hex.encode(hasher.finalize()))

            // Server streaming.
            var generate = RPCTestV1.GenerateRequest()
            generate.count = 10_000
            generate.size = 10
            let indexes = try await client.generate(generate) { try await $0.collect().map(\.index) }
            #expect(indexes == Array(0..<10_000))

            // Bidirectional.
            let replies = try await client.chat(requests: { writer in
                for i in 0..<200 { try await writer.write(echoRequest("\(i)")) }
            }, onResponse: { try await $0.collect().map(\.message) })
            #expect(replies == (0..<200).map(String.init))

            // Deadline.
            var sleepy = echoRequest("z")
            sleepy.sleepMs = 3000
            let deadline = await #expect(throws: RPCError.self) {
                try await client.echo(sleepy, options: CallOptions(timeout: .milliseconds(200)))
            }
            #expect(deadline?.code == .deadlineExceeded)

            // Unknown method.
            let unimplemented = await #expect(throws: RPCError.self) {
                let _: RPCTestV1.EchoResponse = try await rpc.unary(
                    MethodDescriptor(service: "rpctest.v1.TestService", method: "Nope", kind: .unary), request: echoRequest("x"))
            }
            #expect(unimplemented?.code == .unimplemented)
        }
    }

    @Test func cancellingMidStreamAndManyConcurrentCalls() async throws {
        try await withGrpcio { client, _ in
            var endless = RPCTestV1.GenerateRequest()
            endless.count = 1_000_000
            endless.size = 100
            endless.intervalMs = 1
            let taken = try await client.generate(endless) { responses in
                var n = 0
                for try await _ in responses {
                    n += 1
                    if n == 5 { break }
                }
                return n
            }
            #expect(taken == 5)
            try await withThrowingTaskGroup(of: String.self) { group in
                for i in 0..<200 {
                    group.addTask { try await client.echo(echoRequest("c\(i)")).message }
                }
                var seen = Set<String>()
                for try await message in group { seen.insert(message) }
                #expect(seen.count == 200)
            }
        }
    }
}

func echoRequest(_ message: String, payload: [UInt8] = []) -> RPCTestV1.EchoRequest {
    var request = RPCTestV1.EchoRequest()
    request.message = message
    request.payload = payload
    return request
}

func chunk(_ data: [UInt8], index: UInt64) -> RPCTestV1.Chunk {
    var chunk = RPCTestV1.Chunk()
    chunk.data = data
    chunk.index = index
    return chunk
}
