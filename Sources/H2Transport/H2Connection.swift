import CLibevent
import CNGHTTP2
import RPCCore

#if canImport(Glibc)
import Glibc
#endif

/// Sizes and limits shared by server and client connections.
public struct HTTP2Limits: Sendable {
    /// SETTINGS_INITIAL_WINDOW_SIZE we advertise: bytes a peer may send on one stream
    /// before we return credit.
    public var streamWindow: Int = 1 << 20
    /// The connection window we open at start.
    public var connectionWindow: Int = 16 << 20
    /// Largest message accepted from the peer (RESOURCE_EXHAUSTED above it).
    public var maxReceiveMessageSize: Int = 4 << 20
    /// A writer waits while more than this many bytes of its stream are unsent.
    public var streamWriteHighWater: Int = 256 << 10
    /// nghttp2 stops producing frames while the socket buffer holds this much.
    public var outputHighWater: Int = 1 << 20
    /// SETTINGS_MAX_HEADER_LIST_SIZE we advertise and enforce.
    public var maxHeaderListSize: Int = 16 << 10
    /// Request bytes one connection may make us hold (partial messages and
    /// messages not yet read, over all its streams); past it, the stream that
    /// grew it ends with RESOURCE_EXHAUSTED.
    public var maxBufferedInboundBytes: Int = 32 << 20
    /// A stream that stops sending in the middle of a message ends after this
    /// long (RESOURCE_EXHAUSTED); nil: never.
    public var receiveTimeout: Duration? = .seconds(30)

    public init() {}
}

/// One HTTP/2 connection: a bufferevent (TCP or TLS) feeding an nghttp2 session.
/// nghttp2 does no I/O: bytes read are fed to `nghttp2_session_mem_recv`, frames it
/// produces are written into the bufferevent. Loop thread only.
///
/// Lifetime: retained (through `Unmanaged`) while the socket is open; `close()`
/// fails every stream and frees the session and socket outside any callback.
class H2Connection: @unchecked Sendable {
    let loop: EventLoop
    let limits: HTTP2Limits
    /// The peer's address, e.g. `127.0.0.1:50432`.
    let peer: String
    var bev: OpaquePointer?
    var session: OpaquePointer?
    var streams: [Int32: H2Stream] = [:]
    var isDirty = false
    /// Request bytes this connection's streams hold (see `maxBufferedInboundBytes`).
    private(set) var inboundHeld = 0
    private(set) var isClosed = false
    /// Close once the output is written (after GOAWAY).
    var closeWhenFlushed = false
    private var unmanaged: Unmanaged<H2Connection>?
    private var lingerTimer: (any TransportTimer)?
    /// A GOAWAY that ends the connection was queued (by us or by nghttp2).
    var goAwaySubmitted = false
    private var lingering = false
    private var iovecs: [iovec] = Array(repeating: iovec(), count: 16)

    /// Where its timers come from, and the owner's counters.
    let clock: any TransportClock
    let stats: TransportStats

    init(loop: EventLoop, bev: OpaquePointer, peer: String, limits: HTTP2Limits, clock: any TransportClock, stats: TransportStats) {
        self.loop = loop
        self.clock = clock
        self.stats = stats
        self.bev = bev
        self.peer = peer
        self.limits = limits
    }

