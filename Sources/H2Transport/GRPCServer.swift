import CLibevent
import RPCCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Where handlers run.
public enum HandlerPlacement: Sendable {
    /// On the connection's event loop (a `TaskExecutor`): no thread hop between the
    /// handler and its stream. Handlers must not block; blocking work belongs on
    /// its own executor (the import service's SQLite work has its own threads).
    case eventLoop
    /// On Swift's global concurrent executor; every stream operation hops.
    case globalExecutor
}

/// How a `GRPCServer` listens and what it allows.
public struct GRPCServerConfiguration: Sendable {
    /// Host to bind: an IP address or a name (`127.0.0.1`, `::1`, `0.0.0.0`, `localhost`).
    public var host: String = "127.0.0.1"
    /// Port to bind; 0 lets the OS pick one (see `GRPCServer.start()`).
    public var port: Int = 0
    /// Event loops (threads); accepted connections are spread over them.
    public var eventLoops: Int = 1
    public var handlerPlacement: HandlerPlacement = .eventLoop
    public var limits = HTTP2Limits()
    /// SETTINGS_MAX_CONCURRENT_STREAMS per connection.
    public var maxConcurrentStreams: Int = 100
    /// Connections beyond this are closed at once.
    public var maxConnections: Int = 10_000
    /// A connection with no streams for this long gets GOAWAY and is closed.
    public var idleTimeout: Duration? = .seconds(300)
    /// A connection that has not sent its preface and SETTINGS by then is closed.
    public var handshakeTimeout: Duration = .seconds(10)
    /// RST_STREAM frames a client may send at once, and per second after that,
    /// before GOAWAY ENHANCE_YOUR_CALM (rapid reset).
    public var resetStreamBurst: Int = 1000
    public var resetStreamRate: Int = 33
    /// CONTINUATION frames allowed after one HEADERS frame (CONTINUATION flood).
    /// Below nghttp2's own limit (8, where a patched build has one) so that ours,
    /// which answers GOAWAY ENHANCE_YOUR_CALM, acts first.
    public var maxContinuationFrames: Int = 5
    /// Serve TLS with ALPN h2 instead of h2c.
    public var tls: TLSServerConfiguration?

    public init() {}
}

/// A gRPC server on nghttp2 and libevent: listens, accepts, and runs every call
/// through an `RPCRouter`.
public final class GRPCServer: Sendable {
    private let core: ServerCore

    public init(router: RPCRouter, configuration: GRPCServerConfiguration = GRPCServerConfiguration()) {
        core = ServerCore(router: router, configuration: configuration)
    }

    /// Binds and starts accepting; returns the bound port.
    @discardableResult
    public func start() async throws -> Int {
        try await core.start()
    }

    /// The bound port (0 before `start`).
    public var port: Int { core.boundPort.load(ordering: .relaxed) }

    /// Connections open now.
    public var connectionCount: Int { core.connectionCount.load(ordering: .relaxed) }

    /// Stops accepting, sends GOAWAY (a notice, then the real one), lets in-flight
    /// calls finish for up to `grace`, then cancels what is left and stops.
    public func shutdown(grace: Duration = .seconds(10)) async {
        await core.shutdown(grace: grace)
    }
}

/// The server's shared state. `loops[0]` owns the listener; each connection is
/// confined to its own loop.
final class ServerCore: @unchecked Sendable {
    let router: RPCRouter
    let configuration: GRPCServerConfiguration
    let loops: [EventLoop]
    let connectionCount = Atomic<Int>(0)
    let boundPort = Atomic<Int>(0)
    private var listener: OpaquePointer?
    private var nextLoop = 0
    private var tlsContext: OpaquePointer?
    /// Per loop, its open connections (touched on that loop only).
    private let connections: [ConnectionSet]
    /// Resumed when the last connection closes during shutdown; `over` once nobody waits.
    private let shutdownWaiter = Mutex<(waiter: CheckedContinuation<Void, Never>?, over: Bool)>((nil, false))
    private let shuttingDown = Atomic<Bool>(false)

    /// Confined to its loop: touched only in work that loop runs.
    final class ConnectionSet: @unchecked Sendable {
        var open: [ObjectIdentifier: ServerConnection] = [:]
    }

    init(router: RPCRouter, configuration: GRPCServerConfiguration) {
        self.router = router
        self.configuration = configuration
        self.loops = (0..<max(1, configuration.eventLoops)).map { EventLoop(name: "grpc-loop-\($0)") }
        self.connections = loops.map { _ in ConnectionSet() }
    }

    deinit {
        if let tlsContext { TLS.free(tlsContext) }
    }

