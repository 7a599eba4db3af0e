import CLibevent
import CNGHTTP2
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

    init(loop: EventLoop, bev: OpaquePointer, authority: String, tls: Bool, limits: HTTP2Limits, stats: TransportStats) {
        self.authority = authority
        self.scheme = tls ? "https" : "http"
        self.tls = tls
        super.init(loop: loop, bev: bev, peer: authority, limits: limits, clock: SystemTransportClock(), stats: stats)
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
        makeSession(server: false)
        var settings = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_PUSH.rawValue), value: 0),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: UInt32(limits.streamWindow)),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue), value: UInt32(limits.maxHeaderListSize)),
        ]
        nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), &settings, settings.count)
        nghttp2_session_set_local_window_size(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, Int32(limits.connectionWindow))
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
        ]
        if let timeout {
            fields.append(("grpc-timeout", GRPCTimeout.encode(timeout)))
        }
        fields.append(contentsOf: metadata.wireHeaders())
        var provider = H2Connection.dataProvider(for: call)
        let streamID = withHeaderFields(fields) { nva, count in
            nghttp2_submit_request(session, nil, nva, count, &provider, nil)
        }
        guard streamID > 0 else {
            throw RPCError(code: .unavailable, message: "cannot start a call: \(String(cString: nghttp2_strerror(streamID)))")
        }
        call.streamID = streamID
        streams[streamID] = call
        if let timeout {
            let timer = clock.timer(on: loop)
            timer.schedule(after: timeout) { [weak call] in
                call?.deadlineExceeded()
            }
            call.deadlineTimer = timer
        }
        markDirty()
    }

    // MARK: - nghttp2 callbacks

    override func onHeader(_ frame: UnsafePointer<nghttp2_frame>, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> Int32 {
        guard let call = streams[frame.pointee.hd.stream_id] as? H2ClientCall else { return 0 }
        call.onHeader(name: name, value: value, trailers: frame.pointee.headers.cat == NGHTTP2_HCAT_HEADERS)
        return 0
    }

    override func onFrameRecv(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        let header = frame.pointee.hd
        let endStream = header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
        switch UInt32(header.type) {
        case NGHTTP2_HEADERS.rawValue:
            (streams[header.stream_id] as? H2ClientCall)?.onHeadersFrame(endStream: endStream)
        case NGHTTP2_DATA.rawValue:
            if endStream { streams[header.stream_id]?.receivedEndOfStream() }
        case NGHTTP2_GOAWAY.rawValue:
            goingAway = true
        default:
            break
        }
        return 0
    }

    override func onStreamClose(streamID: Int32, errorCode: UInt32) -> Int32 {
        guard let call = streams.removeValue(forKey: streamID) as? H2ClientCall else { return 0 }
        call.onClose(errorCode: errorCode, connectionError: nil)
        return 0
    }

    override func protocolFailure(_ code: Int32) {
        let error = RPCError(code: .internal, message: "HTTP/2 protocol error from \(authority): \(String(cString: nghttp2_strerror(code)))")
        for stream in streams.values { (stream as? H2ClientCall)?.onClose(errorCode: 0, connectionError: error) }
        super.protocolFailure(code)
    }
}
