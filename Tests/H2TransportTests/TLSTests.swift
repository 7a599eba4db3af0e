import H2Transport
import ProtoMessages
import RPCCore
import RPCTestService
import Testing

@Suite struct TLSTests {
    private func withTLSServer(_ body: (Int, TestCertificates) async throws -> Void) async throws {
        let certificates = try TestCertificates.make()
        defer { certificates.remove() }
        var router = RPCRouter()
        TestService().registerRoutes(with: &router)
        var configuration = GRPCServerConfiguration()
        configuration.tls = TLSServerConfiguration(certificateChainFile: certificates.certFile, privateKeyFile: certificates.keyFile)
        let server = GRPCServer(router: router, configuration: configuration)
        let port = try await server.start()
        do {
            try await body(port, certificates)
        } catch {
            await server.shutdown(grace: .zero)
            throw error
        }
        await server.shutdown(grace: .zero)
    }

    @Test func callsWorkOverTLSWithALPNh2() async throws {
        try await withTLSServer { port, certificates in
            let channel = GRPCChannel(host: "127.0.0.1", port: port, tls: TLSClientConfiguration(trustRootsFile: certificates.caFile))
            let client = RPCTestV1.TestService.Client(RPCClient(transport: channel))
            let reply = try await client.echo(echoRequest("secret"))
            #expect(reply.message == "secret")
            var request = RPCTestV1.GenerateRequest()
            request.count = 1000
            request.size = 1000
            let count = try await client.generate(request) { try await $0.collect().count }
            #expect(count == 1000)
            await channel.close()
        }
    }

    @Test func untrustedCertificateIsOneClearSentence() async throws {
        try await withTLSServer { port, _ in
            // The system roots do not know our throwaway CA.
            let channel = GRPCChannel(host: "127.0.0.1", port: port, tls: TLSClientConfiguration())
            let client = RPCTestV1.TestService.Client(RPCClient(transport: channel))
            let error = await #expect(throws: RPCError.self) { try await client.echo(echoRequest("x")) }
            #expect(error?.code == .unavailable)
            #expect(error?.message.contains("TLS handshake") == true)
            #expect(error?.message.contains("certificate") == true)
            await channel.close()
        }
    }

    @Test func plaintextClientAgainstTLSServerFails() async throws {
        try await withTLSServer { port, _ in
            let channel = GRPCChannel(host: "127.0.0.1", port: port, connectTimeout: .seconds(2))
            let client = RPCTestV1.TestService.Client(RPCClient(transport: channel))
            let error = await #expect(throws: RPCError.self) {
                try await client.echo(echoRequest("x"), options: CallOptions(timeout: .seconds(3)))
            }
            #expect(error?.code == .unavailable || error?.code == .internal || error?.code == .deadlineExceeded)
            await channel.close()
        }
    }
}