    func start() async throws -> Int {
        if let tls = configuration.tls {
            tlsContext = try TLS.makeServerContext(tls)
        }
        let address = try SocketAddress.resolve(host: configuration.host, port: configuration.port, passive: true)
        let loop = loops[0]
        return try await withCheckedThrowingContinuation { continuation in
            loop.execute {
                do {
                    continuation.resume(returning: try self.listen(on: address))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    private func listen(on address: SocketAddress) throws -> Int {
        let context = Unmanaged.passUnretained(self).toOpaque()
        let listener = address.withSockaddr { sockaddr, length in
            evconnlistener_new_bind(loops[0].base, { _, fd, address, length, context in
                let core = Unmanaged<ServerCore>.fromOpaque(context!).takeUnretainedValue()
                core.accepted(fd: fd, peer: SocketAddress.describe(address, length))
            }, context, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 1024, sockaddr, length)
        }
        guard let listener else {
            throw TransportError.bindFailed("cannot listen on \(address): \(String(cString: strerror(errno)))")
        }
        self.listener = listener
        let port = SocketAddress.localPort(of: evconnlistener_get_fd(listener))
        boundPort.store(port, ordering: .relaxed)
        return port
    }

    /// On loops[0]: a socket was accepted.
    private func accepted(fd: Int32, peer: String) {
        let count = connectionCount.wrappingAdd(1, ordering: .relaxed).newValue
        if count > configuration.maxConnections || shuttingDown.load(ordering: .relaxed) {
            connectionCount.wrappingSubtract(1, ordering: .relaxed)
            Glibc.close(fd)
            return
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let index = nextLoop
        nextLoop = (nextLoop + 1) % loops.count
        let loop = loops[index]
        let set = connections[index]
        loop.execute {
            let bev: OpaquePointer?
            if let tlsContext = self.tlsContext {
                bev = TLS.acceptingBufferevent(base: loop.base, fd: fd, context: tlsContext)
            } else {
                bev = bufferevent_socket_new(loop.base, fd, Int32(BEV_OPT_CLOSE_ON_FREE.rawValue))
            }
            guard let bev else {
                Glibc.close(fd)
                self.connectionCount.wrappingSubtract(1, ordering: .relaxed)
                return
            }
            let connection = ServerConnection(server: self, loop: loop, bev: bev, peer: peer, tls: self.tlsContext != nil)
            set.open[ObjectIdentifier(connection)] = connection
            connection.start()
        }
    }

    /// On the connection's loop.
    func connectionClosed(_ connection: ServerConnection) {
        guard let index = loops.firstIndex(where: { $0 === connection.loop }) else { return }
        connections[index].open.removeValue(forKey: ObjectIdentifier(connection))
        let remaining = connectionCount.wrappingSubtract(1, ordering: .relaxed).newValue
        if remaining == 0 && shuttingDown.load(ordering: .relaxed) {
            shutdownWaiter.withLock { $0.waiter.take() }?.resume()
        }
    }

    func shutdown(grace: Duration) async {
        guard !shuttingDown.exchange(true, ordering: .relaxed) else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            loops[0].execute {
                if let listener = self.listener { evconnlistener_free(listener) }
                self.listener = nil
                continuation.resume()
            }
        }
        // Ask every connection to drain.
        for (loop, set) in zip(loops, connections) {
            loop.execute {
                for connection in set.open.values {
                    connection.beginShutdown(noticeDelay: .milliseconds(100))
                }
            }
        }
        // Wait for the connections to close, at most `grace`.
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    let resumeNow = self.shutdownWaiter.withLock { state -> Bool in
                        if state.over || self.connectionCount.load(ordering: .relaxed) == 0 { return true }
                        state.waiter = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
            group.addTask {
                try? await Task.sleep(for: grace)
            }
            await group.next()
            group.cancelAll()
            // The waiter may still be set (or not yet) when the grace period won.
            self.shutdownWaiter.withLock { state in
                state.over = true
                return state.waiter.take()
            }?.resume()
        }
        // Close what is left; their handlers are cancelled.
        for (loop, set) in zip(loops, connections) {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                loop.execute {
                    for connection in set.open.values {
                        connection.close(error: RPCError(code: .unavailable, message: "the server is shutting down"))
                    }
                    continuation.resume()
                }
            }
        }
        for loop in loops {
            loop.shutdown()
        }
    }
}

/// Errors setting up a transport.
public enum TransportError: Error, CustomStringConvertible, Sendable {
    case bindFailed(String)
    case badAddress(String)
    case tls(String)

    public var description: String {
        switch self {
        case .bindFailed(let message), .badAddress(let message), .tls(let message): return message
        }
    }
}
