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
    /// `configuration.maxConnections`, lowered below the descriptor limit at start.
    private(set) var maxConnections: Int
    /// Re-enables the listener after an accept error (loops[0]).
    private var acceptPause: (any TransportTimer)?
    /// Counters over all connections.
    let stats = TransportStats()
    private var acceptErrors = 0
    private var lastAcceptLog: ContinuousClock.Instant?
    /// Request bytes held over all connections (see `maxBufferedInboundBytes`).
    let inboundHeld = Atomic<Int>(0)

    /// Confined to its loop: touched only in work that loop runs.
    final class ConnectionSet: @unchecked Sendable {
        var open: [ObjectIdentifier: ServerConnection] = [:]
    }

    init(router: RPCRouter, configuration: GRPCServerConfiguration) {
        self.router = router
        self.configuration = configuration
        self.loops = (0..<max(1, configuration.eventLoops)).map { EventLoop(name: "grpc-loop-\($0)") }
        self.connections = loops.map { _ in ConnectionSet() }
        self.maxConnections = configuration.maxConnections
    }

    /// Raises the soft descriptor limit to the hard one, and keeps connections
    /// below it with room for everything else a server opens (database, spool
    /// files, event loops): an eighth of the limit, at least 32.
    static func connectionLimit(configured: Int) -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return configured }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        guard limit.rlim_cur != rlim_t.max else { return configured }  // RLIM_INFINITY
        let descriptors = Int(clamping: limit.rlim_cur)
        let reserve = max(32, descriptors / 8)
        return max(1, min(configured, descriptors - reserve))
    }

    deinit {
        if let tlsContext { TLS.free(tlsContext) }
    }

    func start() async throws -> Int {
        maxConnections = Self.connectionLimit(configured: configuration.maxConnections)
        if maxConnections < configuration.maxConnections {
            configuration.log?("at most \(maxConnections) connections: the process may open only so many files (ulimit -n)")
        }
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
        evconnlistener_set_error_cb(listener) { listener, context in
            let code = errno
            Unmanaged<ServerCore>.fromOpaque(context!).takeUnretainedValue().acceptFailed(errno: code)
        }
        let port = SocketAddress.localPort(of: evconnlistener_get_fd(listener))
        boundPort.store(port, ordering: .relaxed)
        return port
    }

    /// Reads the TLS certificate chain and key again; new connections use them,
    /// open ones keep theirs. On failure (a missing or mismatched file) the
    /// current ones stay and the error says why.
    func reloadTLS() async throws {
        guard let tls = configuration.tls else { throw TransportError.tls("the server does not serve TLS") }
        let fresh = try TLS.makeServerContext(tls)
        nonisolated(unsafe) let replacement = fresh
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            loops[0].execute { [self] in
                // Only loops[0] reads it (accepting): swapped there, the old one released.
                if let old = tlsContext { TLS.free(old) }
                tlsContext = replacement
                continuation.resume()
            }
        }
    }

    /// On loops[0]: accept() failed. Out of descriptors (or memory), accepting
    /// again at once would fail again at once and spin; the listener pauses
    /// for a moment instead, and the pending connections wait in the backlog.
    private func acceptFailed(errno code: Int32) {
        guard let listener else { return }
        acceptErrors += 1
        evconnlistener_disable(listener)
        if acceptPause == nil { acceptPause = configuration.clock.timer(on: loops[0]) }
        acceptPause?.schedule(after: .milliseconds(100)) { [weak self] in
            guard let self, let listener = self.listener, !self.shuttingDown.load(ordering: .relaxed) else { return }
            evconnlistener_enable(listener)
        }
        let now = ContinuousClock.now
        if let log = configuration.log, lastAcceptLog.map({ now - $0 >= .seconds(10) }) ?? true {
            lastAcceptLog = now
            log("accepting connections failed (\(String(cString: strerror(code)))) \(acceptErrors) time(s); pausing new connections for 100 ms at a time")
            acceptErrors = 0
        }
    }

    /// On loops[0]: a socket was accepted.
    private func accepted(fd: Int32, peer: String) {
        let count = connectionCount.wrappingAdd(1, ordering: .relaxed).newValue
        if count > maxConnections || shuttingDown.load(ordering: .relaxed) {
            connectionCount.wrappingSubtract(1, ordering: .relaxed)
            stats.connectionsRefused.wrappingAdd(1, ordering: .relaxed)
            Glibc.close(fd)
            return
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let index = nextLoop
        nextLoop = (nextLoop + 1) % loops.count
        let loop = loops[index]
        let set = connections[index]
        // The context as of now, kept alive for this connection's setup even if a
        // reload replaces it meanwhile (its SSL holds its own reference after).
        nonisolated(unsafe) let context = tlsContext
        if let context { TLS.retain(context) }
        loop.execute {
            let bev: OpaquePointer?
            if let context {
                bev = TLS.acceptingBufferevent(base: loop.base, fd: fd, context: context)
                TLS.free(context)
            } else {
                bev = bufferevent_socket_new(loop.base, fd, Int32(BEV_OPT_CLOSE_ON_FREE.rawValue))
            }
            guard let bev else {
                Glibc.close(fd)
                self.connectionCount.wrappingSubtract(1, ordering: .relaxed)
                return
            }
            let connection = ServerConnection(server: self, loop: loop, bev: bev, peer: peer, tls: context != nil)
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
                self.acceptPause?.cancel()
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
