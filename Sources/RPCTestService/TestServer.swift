import Dispatch
import H2Transport
import RPCCore
import RPCHealth
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// How the test servers (rpctest, interop-server) run: bind, print
/// "listening on HOST:PORT" (what test harnesses wait for), serve until
/// SIGTERM, SIGINT or the end of stdin, then drain gracefully.
public enum TestServer {
    /// Serves `router` (with health) and returns the exit status.
    public static func run(name: String, router: RPCRouter, health: HealthService, configuration: GRPCServerConfiguration) async -> Int32 {
        let server = GRPCServer(router: router, configuration: configuration)
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        signal(SIGPIPE, SIG_IGN)
        let port: Int
        do {
            port = try await server.start()
        } catch {
            writeLine(2, "\(name): \(error)")
            return 1
        }
        writeLine(1, "listening on \(configuration.host):\(port)")
        await waitForTermination()
        health.markAllNotServing()
        await server.shutdown(grace: .seconds(5))
        return 0
    }

    /// Returns on SIGTERM, SIGINT or the end of stdin.
    private static func waitForTermination() async {
        nonisolated(unsafe) var sources: [any DispatchSourceSignal] = []
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let once = Once(continuation)
            let term = DispatchSource.makeSignalSource(signal: SIGTERM)
            let interrupt = DispatchSource.makeSignalSource(signal: SIGINT)
            term.setEventHandler { once.fire() }
            interrupt.setEventHandler { once.fire() }
            term.resume()
            interrupt.resume()
            DispatchQueue.global().async {
                var buffer = [UInt8](repeating: 0, count: 256)
                while read(0, &buffer, buffer.count) > 0 {}
                once.fire()
            }
            sources = [term, interrupt]
        }
        // Kept until here: a signal source that is freed stops delivering.
        for source in sources { source.cancel() }
    }

    /// Writes a line straight to a file descriptor (unbuffered, so a parent
    /// process reading our stdout sees it at once).
    public static func writeLine(_ fd: Int32, _ text: String) {
        var line = text + "\n"
        line.withUTF8 { _ = write(fd, $0.baseAddress, $0.count) }
    }
}

/// Resumes its continuation on the first `fire`.
private final class Once: Sendable {
    private let continuation: Mutex<CheckedContinuation<Void, Never>?>
    init(_ continuation: CheckedContinuation<Void, Never>) { self.continuation = Mutex(continuation) }
    func fire() {
        continuation.withLock { $0.take() }?.resume()
    }
}
