import CLibevent
import CNGHTTP2
import RPCCore

#if canImport(Glibc)
import Glibc
#endif

/// The server side of one HTTP/2 connection: turns request streams into calls
/// on the router, enforces the connection's limits, and answers abuse with
/// GOAWAY ENHANCE_YOUR_CALM (nghttp2 1.52 has no rapid-reset or CONTINUATION
/// flood protection of its own).
final class ServerConnection: H2Connection, @unchecked Sendable {
    private let server: ServerCore
    private var handshakeTimer: (any TransportTimer)?
    private var idleTimer: (any TransportTimer)?
    private var sawClientSettings = false
    private var resetBucket: TokenBucket
    private var continuationFrames = 0
    private var headerBlockBytes = 0
    private var invalidFrames = 0
    private var draining = false
    private let tlsPending: Bool
    /// Calls whose headers arrived during this read; started when nghttp2 returns.
    private var ready: [(H2ServerCall, ContinuousClock.Instant?)] = []

    init(server: ServerCore, loop: EventLoop, bev: OpaquePointer, peer: String, tls: Bool) {
        self.server = server
        self.resetBucket = TokenBucket(burst: server.configuration.resetStreamBurst, perSecond: server.configuration.resetStreamRate)
        self.tlsPending = tls
        super.init(loop: loop, bev: bev, peer: peer, limits: server.configuration.limits, clock: server.configuration.clock, stats: server.stats)
    }

    func start() {
        let timer = clock.timer(on: loop)
        timer.schedule(after: server.configuration.handshakeTimeout) { [unowned self] in
            if !sawClientSettings { close() }
        }
        handshakeTimer = timer
        startIO()
        if !tlsPending {
            startSession()
        }
    }

    override func connected() {
        // TLS handshake done: h2 must have been negotiated.
        guard tlsPending, session == nil else { return }
        guard TLS.negotiatedH2(bev) else {
            close()
            return
        }
        startSession()
    }

