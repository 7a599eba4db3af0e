import CLibevent
import RPCCore

#if canImport(Glibc)
import Glibc
#endif

/// The server side of one HTTP/2 connection: turns request streams into calls
/// on the router and applies what its `ServerConnectionStateMachine` decides
/// (handshake and idle timeouts, drain, and GOAWAY ENHANCE_YOUR_CALM for
/// abuse: nghttp2 1.52 has no rapid-reset or CONTINUATION flood protection of
/// its own).
final class ServerConnection: H2Connection, @unchecked Sendable {
    private let server: ServerCore
    private var state: ServerConnectionStateMachine
    private var timers: [ServerConnectionStateMachine.Timer: any TransportTimer] = [:]
    private let tlsPending: Bool
    /// Our keepalive PINGs so far (each one's payload).
    private var pingsSent: UInt64 = 0
    /// Calls whose headers arrived during this read; started when nghttp2 returns.
    private var ready: [(H2ServerCall, ContinuousClock.Instant?)] = []
    /// The call whose request header block is arriving: its fields come one
    /// callback each, with nothing of another stream between them (RFC 9113
    /// section 6.10), so they need no look-up in `streams` each.
    private var headerBlockCall: H2ServerCall?

    init(server: ServerCore, loop: EventLoop, bev: OpaquePointer, peer: String, tls: Bool) {
        self.server = server
        let configuration = server.configuration
        var rules = ServerConnectionStateMachine.Configuration()
        rules.handshakeTimeout = configuration.handshakeTimeout
        rules.idleTimeout = configuration.idleTimeout
        rules.resetBurst = configuration.resetStreamBurst
        rules.resetRate = configuration.resetStreamRate
        rules.maxContinuationFrames = configuration.maxContinuationFrames
        rules.maxHeaderBlockBytes = 4 * configuration.limits.maxHeaderListSize
        rules.keepaliveInterval = configuration.keepalive.time
        rules.keepaliveTimeout = configuration.keepalive.timeout
        rules.pingPolicy.minInterval = configuration.keepalive.minClientPingInterval
        rules.pingPolicy.permitWithoutCalls = configuration.keepalive.permitWithoutCalls
        self.state = ServerConnectionStateMachine(rules)
        self.tlsPending = tls
        super.init(loop: loop, bev: bev, peer: peer, limits: configuration.limits, clock: configuration.clock, stats: server.stats)
        readsSocketDirectly = !tls
    }

    func start() {
        apply(state.started())
        startIO()
        if !tlsPending {
            startServerSession()
        }
    }

    override func connected() {
        // TLS handshake done: h2 must have been negotiated.
        guard tlsPending, session == nil else { return }
        guard TLS.negotiatedH2(bev) else {
            close()
            return
        }
        startServerSession()
    }

    private func startServerSession() {
        _ = startSession(server: true, settings: [
            .maxConcurrentStreams(server.configuration.maxConcurrentStreams),
            .initialWindowSize(limits.streamWindow),
            .maxHeaderListSize(limits.maxHeaderListSize),
            .maxFrameSize(1 << 16),
        ])
    }

    // MARK: - The state machine's actions

    /// Applies the state machine's actions; true when the frame being received
    /// is refused.
    @discardableResult
    private func apply(_ actions: [ServerConnectionStateMachine.Action]) -> Bool {
        var reject = false
        for action in actions {
            switch action {
            case .arm(let kind, let delay):
                let timer = timers[kind] ?? clock.timer(on: loop)
                timers[kind] = timer
                timer.schedule(after: delay) { [unowned self] in apply(state.timerFired(kind)) }
            case .cancel(let kind):
                timers[kind]?.cancel()
            case .goAway(let code, let debug):
                stats.goAway(debug.isEmpty ? code.description : debug)
                goAway(code, debug: debug)
            case .shutdownNotice:
                do {
                    try session?.submitShutdownNotice()
                    markDirty()
                } catch {
                    close()
                }
            case .finalGoAway:
                guard !isClosed else { break }
                do {
                    try session?.submitGoAway(.noError)
                    markDirty()
                } catch {
                    close()
                }
            case .close:
                close()
            case .rejectFrame:
                reject = true
            case .ping:
                pingsSent &+= 1
                do {
                    try session?.submitPing(payload: pingsSent)
                    markDirty()
                } catch {
                    close()
                }
            }
        }
        return reject
    }

