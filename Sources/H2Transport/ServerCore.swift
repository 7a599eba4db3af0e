import CLibevent
import RPCCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

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