    private func startSession() {
        makeSession(server: true)
        var settings = [
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), value: UInt32(server.configuration.maxConcurrentStreams)),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: UInt32(limits.streamWindow)),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue), value: UInt32(limits.maxHeaderListSize)),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_MAX_FRAME_SIZE.rawValue), value: 1 << 16),
        ]
        nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), &settings, settings.count)
        nghttp2_session_set_local_window_size(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, Int32(limits.connectionWindow))
        armIdleTimer()
        markDirty()
    }

    // MARK: - Streams

    override func onBeginHeaders(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        guard frame.pointee.hd.type == UInt8(NGHTTP2_HEADERS.rawValue),
            frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST
        else { return 0 }
        let call = H2ServerCall(
            loop: loop, connection: self, maxReceiveMessageSize: limits.maxReceiveMessageSize,
            writeHighWater: limits.streamWriteHighWater)
        call.streamID = frame.pointee.hd.stream_id
        streams[call.streamID] = call
        idleTimer?.cancel()
        return 0
    }

    override func onHeader(_ frame: UnsafePointer<nghttp2_frame>, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> Int32 {
        guard frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST,
            let call = streams[frame.pointee.hd.stream_id] as? H2ServerCall
        else { return 0 }
        call.headerBytes += name.count + value.count + 32
        if call.headerBytes > limits.maxHeaderListSize {
            // Refuse this stream (RST_STREAM); the connection carries on.
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue
        }
        // Known headers are compared as bytes: no String unless needed.
        if name.first == UInt8(ascii: ":") {
            if name.equals(":path") {
                call.path = value.string
            } else if name.equals(":method") {
                call.method = value.equals("POST") ? "POST" : value.string
            }
            return 0
        }
        if name.equals("content-type") {
            call.contentType = isGRPCContentType(value) ? "application/grpc" : value.string
        } else if name.equals("grpc-timeout") {
            call.timeoutHeader = Array(value)
        } else if name.equals("grpc-encoding") {
            call.encoding = value.equals("identity") ? "" : value.string
        } else if !Metadata.isReserved(utf8: name) {
            let key = name.string
            if !call.metadata.addWire(name: key, value: Array(value)) {
                call.malformedMetadata = key
            }
        }
        return 0
    }

    override func onFrameRecv(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        let header = frame.pointee.hd
        switch UInt32(header.type) {
        case NGHTTP2_HEADERS.rawValue:
            guard let call = streams[header.stream_id] as? H2ServerCall else { return 0 }
            if frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST {
                dispatch(call)
            }
            if header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0 {
                call.receivedEndOfStream()
            }
        case NGHTTP2_DATA.rawValue:
            if header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0 {
                streams[header.stream_id]?.receivedEndOfStream()
            }
        case NGHTTP2_RST_STREAM.rawValue:
            if !resetBucket.take(now: ContinuousClock.now) {
                goAway(NGHTTP2_ENHANCE_YOUR_CALM, debug: "too many RST_STREAM frames")
            }
        case NGHTTP2_SETTINGS.rawValue:
            if header.flags & UInt8(NGHTTP2_FLAG_ACK.rawValue) == 0 && !sawClientSettings {
                sawClientSettings = true
                handshakeTimer?.cancel()
                handshakeTimer = nil
            }
        default:
            break
        }
        return 0
    }

    override func onBeginFrame(_ header: UnsafePointer<nghttp2_frame_hd>) -> Int32 {
        switch UInt32(header.pointee.type) {
        case NGHTTP2_HEADERS.rawValue:
            continuationFrames = 0
            headerBlockBytes = header.pointee.length
        case NGHTTP2_CONTINUATION.rawValue:
            continuationFrames += 1
            headerBlockBytes += header.pointee.length
            if continuationFrames > server.configuration.maxContinuationFrames || headerBlockBytes > 4 * limits.maxHeaderListSize {
                goAway(NGHTTP2_ENHANCE_YOUR_CALM, debug: "header block too long")
                return NGHTTP2_ERR_CALLBACK_FAILURE.rawValue
            }
        default:
            break
        }
        return 0
    }

    override func onInvalidFrame(_ frame: UnsafePointer<nghttp2_frame>, error: Int32) -> Int32 {
        invalidFrames += 1
        if invalidFrames > 100 {
            goAway(NGHTTP2_ENHANCE_YOUR_CALM, debug: "too many invalid frames")
        }
        return 0
    }

    override func onFrameSend(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 {
        let header = frame.pointee.hd
        // The response is complete while the client still sends: ask it to stop
        // (RST_STREAM NO_ERROR, RFC 9113 section 8.1).
        if UInt32(header.type) == NGHTTP2_HEADERS.rawValue,
            header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0,
            let session, nghttp2_session_get_stream_remote_close(session, header.stream_id) == 0
        {
            nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), header.stream_id, NGHTTP2_NO_ERROR.rawValue)
        }
        return 0
    }

    override func onStreamClose(streamID: Int32, errorCode: UInt32) -> Int32 {
        guard let stream = streams.removeValue(forKey: streamID) else { return 0 }
        let error =
            errorCode == NGHTTP2_NO_ERROR.rawValue
            ? RPCError(code: .cancelled, message: "the stream closed")
            : RPCError(code: .cancelled, message: "the client cancelled the call")
        stream.streamClosed(error: error)
        if streams.isEmpty {
            if draining {
                markDirty()
            } else {
                armIdleTimer()
            }
        }
        return 0
    }

    /// Validates a complete request header block and starts its handler.
    private func dispatch(_ call: H2ServerCall) {
        // A method that takes small requests (a health check) accepts no more.
        if let limit = server.router.maxRequestSize(forPath: call.path) {
            call.inbound.limitMessageSize(limit)
        }
        guard call.method == "POST" else {
            call.rejectHTTP(status: 405, grpcStatus: Status(code: .internal, message: "gRPC requires POST, not \(call.method)"))
            return
        }
        let contentType = call.contentType
        guard contentType == "application/grpc" else {
            call.rejectHTTP(
                status: 415,
                grpcStatus: Status(code: .invalidArgument, message: "invalid gRPC request content-type \"\(contentType)\""))
            return
        }
        if !call.encoding.isEmpty && call.encoding != "identity" {
            call.finishOnLoop(
                status: Status(code: .unimplemented, message: "grpc-encoding \(call.encoding) is not supported"),
                trailers: ["grpc-accept-encoding": .string("identity")])
            return
        }
        if let name = call.malformedMetadata {
            call.finishOnLoop(status: Status(code: .internal, message: "malformed binary metadata \(name)"), trailers: [:])
            return
        }
        var deadline: ContinuousClock.Instant?
        if let header = call.timeoutHeader {
            guard let timeout = GRPCTimeout.parse(header) else {
                call.finishOnLoop(status: Status(code: .internal, message: "malformed grpc-timeout"), trailers: [:])
                return
            }
            deadline = ContinuousClock.now + timeout
            let timer = clock.timer(on: loop)
            timer.schedule(after: timeout) { [weak call] in
                call?.deadlineExceeded()
            }
            call.deadlineTimer = timer
        }
        ready.append((call, deadline))
    }

    /// Starts the calls of this read. On the loop, a handler runs at once, right
    /// here, until its first real suspension (`Task.immediate`): a unary call
    /// whose request is complete often finishes before this returns, with no
    /// scheduling round trip. This is outside nghttp2's callbacks.
    override func inputProcessed() {
        guard !ready.isEmpty else { return }
        let calls = ready
        ready.removeAll(keepingCapacity: true)
        let router = server.router
        let peer = self.peer
        let onLoop = server.configuration.handlerPlacement == .eventLoop
        for (call, deadline) in calls where !call.closed && !call.finished {
            let path = call.path
            let metadata = call.metadata
            if onLoop {
                call.handlerTask = Task.immediate(executorPreference: loop) {
                    await router.handle(path: path, call: call, metadata: metadata, deadline: deadline, peer: peer)
                }
            } else {
                call.handlerTask = Task {
                    await router.handle(path: path, call: call, metadata: metadata, deadline: deadline, peer: peer)
                }
            }
        }
    }

    // MARK: - Idle and shutdown

    private func armIdleTimer() {
        guard !draining, let timeout = server.configuration.idleTimeout else { return }
        if idleTimer == nil { idleTimer = clock.timer(on: loop) }
        idleTimer?.schedule(after: timeout) { [unowned self] in
            if streams.isEmpty { goAway(NGHTTP2_NO_ERROR, debug: "idle") }
        }
    }

    /// Graceful shutdown: a shutdown notice now, the real GOAWAY (with the last
    /// stream id we accepted) after `noticeDelay`; in-flight calls go on.
    func beginShutdown(noticeDelay: Duration) {
        guard !draining, !isClosed else { return }
        draining = true
        idleTimer?.cancel()
        guard let session else {
            close()
            return
        }
        nghttp2_submit_shutdown_notice(session)
        markDirty()
        let timer = clock.timer(on: loop)
        timer.schedule(after: noticeDelay) { [unowned self] in
            guard !isClosed, let session = self.session else { return }
            nghttp2_submit_goaway(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nghttp2_session_get_last_proc_stream_id(session),
                NGHTTP2_NO_ERROR.rawValue, nil, 0)
            markDirty()
        }
        idleTimer = timer
    }

    override func inboundHeldDidChange(by delta: Int) {
        server.inboundHeld.wrappingAdd(delta, ordering: .relaxed)
    }

    override var inboundOverBudget: Bool {
        super.inboundOverBudget || server.inboundHeld.load(ordering: .relaxed) > server.configuration.maxBufferedInboundBytes
    }

    override func connectionClosed() {
        handshakeTimer?.cancel()
        handshakeTimer = nil
        idleTimer?.cancel()
        idleTimer = nil
        server.connectionClosed(self)
    }
}

/// Allows `burst` events at once and `perSecond` more every second.
struct TokenBucket {
    let burst: Double
    let perSecond: Double
    private var tokens: Double
    private var last: ContinuousClock.Instant?

    init(burst: Int, perSecond: Int) {
        self.burst = Double(burst)
        self.perSecond = Double(perSecond)
        self.tokens = Double(burst)
    }

    /// Takes a token; false when none is left.
    mutating func take(now: ContinuousClock.Instant) -> Bool {
        if let last {
            let elapsed = now - last
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            tokens = min(burst, tokens + seconds * perSecond)
        }
        last = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
