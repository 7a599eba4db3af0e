import CLibevent
import RPCCore

#if canImport(Glibc)
import Glibc
#endif

/// The client side of one HTTP/2 connection. Loop thread only.
final class ClientConnection: H2Connection, @unchecked Sendable {
    private let authority: String
    private let scheme: String
    private let tls: Bool
    private var connectWaiters: [CheckedContinuation<Void, any Error>] = []
    private var connectTimer: (any TransportTimer)?
    private(set) var isReady = false
    /// The server sent GOAWAY: no new calls here.
    private(set) var goingAway = false
    private var failure: RPCError?
    private var pinger: KeepalivePinger?
    private var keepaliveTimer: (any TransportTimer)?
    private var keepaliveTimeoutTimer: (any TransportTimer)?
    private var pingsSent: UInt64 = 0

    init(
        loop: EventLoop, bev: OpaquePointer, authority: String, tls: Bool, limits: HTTP2Limits, stats: TransportStats,
        keepalive: ClientKeepalive? = nil
    ) {
        self.pinger = keepalive.map { KeepalivePinger(interval: $0.time, timeout: $0.timeout) }
        self.authority = authority
        self.scheme = tls ? "https" : "http"
        self.tls = tls
        super.init(loop: loop, bev: bev, peer: authority, limits: limits, clock: SystemTransportClock(), stats: stats)
        readsSocketDirectly = !tls
    }

    /// Connects; fails with UNAVAILABLE (and a sentence saying why) on error or timeout.
    func connect(to address: SocketAddress, timeout: Duration) {
        startIO()
        let result = address.withSockaddr { bufferevent_socket_connect(bev, $0, $1) }
        if result != 0 {
            fail(RPCError(code: .unavailable, message: "cannot connect to \(authority): \(String(cString: strerror(errno)))"))
            return
        }
        let timer = clock.timer(on: loop)
        timer.schedule(after: timeout) { [unowned self] in
            guard !isReady else { return }
            fail(RPCError(code: .unavailable, message: "timed out connecting to \(authority)"))
        }
        connectTimer = timer
    }

    /// Waits until the connection is ready for calls.
    func waitUntilReady() async throws {
        if isReady { return }
        if let failure { throw failure }
        try await withCheckedThrowingContinuation { connectWaiters.append($0) }
    }