    // MARK: - Session events

    override func sessionBeginFrame(_ frame: HTTP2Frame) -> HTTP2CallbackResult {
        apply(state.frameBegins(frame)) ? .failSession : .proceed
    }

    override func sessionBeginHeaders(_ frame: HTTP2Frame) -> HTTP2CallbackResult {
        guard frame.headersKind == .request else { return .proceed }
        let call = H2ServerCall(loop: loop, connection: self)
        call.streamID = frame.streamID
        streams[call.streamID] = call
        headerBlockCall = call
        stats.streamsOpen.wrappingAdd(1, ordering: .relaxed)
        apply(state.streamOpened())
        return .proceed
    }

    override func sessionHeader(_ frame: HTTP2Frame, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> HTTP2CallbackResult {
        guard frame.headersKind == .request else { return .proceed }
        let call: H2ServerCall
        if let current = headerBlockCall, current.streamID == frame.streamID {
            call = current
        } else if let found = streams[frame.streamID] as? H2ServerCall {
            call = found
        } else {
            return .proceed
        }
        call.headerBytes += name.count + value.count + 32
        if call.headerBytes > limits.maxHeaderListSize {
            // Refuse this stream (RST_STREAM); the connection carries on.
            if call.headerBytes - name.count - value.count - 32 <= limits.maxHeaderListSize { stats.limitHit("header_list") }
            return .refuseStream
        }
        // Known headers are compared as bytes: no String unless needed.
        if name.first == UInt8(ascii: ":") {
            if name.equals(":path") {
                call.path = value.string
            } else if name.equals(":method") {
                call.method = value.equals("POST") ? "POST" : value.string
            }
            return .proceed
        }
        if name.equals("content-type") {
            call.contentType = isGRPCContentType(value) ? "application/grpc" : value.string
        } else if name.equals("grpc-timeout") {
            call.timeoutHeader = Array(value)
        } else if name.equals("grpc-encoding") {
            call.encoding = value.equals("identity") ? "" : value.string
        } else if name.equals("grpc-accept-encoding") {
            call.acceptEncoding = value.string
        } else if !Metadata.isReserved(utf8: name) {
            let key = name.string
            if !call.metadata.addWire(name: key, value: Array(value)) {
                call.malformedMetadata = key
            }
        }
        return .proceed
    }

    override func sessionFrameReceived(_ frame: HTTP2Frame) -> HTTP2CallbackResult {
        var streamAge: Duration?
        switch frame.type {
        case .headers:
            let current = headerBlockCall
            headerBlockCall = nil
            guard let call = current?.streamID == frame.streamID ? current : streams[frame.streamID] as? H2ServerCall else { break }
            if frame.headersKind == .request {
                dispatch(call)
            }
            if frame.endStream {
                call.receivedEndOfStream()
                startIfPending(call)
            }
        case .data:
            if frame.endStream, let stream = streams[frame.streamID] {
                stream.receivedEndOfStream()
                if let call = stream as? H2ServerCall { startIfPending(call) }
            }
        case .rstStream:
            // Before nghttp2 closes the stream: how long it lived decides
            // whether the reset counts as a rapid one.
            streamAge = (streams[frame.streamID] as? H2ServerCall).map { ContinuousClock.now - $0.openedAt }
        default:
            break
        }
        apply(state.frameReceived(frame, now: ContinuousClock.now, streamAge: streamAge))
        return .proceed
    }

    override func sessionInvalidFrame(_ frame: HTTP2Frame, error: NGHTTP2Error) {
        apply(state.invalidFrameReceived())
    }

    override func sessionFrameSent(_ frame: HTTP2Frame) {
        state.frameSent(frame)
        // The response is complete while the client still sends: ask it to stop
        // (RST_STREAM NO_ERROR, RFC 9113 section 8.1).
        if frame.type == .headers, frame.endStream, let session, !session.isRemoteClosed(frame.streamID) {
            resetStream(frame.streamID, .noError)
        }
    }

    override func sessionStreamClosed(streamID: Int32, errorCode: HTTP2ErrorCode) {
        guard let stream = streams.removeValue(forKey: streamID) else { return }
        if headerBlockCall?.streamID == streamID { headerBlockCall = nil }
        stats.streamsOpen.wrappingSubtract(1, ordering: .relaxed)
        let error =
            errorCode == .noError
            ? RPCError(code: .cancelled, message: "the stream closed")
            : RPCError(code: .cancelled, message: "the client cancelled the call")
        stream.streamClosed(error: error)
        apply(state.streamClosed())
        // Draining: the connection may be done now.
        markDirty()
    }

    /// Validates a complete request header block and starts its handler.
    private func dispatch(_ call: H2ServerCall) {
        // A method that takes small requests (a health check) accepts no more.
        if let limit = server.router.maxRequestSize(forPath: call.path) {
            call.state.limitMessageSize(limit)
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
        guard let encoding = MessageCompression.encoding(named: call.encoding) else {
            call.finishOnLoop(
                status: Status(code: .unimplemented, message: "grpc-encoding \(call.encoding) is not supported (use one of \(MessageCompression.accepted))"),
                trailers: [:], transportFields: [("grpc-accept-encoding", MessageCompression.accepted)])
            return
        }
        // Counted from its first header (the stream is open): above the cap,
        // this call is the one too many.
        let maxCalls = server.configuration.maxCalls
        if stats.streamsOpen.load(ordering: .relaxed) > maxCalls {
            stats.limitHit("calls")
            call.finishOnLoop(
                status: Status(code: .resourceExhausted, message: "the server is serving its limit of \(maxCalls) calls at once; try again later"),
                trailers: [:])
            return
        }
        // Compressed requests are inflated within the message limit; the
        // responses are compressed the same way when the client accepts it.
        call.state.setDecompressor(MessageCompression.decompressor(for: encoding))
        if encoding != .identity && MessageCompression.accepts(call.acceptEncoding, encoding) {
            call.responseEncoding = encoding
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
        // A call with one request message starts once the request is whole:
        // its handler then runs to its first real wait in one go, and holds
        // no task while the client is still sending (10,000 watches opened
        // together would otherwise hold 10,000 waiting tasks).
        if let kind = server.router.handler(forPath: call.path)?.method.kind, !kind.clientStreams, !call.state.inbound.ended {
            call.pendingStart = deadline
            return
        }
        ready.append((call, deadline))
    }

    /// A call waiting for its whole request got it (END_STREAM): it starts.
    private func startIfPending(_ call: H2ServerCall) {
        guard let deadline = call.pendingStart else { return }
        call.pendingStart = nil
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
            let task: Task<Void, Never>
            if onLoop {
                task = Task.immediate(executorPreference: loop) {
                    await router.handle(path: path, call: call, metadata: metadata, deadline: deadline, peer: peer)
                    call.handlerReturned()
                }
            } else {
                task = Task {
                    await router.handle(path: path, call: call, metadata: metadata, deadline: deadline, peer: peer)
                    call.handlerReturned()
                }
            }
            // A handler that returned (often before Task.immediate does) needs no
            // handle: holding one would keep its task's memory (a parked watch).
            if !call.handlerHasReturned { call.handlerTask = task }
        }
    }

    // MARK: - Shutdown and budgets

    /// Graceful shutdown: a shutdown notice now, the real GOAWAY (with the last
    /// stream id we accepted) after `noticeDelay`; in-flight calls go on.
    func beginShutdown(noticeDelay: Duration) {
        guard !isClosed else { return }
        apply(state.beginShutdown(noticeDelay: noticeDelay))
    }

    override func inboundHeldDidChange(by delta: Int) {
        server.inboundHeld.wrappingAdd(delta, ordering: .relaxed)
    }

    override var inboundBudgetLeft: Int {
        min(super.inboundBudgetLeft, server.configuration.maxBufferedInboundBytes - server.inboundHeld.load(ordering: .relaxed))
    }

    override func connectionClosed() {
        apply(state.closed())
        server.connectionClosed(self)
    }
}
