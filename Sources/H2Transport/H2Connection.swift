import CLibevent
import RPCCore

#if canImport(Glibc)
import Glibc
#endif

/// Sizes and limits shared by server and client connections.
public struct HTTP2Limits: Sendable {
    /// SETTINGS_INITIAL_WINDOW_SIZE we advertise: bytes a peer may send on one stream
    /// before we return credit. Credit goes back as the handler takes messages
    /// and nghttp2 sends a WINDOW_UPDATE once half of it is back: with 1 MiB a
    /// client streaming 64 KiB messages waited for credit often enough to lose
    /// about a fifth of its throughput (BENCHMARKS.md, streaming). What a
    /// connection holds in all stays bounded by `maxBufferedInboundBytes`.
    public var streamWindow: Int = 4 << 20
    /// The connection window we open at start.
    public var connectionWindow: Int = 16 << 20
    /// Largest message accepted from the peer (RESOURCE_EXHAUSTED above it).
    public var maxReceiveMessageSize: Int = 4 << 20
    /// A writer waits while more than this many bytes of its stream are unsent.
    public var streamWriteHighWater: Int = 256 << 10
    /// Writers wait while the streams of one connection have more than this
    /// unsent in all (thousands of streams cannot each hold a stream's worth).
    public var maxBufferedOutboundBytes: Int = 16 << 20
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
/// nghttp2 does no I/O: bytes read are fed to the session, frames it produces
/// are written into the bufferevent. Loop thread only.
///
/// Lifetime: retained (through `Unmanaged`) while the socket is open; `close()`
/// fails every stream and frees the session and socket outside any callback.
class H2Connection: NGHTTP2SessionDelegate, @unchecked Sendable {
    let loop: EventLoop
    let limits: HTTP2Limits
    /// The peer's address, e.g. `127.0.0.1:50432`.
    let peer: String
    var bev: OpaquePointer?
    var session: NGHTTP2Session?
    var streams: [Int32: H2Stream] = [:]
    /// The streams whose writer waits for room, by id: what `writable` wakes,
    /// without visiting thousands of idle streams per socket event.
    var waitingWriters: [Int32: H2Stream] = [:]
    var isDirty = false
    /// Request bytes this connection's streams hold (see `maxBufferedInboundBytes`).
    private(set) var inboundHeld = 0
    /// Response (or request) bytes its streams have queued and not yet written
    /// (see `maxBufferedOutboundBytes`).
    var outboundPending = 0
    private(set) var isClosed = false
    /// Close once the output is written (after GOAWAY).
    private var closeWhenFlushed = false
    private var unmanaged: Unmanaged<H2Connection>?
    private var lingerTimer: (any TransportTimer)?
    /// A GOAWAY that ends the connection was queued (by us or by nghttp2).
    private var goAwaySubmitted = false
    private var lingering = false
    private var iovecs: [iovec] = Array(repeating: iovec(), count: 16)
    /// The socket carries HTTP/2 itself (not TLS): `readable` then reads it
    /// directly, in large reads (see `readMore`). Set by the subclass.
    var readsSocketDirectly = false

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

    /// Creates the session and queues our SETTINGS and connection window; on
    /// failure (only out of memory) the connection closes and this returns false.
    func startSession(server: Bool, settings: [HTTP2Setting]) -> Bool {
        do {
            let session = try NGHTTP2Session(server: server, delegate: self)
            try session.submitSettings(settings)
            try session.setConnectionWindow(limits.connectionWindow)
            self.session = session
            markDirty()
            return true
        } catch {
            close(error: RPCError(code: .unavailable, message: "cannot start an HTTP/2 session: \(error)"))
            return false
        }
    }

    // MARK: - I/O