    override func connected() {
        if tls && !TLS.negotiatedH2(bev) {
            fail(RPCError(code: .unavailable, message: "the server at \(authority) did not agree to HTTP/2 (ALPN h2)"))
            return
        }
        var one: Int32 = 1
        setsockopt(bufferevent_getfd(bev), Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let settings: [HTTP2Setting] = [
            .disablePush, .initialWindowSize(limits.streamWindow), .maxHeaderListSize(limits.maxHeaderListSize),
        ]
        guard startSession(server: false, settings: settings) else { return }
        if let pinger { applyKeepalive([pinger.started()]) }
        isReady = true
        connectTimer?.cancel()
        connectTimer = nil
        markDirty()
        let waiters = connectWaiters
        connectWaiters.removeAll()
        for waiter in waiters { waiter.resume() }
    }

    override func socketFailed(events: Int16) {
        if !isReady {
            let reason: String
            if tls, let tlsFailure = TLS.failure(bev) {
                reason = "TLS handshake with \(authority) failed: \(tlsFailure)"
            } else if events & Int16(BEV_EVENT_ERROR) != 0 {
                let code = errno
                reason = "cannot connect to \(authority): \(code == 0 ? "connection failed" : String(cString: strerror(code)))"
            } else {
                reason = "the server at \(authority) closed the connection"
            }
            fail(RPCError(code: .unavailable, message: reason))
        } else {
            close(error: RPCError(code: .unavailable, message: "the connection to \(authority) was lost"))
        }
    }

    private func fail(_ error: RPCError) {
        failure = error
        let waiters = connectWaiters
        connectWaiters.removeAll()
        for waiter in waiters { waiter.resume(throwing: error) }
        close(error: error)
    }

    override func connectionClosed() {
        connectTimer?.cancel()
        connectTimer = nil
        keepaliveTimer?.cancel()
        keepaliveTimeoutTimer?.cancel()
        if failure == nil { failure = RPCError(code: .unavailable, message: "the connection to \(authority) closed") }
        let waiters = connectWaiters
        connectWaiters.removeAll()
        for waiter in waiters { waiter.resume(throwing: failure!) }
    }

    var canStartCalls: Bool { isReady && !goingAway && !isClosed }

    /// Sends the request headers of a new call.
    func start(_ call: H2ClientCall, method: MethodDescriptor, metadata: Metadata, timeout: Duration?) throws {
        guard let session, canStartCalls else {
            throw failure ?? RPCError(code: .unavailable, message: "the connection to \(authority) is closing")
        }
        var fields: [(name: String, value: String)] = [
            (":method", "POST"), (":scheme", scheme), (":path", method.path), (":authority", authority),
            ("content-type", "application/grpc"), ("te", "trailers"), ("user-agent", "importd-swift/1.0"),
            ("grpc-accept-encoding", MessageCompression.accepted),
        ]
        if call.compression != .identity {
            fields.append(("grpc-encoding", call.compression.rawValue))
        }
        if let timeout {
            fields.append(("grpc-timeout", GRPCTimeout.encode(timeout)))
        }
        fields.append(contentsOf: metadata.wireHeaders())
        let streamID: Int32
        do {
            streamID = try session.submitRequest(.fields(fields))
        } catch {
            if error == .streamIDNotAvailable { goingAway = true }
            throw RPCError(code: .unavailable, message: "cannot start a call: \(error)")
        }
        _ = call.state.openSending()
        call.streamID = streamID
        streams[streamID] = call
        stats.streamsOpen.wrappingAdd(1, ordering: .relaxed)
        if let timeout {
            let timer = clock.timer(on: loop)
            timer.schedule(after: timeout) { [weak call] in
                call?.deadlineExceeded()
            }
            call.deadlineTimer = timer
        }
        markDirty()
    }

    // MARK: - Session events

    override func sessionHeader(_ frame: HTTP2Frame, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> HTTP2CallbackResult {
        guard let call = streams[frame.streamID] as? H2ClientCall else { return .proceed }
        call.onHeader(name: name, value: value, trailers: frame.headersKind == .trailers)
        return .proceed
    }

    override func sessionFrameReceived(_ frame: HTTP2Frame) -> HTTP2CallbackResult {
        if pinger != nil { applyKeepalive(pinger!.frameReceived(pingAck: frame.type == .ping && frame.ack)) }
        switch frame.type {
        case .headers:
            (streams[frame.streamID] as? H2ClientCall)?.onHeadersFrame(endStream: frame.endStream)
        case .data:
            if frame.endStream { streams[frame.streamID]?.receivedEndOfStream() }
        case .goAway:
            goingAway = true
        default:
            break
        }
        return .proceed
    }

    override func sessionStreamClosed(streamID: Int32, errorCode: HTTP2ErrorCode) {
        guard let call = streams.removeValue(forKey: streamID) as? H2ClientCall else { return }
        stats.streamsOpen.wrappingSubtract(1, ordering: .relaxed)
        call.onClose(errorCode: errorCode, connectionError: nil)
    }

    // MARK: - Keepalive

    private func applyKeepalive(_ actions: [KeepalivePinger.Action]) {
        for action in actions {
            switch action {
            case .armInterval(let interval):
                if keepaliveTimer == nil { keepaliveTimer = clock.timer(on: loop) }
                keepaliveTimer?.schedule(after: interval) { [unowned self] in
                    guard pinger != nil else { return }
                    // Pings only while calls are open (what servers permit by default).
                    if streams.isEmpty {
                        applyKeepalive([.armInterval(pinger!.interval)])
                    } else {
                        applyKeepalive(pinger!.intervalFired())
                    }
                }
            case .ping(let timeout):
                pingsSent &+= 1
                do {
                    try session?.submitPing(payload: pingsSent)
                    markDirty()
                } catch {
                    close(error: RPCError(code: .unavailable, message: "cannot ping \(authority): \(error)"))
                    return
                }
                if keepaliveTimeoutTimer == nil { keepaliveTimeoutTimer = clock.timer(on: loop) }
                keepaliveTimeoutTimer?.schedule(after: timeout) { [unowned self] in
                    guard pinger != nil else { return }
                    applyKeepalive(pinger!.timeoutFired())
                }
            case .cancelTimeout:
                keepaliveTimeoutTimer?.cancel()
            case .close:
                let timeout = pinger?.timeout ?? .zero
                close(error: RPCError(code: .unavailable, message: "\(authority) did not answer a keepalive ping within \(timeout); the connection is gone"))
            }
        }
    }

    override func protocolFailure(_ error: NGHTTP2Error) {
        let failure = RPCError(code: .internal, message: "HTTP/2 protocol error from \(authority): \(error)")
        for stream in streams.values { (stream as? H2ClientCall)?.onClose(errorCode: .noError, connectionError: failure) }
        super.protocolFailure(error)
    }
}
