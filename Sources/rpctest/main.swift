import Synchronization
// rpctest: serves rpctest.v1.TestService and grpc.health.v1.Health for the
// transport's interop tests and benchmarks.
//
//   rpctest [--host H] [--port P] [--loops N] [--placement loop|global]
//           [--tls-cert FILE --tls-key FILE] [--max-message BYTES]
//
// Prints "listening on HOST:PORT" once bound, then serves until stdin closes or
// SIGTERM/SIGINT, when it drains gracefully.
import Dispatch
import H2Transport
import RPCCore
import RPCHealth
import RPCTestService

#if canImport(Glibc)
import Glibc
#endif

var configuration = GRPCServerConfiguration()
configuration.eventLoops = max(1, min(4, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))
var arguments = CommandLine.arguments.dropFirst()
var tlsCert: String?
var tlsKey: String?
while let argument = arguments.popFirst() {
    func value() -> String {
        guard let v = arguments.popFirst() else {
            writeLine(2, "rpctest: \(argument) needs a value")
            exit(2)
        }
        return v
    }
    switch argument {
    case "--host": configuration.host = value()
    case "--port": configuration.port = Int(value()) ?? 0
    case "--loops": configuration.eventLoops = Int(value()) ?? 1
    case "--placement": configuration.handlerPlacement = value() == "global" ? .globalExecutor : .eventLoop
    case "--tls-cert": tlsCert = value()
    case "--tls-key": tlsKey = value()
    case "--max-message": configuration.limits.maxReceiveMessageSize = Int(value()) ?? (4 << 20)
    case "--idle-timeout-ms": configuration.idleTimeout = .milliseconds(Int(value()) ?? 300_000)
    case "--handshake-timeout-ms": configuration.handshakeTimeout = .milliseconds(Int(value()) ?? 10_000)
    default:
        writeLine(2, "rpctest: unknown argument \(argument)")
        exit(2)
    }
}
if let tlsCert, let tlsKey {
    configuration.tls = TLSServerConfiguration(certificateChainFile: tlsCert, privateKeyFile: tlsKey)
}

var router = RPCRouter()
TestService().registerRoutes(with: &router)
let health = HealthService()
health.register(on: &router)
let server = GRPCServer(router: router, configuration: configuration)

signal(SIGTERM, SIG_IGN)
signal(SIGINT, SIG_IGN)
signal(SIGPIPE, SIG_IGN)

let port: Int
do {
    port = try await server.start()
} catch {
    writeLine(2, "rpctest: \(error)")
    exit(1)
}
writeLine(1, "listening on \(configuration.host):\(port)")

// Wait for SIGTERM, SIGINT or the end of stdin.
await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
    let once = Once(continuation)
    let term = DispatchSource.makeSignalSource(signal: SIGTERM)
    let interrupt = DispatchSource.makeSignalSource(signal: SIGINT)
    term.setEventHandler { once.fire() }
    interrupt.setEventHandler { once.fire() }
    term.resume()
    interrupt.resume()
    Thread.detach {
        var buffer = [UInt8](repeating: 0, count: 256)
        while read(0, &buffer, buffer.count) > 0 {}
        once.fire()
    }
    signalSources = [term, interrupt]
}
health.markAllNotServing()
await server.shutdown(grace: .seconds(5))

nonisolated(unsafe) var signalSources: [any DispatchSourceSignal] = []

/// Resumes its continuation on the first `fire`.
final class Once: Sendable {
    private let continuation: Mutex<CheckedContinuation<Void, Never>?>
    init(_ continuation: CheckedContinuation<Void, Never>) { self.continuation = Mutex(continuation) }
    func fire() {
        continuation.withLock { $0.take() }?.resume()
    }
}

enum Thread {
    static func detach(_ body: @escaping @Sendable () -> Void) {
        DispatchQueue.global().async(execute: body)
    }
}

/// Writes a line straight to a file descriptor (unbuffered, so a parent process
/// reading our stdout sees it at once).
func writeLine(_ fd: Int32, _ text: String) {
    var line = text + "\n"
    line.withUTF8 { _ = write(fd, $0.baseAddress, $0.count) }
}
