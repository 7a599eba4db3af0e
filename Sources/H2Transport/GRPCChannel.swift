import CLibevent
import RPCCore
import Synchronization

/// A client transport to one server: one HTTP/2 connection, opened on first use
/// and again after it is lost or the server sends GOAWAY. Calls are streams on it.
public final class GRPCChannel: ClientTransport, @unchecked Sendable {
    public let host: String
    public let port: Int
    private let tls: TLSClientConfiguration?
    private let limits: HTTP2Limits
    private let connectTimeout: Duration
    private let loop: EventLoop
    /// Whether `close` stops the loop (false when the caller lent it).
    private let ownsLoop: Bool
    private let address = Mutex<SocketAddress?>(nil)
    private let keepalive: ClientKeepalive?
    private let closed = Atomic<Bool>(false)
    // Loop thread only.
    private var connection: ClientConnection?
    private var tlsContext: OpaquePointer?
    private let stats = TransportStats()

    /// `keepalive`: PING the server while calls are open and quiet (gRPC's A8),
    /// so a dead connection fails its calls with UNAVAILABLE instead of hanging.
    /// `eventLoop`: a loop to share with other channels (many connections on
    /// few threads); by default the channel has its own.
    public init(
        host: String, port: Int, tls: TLSClientConfiguration? = nil, limits: HTTP2Limits = HTTP2Limits(),
        connectTimeout: Duration = .seconds(10), keepalive: ClientKeepalive? = nil, eventLoop: EventLoop? = nil
    ) {
        self.keepalive = keepalive
        self.host = host
        self.port = port
        self.tls = tls
        self.limits = limits
        self.connectTimeout = connectTimeout
        self.loop = eventLoop ?? EventLoop(name: "grpc-client")
        self.ownsLoop = eventLoop == nil
    }

    deinit {
        if let tlsContext { TLS.free(tlsContext) }
    }

    /// Request writers waiting for room right now (flow control or a full socket).
    public var suspendedWriters: Int { stats.suspendedWriters.load(ordering: .relaxed) }

    private var authority: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    public func openCall(method: MethodDescriptor, metadata: Metadata, timeout: Duration?, compression: MessageEncoding) async throws -> any ClientCallIO {
        guard !closed.load(ordering: .relaxed) else {
            throw RPCError(code: .unavailable, message: "the channel is closed")
        }
        let resolved = try resolveAddress()
        return try await withTaskExecutorPreference(loop) {
            let connection = try await self.readyConnection(resolved)
            let call = H2ClientCall(loop: self.loop, connection: connection)
            call.compression = compression
            try connection.start(call, method: method, metadata: metadata, timeout: timeout)
            return call
        }
    }

    /// A server-streaming call whose response messages go to `onMessage` on the
    /// channel's event loop as they arrive, with no task woken per message: for
    /// a consumer of thousands of streams (a dashboard's watches; the fan-out
    /// benchmark). `request` is the serialized request; `onMessage` must not
    /// block. Returns the call's status once it ends.
    public func observe(method: MethodDescriptor, metadata: Metadata, request: [UInt8],
                        onMessage: @escaping @Sendable ([UInt8]) -> Void) async throws -> Status {
        let call = try await openCall(method: method, metadata: metadata, timeout: nil, compression: .identity)
        guard let stream = call as? H2ClientCall else { throw RPCError(code: .internal, message: "not an HTTP/2 call") }
        // Before the request goes: no response can come earlier.
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            loop.execute {
                stream.onMessage = onMessage
                continuation.resume()
            }
        }
        try await withTaskCancellationHandler {
            try await call.send(framedMessage: MessageFraming.frame(payload: request))
            call.closeSend()
        } onCancel: {
            call.cancel()
        }
        return await withTaskCancellationHandler {
            await call.status().0
        } onCancel: {
            call.cancel()
        }
    }

    private func resolveAddress() throws -> SocketAddress {
        if let cached = address.withLock({ $0 }) { return cached }
        do {
            let resolved = try SocketAddress.resolve(host: host, port: port, passive: false)
            address.withLock { $0 = resolved }
            return resolved
        } catch let error as TransportError {
            throw RPCError(code: .unavailable, message: error.description)
        }
    }

    /// On the loop: the current connection, or a new one once it is connected.
    private func readyConnection(_ address: SocketAddress) async throws -> ClientConnection {
        if let connection, !connection.isClosed, !connection.goingAway {
            try await connection.waitUntilReady()
            return connection
        }
        let bev: OpaquePointer?
        if let tls {
            if tlsContext == nil {
                do {
                    tlsContext = try TLS.makeClientContext(tls)
                } catch {
                    throw RPCError(code: .unavailable, message: String(describing: error))
                }
            }
            bev = TLS.connectingBufferevent(
                base: loop.base, context: tlsContext!, serverName: tls.serverName ?? host, verify: !tls.insecureSkipVerify)
        } else {
            bev = bufferevent_socket_new(loop.base, -1, Int32(BEV_OPT_CLOSE_ON_FREE.rawValue))
        }
        guard let bev else { throw RPCError(code: .unavailable, message: "cannot create a socket") }
        let connection = ClientConnection(
            loop: loop, bev: bev, authority: authority, tls: tls != nil, limits: limits, stats: stats, keepalive: keepalive)
        self.connection = connection
        connection.connect(to: address, timeout: connectTimeout)
        try await connection.waitUntilReady()
        return connection
    }

    /// Closes the connection (open calls fail with UNAVAILABLE) and the loop.
    public func close() async {
        guard !closed.exchange(true, ordering: .relaxed) else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            loop.execute {
                self.connection?.close(error: RPCError(code: .unavailable, message: "the channel was closed"))
                self.connection = nil
                continuation.resume()
            }
        }
        if ownsLoop { loop.shutdown() }
    }
}

/// A client's keepalive (gRPC's A8): after `time` without a frame from the
/// server while calls are open, PING it; no answer within `timeout` and the
/// connection's calls fail with UNAVAILABLE. Keep `time` at or above what the
/// server permits (importd: one minute), or it answers GOAWAY too_many_pings.
public struct ClientKeepalive: Sendable {
    public var time: Duration
    public var timeout: Duration

    public init(time: Duration, timeout: Duration = .seconds(20)) {
        self.time = time
        self.timeout = timeout
    }
}