    var context: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }

    static func from(_ context: UnsafeMutableRawPointer?) -> H2Connection {
        Unmanaged<H2Connection>.fromOpaque(context!).takeUnretainedValue()
    }

    /// Starts reading and writing. The session is created by the subclass.
    func startIO() {
        unmanaged = Unmanaged.passRetained(self)
        bufferevent_setcb(bev, { _, context in
            H2Connection.from(context).readable()
        }, { _, context in
            H2Connection.from(context).writable()
        }, { _, events, context in
            H2Connection.from(context).event(events)
        }, context)
        bufferevent_setwatermark(bev, Int16(EV_WRITE), limits.outputHighWater / 4, 0)
        bufferevent_set_max_single_read(bev, 256 << 10)
        bufferevent_set_max_single_write(bev, 256 << 10)
        bufferevent_enable(bev, Int16(EV_READ | EV_WRITE))
    }

    // MARK: - I/O

    private func readable() {
        if lingering {
            if let input = bufferevent_get_input(bev) { evbuffer_drain(input, evbuffer_get_length(input)) }
            return
        }
        guard let session, let input = bufferevent_get_input(bev) else { return }
        var total = 0
        while true {
            let available = evbuffer_get_length(input)
            guard available > 0 else { break }
            let count = Int(evbuffer_peek(input, -1, nil, &iovecs, Int32(iovecs.count)))
            if count > iovecs.count {
                iovecs = Array(repeating: iovec(), count: count)
                continue
            }
            var consumed = 0
            for i in 0..<count {
                let vec = iovecs[i]
                let result = nghttp2_session_mem_recv(session, vec.iov_base.assumingMemoryBound(to: UInt8.self), vec.iov_len)
                if result < 0 {
                    evbuffer_drain(input, consumed)
                    protocolFailure(Int32(result))
                    return
                }
                consumed += result
                if isClosed { return }
            }
            evbuffer_drain(input, consumed)
            total += consumed
        }
        _ = total
        inputProcessed()
        flush()
    }

    /// Creates the nghttp2 session with our callbacks. Credit is returned by
    /// hand (no automatic WINDOW_UPDATE: see InboundFlow), and at most 1000
    /// unacknowledged PING/SETTINGS replies may queue (a flood of them ends the
    /// connection).
    func makeSession(server: Bool) {
        var option: OpaquePointer?
        nghttp2_option_new(&option)
        nghttp2_option_set_no_auto_window_update(option, 1)
        nghttp2_option_set_max_outbound_ack(option, 1000)
        var session: OpaquePointer?
        if server {
            nghttp2_session_server_new2(&session, H2Connection.callbacks, context, option)
        } else {
            nghttp2_session_client_new2(&session, H2Connection.callbacks, context, option)
        }
        nghttp2_option_del(option)
        self.session = session
    }

    /// After a read, outside nghttp2's callbacks (the server starts calls here).
    func inputProcessed() {}

    private func writable() {
        flush()
        for stream in streams.values where stream.writeWaiter != nil {
            stream.wakeWriter()
        }
        if closeWhenFlushed, let output = bufferevent_get_output(bev), evbuffer_get_length(output) == 0 {
            lingerAndClose()
        }
    }

    /// After a GOAWAY: with everything written, shut down our side and discard
    /// what the peer still sends for a moment before closing. Closing a socket
    /// with unread input makes the kernel send RST, which can destroy the GOAWAY
    /// before the peer reads it.
    private func lingerAndClose() {
        guard !lingering, !isClosed, let bev else { return }
        lingering = true
        shutdown(bufferevent_getfd(bev), Int32(SHUT_WR))
        bufferevent_enable(bev, Int16(EV_READ))
        let timer = clock.timer(on: loop)
        timer.schedule(after: .milliseconds(500)) { [unowned self] in close() }
        lingerTimer = timer
    }

    /// Socket events: EOF, errors, and (TLS, client) connection established.
    func event(_ events: Int16) {
        if events & Int16(BEV_EVENT_CONNECTED) != 0 {
            connected()
            return
        }
        if lingering {
            close()
            return
        }
        if events & Int16(BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT) != 0 {
            socketFailed(events: events)
        }
    }

    /// The transport is ready (TCP connect or TLS handshake done). Subclasses.
    func connected() {}

    /// The socket failed or closed. Subclasses may record why; then it closes.
    func socketFailed(events: Int16) {
        close()
    }

    /// nghttp2 rejected the input (the peer broke the protocol, or a callback of
    /// ours refused it): stop reading, write what is queued (nghttp2's GOAWAY, or
    /// ours), then close.
    func protocolFailure(_ code: Int32) {
        if !goAwaySubmitted, let session {
            // Floods (nghttp2's own CONTINUATION, SETTINGS and queue limits) are
            // abuse; anything else is a protocol error.
            let flood = code == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS.rawValue || code == NGHTTP2_ERR_FLOODED.rawValue || code == NGHTTP2_ERR_TOO_MANY_SETTINGS.rawValue
            let error = flood ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR
            goAwaySubmitted = true
            nghttp2_submit_goaway(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nghttp2_session_get_last_proc_stream_id(session),
                error.rawValue, nil, 0)
        }
        bufferevent_disable(bev, Int16(EV_READ))
        closeWhenFlushed = true
        bufferevent_setwatermark(bev, Int16(EV_WRITE), 0, 0)
        flush()
    }

    /// Bytes waiting in the socket's output buffer.
    var outputBuffered: Int {
        guard let bev, let output = bufferevent_get_output(bev) else { return 0 }
        return evbuffer_get_length(output)
    }

    /// nghttp2 should stop producing frames.
    var outputFull: Bool { outputBuffered >= limits.outputHighWater }
    /// Writers should wait.
    var outputCongested: Bool { outputBuffered >= limits.outputHighWater }

    func write(_ bytes: UnsafeRawBufferPointer) {
        guard let bev, bytes.count > 0 else { return }
        bufferevent_write(bev, bytes.baseAddress, bytes.count)
    }

    /// Lets nghttp2 write what it has queued; closes the connection when both
    /// sides are done.
    func flush() {
        guard let session, !isClosed, !lingering else { return }
        let result = nghttp2_session_send(session)
        if result != 0 {
            close()
            return
        }
        if nghttp2_session_want_read(session) == 0 && nghttp2_session_want_write(session) == 0 && outputBuffered == 0 {
            closeWhenFlushed ? lingerAndClose() : close()
        } else if closeWhenFlushed && outputBuffered == 0 && nghttp2_session_want_write(session) == 0 {
            lingerAndClose()
        }
    }

    /// A stream holds `delta` more (or fewer) request bytes.
    func inboundHeldChanged(by delta: Int) {
        inboundHeld += delta
        inboundHeldDidChange(by: delta)
    }

    /// Subclass hook: the server keeps a total over all connections.
    func inboundHeldDidChange(by delta: Int) {}

    /// Whether the bytes held are over the budget.
    var inboundOverBudget: Bool { inboundHeld > limits.maxBufferedInboundBytes }

    func markDirty() {
        if !isClosed { loop.markDirty(self) }
    }

    func consumeStream(_ streamID: Int32, _ count: Int) {
        guard let session, count > 0 else { return }
        nghttp2_session_consume_stream(session, streamID, count)
        markDirty()
    }

    func resumeData(_ streamID: Int32) {
        guard let session else { return }
        nghttp2_session_resume_data(session, streamID)
        markDirty()
    }

    /// Sends GOAWAY with `code` and closes once it is written.
    func goAway(_ code: nghttp2_error_code, debug: String = "") {
        guard let session, !isClosed else { return }
        goAwaySubmitted = true
        var debugData = Array(debug.utf8)
        nghttp2_submit_goaway(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nghttp2_session_get_last_proc_stream_id(session),
            code.rawValue, &debugData, debugData.count)
        closeWhenFlushed = true
        bufferevent_setwatermark(bev, Int16(EV_WRITE), 0, 0)
        markDirty()
    }

    /// Closes the socket now; every open stream fails with `error`.
    func close(error: RPCError = RPCError(code: .unavailable, message: "the connection closed")) {
        guard !isClosed else { return }
        isClosed = true
        lingerTimer?.cancel()
        lingerTimer = nil
        let open = streams.values
        streams.removeAll()
        for stream in open {
            stream.streamClosed(error: error)
        }
        bufferevent_disable(bev, Int16(EV_READ | EV_WRITE))
        connectionClosed()
        // Free outside whatever callback we are in.
        loop.execute { [self] in
            if let session { nghttp2_session_del(session) }
            session = nil
            if let bev { bufferevent_free(bev) }
            bev = nil
            unmanaged?.release()
            unmanaged = nil
        }
    }

    /// Subclass hook: the connection is closed (streams are failed already).
    func connectionClosed() {}

    // MARK: - nghttp2 callbacks (overridden by the server and client)

    func onBeginHeaders(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 { 0 }
    func onHeader(_ frame: UnsafePointer<nghttp2_frame>, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> Int32 { 0 }
    func onFrameRecv(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 { 0 }
    func onFrameSend(_ frame: UnsafePointer<nghttp2_frame>) -> Int32 { 0 }
    func onBeginFrame(_ header: UnsafePointer<nghttp2_frame_hd>) -> Int32 { 0 }
    func onInvalidFrame(_ frame: UnsafePointer<nghttp2_frame>, error: Int32) -> Int32 { 0 }

    func onDataChunk(streamID: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32 {
        if let session { nghttp2_session_consume_connection(session, bytes.count) }
        if let stream = streams[streamID] {
            stream.receivedData(bytes)
        } else {
            // Nobody reads this stream: its credit must still come back.
            consumeStream(streamID, bytes.count)
        }
        return 0
    }

    func onStreamClose(streamID: Int32, errorCode: UInt32) -> Int32 { 0 }

    /// The callbacks every session uses; they dispatch to the methods above.
    nonisolated(unsafe) static let callbacks: OpaquePointer = {
        var callbacks: OpaquePointer?
        nghttp2_session_callbacks_new(&callbacks)
        nghttp2_session_callbacks_set_send_callback(callbacks) { _, data, length, _, context in
            let connection = H2Connection.from(context)
            if connection.outputFull { return Int(NGHTTP2_ERR_WOULDBLOCK.rawValue) }
            connection.write(UnsafeRawBufferPointer(start: data, count: length))
            return length
        }
        nghttp2_session_callbacks_set_send_data_callback(callbacks) { _, frame, frameHeader, length, source, context in
            let connection = H2Connection.from(context)
            guard let pointer = source?.pointee.ptr else { return NGHTTP2_ERR_CALLBACK_FAILURE.rawValue }
            let stream = Unmanaged<H2Stream>.fromOpaque(pointer).takeUnretainedValue()
            guard let output = bufferevent_get_output(connection.bev) else { return NGHTTP2_ERR_CALLBACK_FAILURE.rawValue }
            return stream.sendDataCallback(frameHeader: frameHeader!, length: length, output: output)
        }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks) { _, frame, context in
            H2Connection.from(context).onBeginHeaders(frame!)
        }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) { _, frame, name, nameLength, value, valueLength, _, context in
            H2Connection.from(context).onHeader(
                frame!, name: UnsafeRawBufferPointer(start: name, count: nameLength),
                value: UnsafeRawBufferPointer(start: value, count: valueLength))
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, context in
            H2Connection.from(context).onFrameRecv(frame!)
        }
        nghttp2_session_callbacks_set_on_frame_send_callback(callbacks) { _, frame, context in
            H2Connection.from(context).onFrameSend(frame!)
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, streamID, data, length, context in
            H2Connection.from(context).onDataChunk(streamID: streamID, UnsafeRawBufferPointer(start: data, count: length))
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, streamID, errorCode, context in
            H2Connection.from(context).onStreamClose(streamID: streamID, errorCode: errorCode)
        }
        nghttp2_session_callbacks_set_on_begin_frame_callback(callbacks) { _, header, context in
            H2Connection.from(context).onBeginFrame(header!)
        }
        nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(callbacks) { _, frame, error, context in
            H2Connection.from(context).onInvalidFrame(frame!, error: error)
        }
        return callbacks!
    }()

    /// The data provider for a stream: nghttp2 asks the stream for DATA bytes.
    static func dataProvider(for stream: H2Stream) -> nghttp2_data_provider {
        var provider = nghttp2_data_provider()
        provider.source.ptr = Unmanaged.passUnretained(stream).toOpaque()
        provider.read_callback = { _, _, _, length, flags, source, _ in
            let stream = Unmanaged<H2Stream>.fromOpaque(source!.pointee.ptr!).takeUnretainedValue()
            return stream.readCallback(length: length, flags: flags!)
        }
        return provider
    }
}

