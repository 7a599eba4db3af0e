import ArgumentParser
import Dispatch
import H2Transport
import Logging
import RPCCore
import RPCHealth

#if canImport(Glibc)
import Glibc
#endif

@main
struct Importd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "importd",
        abstract: "The contacts-import service (gRPC over HTTP/2).",
        subcommands: [Serve.self],
        defaultSubcommand: Serve.self)
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the import service (the default command).")

    @Option(help: "Address to listen on, HOST:PORT.")
    var listen: String = "127.0.0.1:50051"

    @Option(help: "Directory for the SQLite database and spooled uploads.")
    var dataDir: String = "./data"

    @Option(help: "How often the scheduler runs queued imports (e.g. 15m, 30s).")
    var importInterval: DurationArgument = DurationArgument(argument: "15m")!

    func run() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        let logger = Logger(label: "importd")
        guard let (host, port) = splitHostPort(listen) else {
            throw ValidationError("--listen must be HOST:PORT, got \(listen)")
        }
        var router = RPCRouter()
        let health = HealthService()
        health.registerRoutes(with: &router)
        var configuration = GRPCServerConfiguration()
        configuration.host = host
        configuration.port = port
        let server = GRPCServer(router: router, configuration: configuration)
        let bound = try await server.start()
        logger.info("listening on \(host):\(bound)")
        await waitForTermination()
        logger.info("draining")
        health.markAllNotServing()
        await server.shutdown(grace: .seconds(10))
        logger.info("stopped")
    }
}

/// Splits `HOST:PORT` (IPv6 as `[::1]:PORT`).
func splitHostPort(_ text: String) -> (String, Int)? {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port)
    else { return nil }
    var host = String(text[..<colon])
    if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    return host.isEmpty ? nil : (host, port)
}

/// Returns on SIGTERM or SIGINT.
func waitForTermination() async {
    signal(SIGTERM, SIG_IGN)
    signal(SIGINT, SIG_IGN)
    signal(SIGPIPE, SIG_IGN)
    let sources = [SIGTERM, SIGINT].map { DispatchSource.makeSignalSource(signal: $0) }
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        let once = OnceFlag()
        for source in sources {
            source.setEventHandler {
                if once.set() { continuation.resume() }
            }
            source.resume()
        }
    }
    for source in sources { source.cancel() }
}

final class OnceFlag: @unchecked Sendable {
    private let queue = DispatchQueue(label: "once")
    private var done = false

    /// True the first time only.
    func set() -> Bool {
        queue.sync {
            defer { done = true }
            return !done
        }
    }
}
