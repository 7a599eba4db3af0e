// rpctest: serves rpctest.v1.TestService and grpc.health.v1.Health for the
// transport's interop tests and benchmarks.
//
//   rpctest [--host H] [--port P] [--loops N] [--placement loop|global]
//           [--tls-cert FILE --tls-key FILE] [--max-message BYTES]
//
// Prints "listening on HOST:PORT" once bound, then serves until stdin closes or
// SIGTERM/SIGINT, when it drains gracefully.
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
exit(await TestServer.run(name: "rpctest", router: router, health: health, configuration: configuration))

func writeLine(_ fd: Int32, _ text: String) {
    TestServer.writeLine(fd, text)
}