    private func readable() {
        if lingering {
            if let input = bufferevent_get_input(bev) { evbuffer_drain(input, evbuffer_get_length(input)) }
            return
        }
        guard let session, let input = bufferevent_get_input(bev) else { return }
        // libevent read what the socket held, up to 4 KiB: with less, it is empty.
        let mayHoldMore = evbuffer_get_length(input) >= Self.libeventReadSize
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
                do {
                    consumed += try session.receive(UnsafeRawBufferPointer(start: vec.iov_base, count: vec.iov_len))
                } catch {
                    evbuffer_drain(input, consumed)
                    protocolFailure(error)
                    return
                }
                if isClosed { return }
            }
            evbuffer_drain(input, consumed)
            stats.bytesIn.wrappingAdd(consumed, ordering: .relaxed)
        }
        if mayHoldMore { readMore(session) }
        inputProcessed()
        flush()
    }

    /// What one read callback may read itself beyond libevent's read: a bulk
    /// upload is read 256 KiB at a time, and the loop's other connections
    /// wait for at most 1 MiB of it.
    static let directReadBudget = 1 << 20
    /// The most libevent 2.1 reads at once (EVBUFFER_MAX_READ).
    static let libeventReadSize = 4096

    /// Reads what else the socket holds now, without waiting, in reads as
    /// large as the loop's scratch buffer, and hands it to nghttp2. libevent
    /// 2.1 reads at most 4 KiB a time (EVBUFFER_MAX_READ), each read one turn
    /// of the loop (epoll_wait, FIONREAD, read): a 1 GiB upload cost 260,000
    /// of them, more than half the server's time. An empty socket, the peer's
    /// close or an error end it; libevent's own next read reports the last two.
    /// Plain TCP only: TLS goes through libevent's OpenSSL filter.
    private func readMore(_ session: NGHTTP2Session) {
        guard readsSocketDirectly, !closeWhenFlushed, let bev, bufferevent_get_enabled(bev) & Int16(EV_READ) != 0 else { return }
        let fd = bufferevent_getfd(bev)
        guard fd >= 0 else { return }
        let scratch = loop.readScratch
        var budget = Self.directReadBudget
        while budget > 0 && !isClosed {
            let read = recv(fd, scratch.baseAddress, min(budget, scratch.count), Int32(MSG_DONTWAIT))
            guard read > 0 else { return }
            budget -= read
            do {
                _ = try session.receive(UnsafeRawBufferPointer(rebasing: scratch[0..<read]))
            } catch {
                protocolFailure(error)
                return
            }
            stats.bytesIn.wrappingAdd(read, ordering: .relaxed)
            if read < scratch.count { return }  // the socket is empty now
        }
    }

    /// After a read, outside nghttp2's callbacks (the server starts calls here).
    func inputProcessed() {}

    private func writable() {
        flush()
        if !waitingWriters.isEmpty {
            for stream in Array(waitingWriters.values) where stream.writeWaiter != nil {
                stream.wakeWriter()
            }
        }
        if closeWhenFlushed, outputBuffered == 0 {
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
    func protocolFailure(_ error: NGHTTP2Error) {
        if !goAwaySubmitted {
            // Floods (nghttp2's own CONTINUATION, SETTINGS and queue limits) are
            // abuse; anything else is a protocol error.
            goAwaySubmitted = true
            stats.goAway(error.isFlood ? "flood" : "protocol_error")
            // Failing only when nghttp2 is out of memory or already terminating:
            // the connection closes either way.
            try? session?.submitGoAway(error.isFlood ? .enhanceYourCalm : .protocolError)
        }
        bufferevent_disable(bev, Int16(EV_READ))
        closeWhenFlushed = true
        bufferevent_setwatermark(bev, Int16(EV_WRITE), 0, 0)
        flush()
    }

    /// Bytes waiting in the socket's output buffer (and staged for it).
    var outputBuffered: Int {
        guard let bev, let output = bufferevent_get_output(bev) else { return 0 }
        return evbuffer_get_length(output) + staged.count
    }

    /// What nghttp2 wrote during one `flush`, handed to libevent in one call:
    /// a broadcast to thousands of streams writes two pieces per DATA frame,
    /// and one `bufferevent_write` each would cost more than the frames.
    private var staged: [UInt8] = []
    private static let stageLimit = 64 << 10

    private func commitStaged() {
        guard !staged.isEmpty else { return }
        if let bev {
            staged.withUnsafeBytes { _ = bufferevent_write(bev, $0.baseAddress, $0.count) }
            stats.bytesOut.wrappingAdd(staged.count, ordering: .relaxed)
        }
        staged.removeAll(keepingCapacity: staged.capacity <= 4 * Self.stageLimit)
    }

    /// nghttp2 should stop producing frames; writers should wait.
    var outputCongested: Bool { outputBuffered >= limits.outputHighWater }

    func write(_ bytes: UnsafeRawBufferPointer) {
        guard bev != nil, bytes.count > 0 else { return }
        staged.append(contentsOf: bytes)
        if staged.count >= Self.stageLimit { commitStaged() }
    }

    /// Lets nghttp2 write what it has queued; closes the connection when both
    /// sides are done.
    func flush() {
        guard let session, !isClosed, !lingering else { return }
        do {
            try session.send()
            // Streams that queued bytes while their data source was ending get
            // a new one now that nghttp2 is done sending (rare: only after the
            // socket buffer was full).
            while !awaitingDataSource.isEmpty {
                let streams = awaitingDataSource
                awaitingDataSource.removeAll()
                for stream in streams { stream.submitData() }
                try session.send()
            }
            commitStaged()
        } catch {
            commitStaged()
            close(error: RPCError(code: .unavailable, message: "the HTTP/2 session failed: \(error)"))
            return
        }
        if !session.wantsRead && !session.wantsWrite && outputBuffered == 0 {
            closeWhenFlushed ? lingerAndClose() : close()
        } else if closeWhenFlushed && outputBuffered == 0 && !session.wantsWrite {
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

    /// How many more request bytes may be held before a stream is refused.
    var inboundBudgetLeft: Int { limits.maxBufferedInboundBytes - inboundHeld }

    func markDirty() {
        if !isClosed { loop.markDirty(self) }
    }

    /// Streams to give a new data source after this send (`H2Stream.sendData`).
    private var awaitingDataSource: [H2Stream] = []

    /// Called inside nghttp2's send: `stream` needs a new data source once it returns.
    func needsDataSource(_ stream: H2Stream) {
        awaitingDataSource.append(stream)
        markDirty()
    }

    /// Returns `count` bytes of stream credit.
    func consumeStream(_ streamID: Int32, _ count: Int) {
        guard let session, count > 0 else { return }
        // Fails only for a stream nghttp2 has closed: no credit is owed then.
        try? session.consumeStream(streamID, count)
        markDirty()
    }

    /// Asks nghttp2 for a deferred stream's data again.
    func resumeData(_ streamID: Int32) {
        guard let session else { return }
        // Fails only when the stream is gone or its data not deferred: nothing to resume.
        try? session.resumeData(streamID)
        markDirty()
    }

    /// Resets a stream; a failure (the stream is gone) needs nothing more.
    func resetStream(_ streamID: Int32, _ code: HTTP2ErrorCode) {
        guard let session, streamID > 0 else { return }
        try? session.submitReset(streamID: streamID, code)
        markDirty()
    }

    /// Sends GOAWAY with `code` and closes once it is written.
    func goAway(_ code: HTTP2ErrorCode, debug: String = "") {
        guard let session, !isClosed else { return }
        goAwaySubmitted = true
        do {
            try session.submitGoAway(code, debug: debug)
        } catch {
            close()
            return
        }
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
        stats.streamsOpen.wrappingSubtract(open.count, ordering: .relaxed)
        for stream in open {
            stream.streamClosed(error: error)
        }
        bufferevent_disable(bev, Int16(EV_READ | EV_WRITE))
        connectionClosed()
        // Free outside whatever callback we are in.
        loop.execute { [self] in
            session = nil
            if let bev { bufferevent_free(bev) }
            bev = nil
            unmanaged?.release()
            unmanaged = nil
        }
    }

    /// Subclass hook: the connection is closed (streams are failed already).
    func connectionClosed() {}

    // MARK: - NGHTTP2SessionDelegate (the server and client override the frame events)

    func sessionWrite(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if outputCongested { return false }
        write(bytes)
        return true
    }

    func sessionBeginFrame(_ frame: HTTP2Frame) -> HTTP2CallbackResult { .proceed }
    func sessionBeginHeaders(_ frame: HTTP2Frame) -> HTTP2CallbackResult { .proceed }
    func sessionHeader(_ frame: HTTP2Frame, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> HTTP2CallbackResult { .proceed }
    func sessionFrameReceived(_ frame: HTTP2Frame) -> HTTP2CallbackResult { .proceed }
    func sessionFrameSent(_ frame: HTTP2Frame) {}
    func sessionInvalidFrame(_ frame: HTTP2Frame, error: NGHTTP2Error) {}
    func sessionStreamClosed(streamID: Int32, errorCode: HTTP2ErrorCode) {}

    func sessionData(streamID: Int32, _ bytes: UnsafeRawBufferPointer) {
        // Connection credit comes back at once, so streams never starve each
        // other; it cannot fail for bytes nghttp2 just delivered.
        try? session?.consumeConnection(bytes.count)
        if let stream = streams[streamID] {
            stream.receivedData(bytes)
        } else {
            // Nobody reads this stream: its credit must still come back.
            consumeStream(streamID, bytes.count)
        }
    }

    func sessionReadData(streamID: Int32, maxLength: Int) -> HTTP2DataRead {
        streams[streamID]?.readData(maxLength: maxLength) ?? .end(endStream: true)
    }

    func sessionSendData(streamID: Int32, frameHeader: UnsafeRawBufferPointer, length: Int) -> Bool {
        guard !outputCongested, let stream = streams[streamID] else { return false }
        write(frameHeader)
        stream.sendData(length: length)
        return true
    }
}
