// interop-server: gRPC's interop test server (doc/interop-test-descriptions.md)
// on this project's transport: grpc.testing.TestService, BenchmarkService and
// health, with gRPC's usual flags.
//
//   interop-server --port N [--use_tls --tls_cert_file F --tls_key_file F] [--host H]
//
// Prints "listening on HOST:PORT" once bound (port 0: the system picks), then
// serves until SIGTERM, SIGINT or the end of stdin.
import ArgumentParser
import H2Transport
import Platform
import ProtoMessages
import RPCCore
import RPCHealth
import RPCTestService

#if canImport(Glibc)
import Glibc
#endif

@main
struct InteropServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "interop-server",
        abstract: "gRPC's interop test server: grpc.testing.TestService and BenchmarkService.")

    @Option(help: "The port to listen on (0: the system picks one).")
    var port: Int

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Flag(name: .customLong("use_tls"), help: "Serve TLS (h2 by ALPN) with --tls_cert_file and --tls_key_file.")
    var useTLS = false

    @Option(name: .customLong("tls_cert_file"), help: "PEM certificate chain for --use_tls.")
    var certificate: String?

    @Option(name: .customLong("tls_key_file"), help: "PEM private key for --use_tls.")
    var key: String?

    func validate() throws {
        if useTLS && (certificate == nil || key == nil) {
            throw ValidationError("--use_tls needs --tls_cert_file and --tls_key_file")
        }
    }

    func run() async throws {
        Memory.configureForServer()
        var configuration = GRPCServerConfiguration()
        configuration.host = host
        configuration.port = port
        if useTLS, let certificate, let key {
            configuration.tls = TLSServerConfiguration(certificateChainFile: certificate, privateKeyFile: key)
        }
        var router = RPCRouter()
        InteropTestService().registerRoutes(with: &router)
        InteropBenchmarkService().registerRoutes(with: &router)
        let health = HealthService()
        health.register(on: &router)
        let status = await TestServer.run(name: "interop-server", router: router, health: health, configuration: configuration)
        if status != 0 { throw ExitCode(status) }
    }
}
