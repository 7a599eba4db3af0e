import CNGHTTP2

#if canImport(Glibc)
import Glibc
#endif

// The one file that talks to nghttp2. Everything else in the transport sees
// Swift types: frame headers, error codes, header blocks, and `NGHTTP2Error`
// for every negative return (nghttp2's examples/libevent-server.c checks every
// return; so do we, and each caller decides what a failure means).

/// A negative return code from nghttp2, named.
struct NGHTTP2Error: Error, Equatable, CustomStringConvertible {
    let code: Int32

    init(_ code: Int32) { self.code = code }
    private init(_ code: nghttp2_error) { self.code = code.rawValue }

    static let invalidArgument = NGHTTP2Error(NGHTTP2_ERR_INVALID_ARGUMENT)
    static let wouldBlock = NGHTTP2Error(NGHTTP2_ERR_WOULDBLOCK)
    static let deferred = NGHTTP2Error(NGHTTP2_ERR_DEFERRED)
    static let streamClosed = NGHTTP2Error(NGHTTP2_ERR_STREAM_CLOSED)
    static let streamIDNotAvailable = NGHTTP2Error(NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE)
    static let invalidStreamState = NGHTTP2Error(NGHTTP2_ERR_INVALID_STREAM_STATE)
    static let dataExist = NGHTTP2Error(NGHTTP2_ERR_DATA_EXIST)
    static let noMemory = NGHTTP2Error(NGHTTP2_ERR_NOMEM)
    static let callbackFailure = NGHTTP2Error(NGHTTP2_ERR_CALLBACK_FAILURE)
    static let badClientMagic = NGHTTP2Error(NGHTTP2_ERR_BAD_CLIENT_MAGIC)
    static let flooded = NGHTTP2Error(NGHTTP2_ERR_FLOODED)
    static let tooManySettings = NGHTTP2Error(NGHTTP2_ERR_TOO_MANY_SETTINGS)
    /// nghttp2 ≥ 1.61 ends a CONTINUATION flood itself with this (-905).
    static let tooManyContinuations = NGHTTP2Error(NGHTTP2_ERR_TOO_MANY_CONTINUATIONS)

    /// The peer flooded us (control frames, SETTINGS, CONTINUATION): abuse, not a mistake.
    var isFlood: Bool { self == .flooded || self == .tooManySettings || self == .tooManyContinuations }

    /// nghttp2 cannot go on with the session (its docs: "fatal" codes).
    var isFatal: Bool { code < NGHTTP2_ERR_FATAL.rawValue }

    var description: String { "nghttp2 error \(code): \(String(cString: nghttp2_strerror(code)))" }
}

/// An HTTP/2 error code (RFC 9113 section 7), as sent in RST_STREAM and GOAWAY.
package struct HTTP2ErrorCode: RawRepresentable, Equatable, Hashable, CustomStringConvertible {
    package let rawValue: UInt32

    package init(rawValue: UInt32) { self.rawValue = rawValue }
    private init(_ code: nghttp2_error_code) { self.rawValue = code.rawValue }

    package static let noError = HTTP2ErrorCode(NGHTTP2_NO_ERROR)
    package static let protocolError = HTTP2ErrorCode(NGHTTP2_PROTOCOL_ERROR)
    package static let internalError = HTTP2ErrorCode(NGHTTP2_INTERNAL_ERROR)
    package static let flowControlError = HTTP2ErrorCode(NGHTTP2_FLOW_CONTROL_ERROR)
    package static let refusedStream = HTTP2ErrorCode(NGHTTP2_REFUSED_STREAM)
    package static let cancel = HTTP2ErrorCode(NGHTTP2_CANCEL)
    package static let enhanceYourCalm = HTTP2ErrorCode(NGHTTP2_ENHANCE_YOUR_CALM)

    package var description: String { String(cString: nghttp2_http2_strerror(rawValue)) }
}

/// The frame types the transport acts on.
package enum HTTP2FrameType: Equatable {
    case data, headers, rstStream, settings, ping, goAway, continuation, other(UInt8)

    init(_ raw: UInt8) {
        switch UInt32(raw) {
        case NGHTTP2_DATA.rawValue: self = .data
        case NGHTTP2_HEADERS.rawValue: self = .headers
        case NGHTTP2_RST_STREAM.rawValue: self = .rstStream
        case NGHTTP2_SETTINGS.rawValue: self = .settings
        case NGHTTP2_PING.rawValue: self = .ping
        case NGHTTP2_GOAWAY.rawValue: self = .goAway
        case NGHTTP2_CONTINUATION.rawValue: self = .continuation
        default: self = .other(raw)
        }
    }
}

/// What a HEADERS frame carries (nghttp2's category, from our side's view).
package enum HTTP2HeadersKind: Equatable {
    /// A request's headers (server side).
    case request
    /// A response's headers (client side).
    case response
    /// Trailers, or other headers after the first block.
    case trailers
    case other

    init(_ category: nghttp2_headers_category) {
        switch category {
        case NGHTTP2_HCAT_REQUEST: self = .request
        case NGHTTP2_HCAT_RESPONSE: self = .response
        case NGHTTP2_HCAT_HEADERS: self = .trailers
        default: self = .other
        }
    }
}

/// A frame's header, plus what the transport reads from its body.
package struct HTTP2Frame: Equatable {
    package var type: HTTP2FrameType
    package var streamID: Int32
    package var length: Int
    package var endStream = false
    /// SETTINGS or PING acknowledgement.
    package var ack = false
    /// HEADERS only.
    package var headersKind: HTTP2HeadersKind?
    /// PING only: the opaque payload.
    package var pingPayload: UInt64 = 0
    /// RST_STREAM and GOAWAY: the peer's error code.
    package var errorCode: HTTP2ErrorCode?

    package init(type: HTTP2FrameType, streamID: Int32, length: Int = 0) {
        self.type = type
        self.streamID = streamID
        self.length = length
    }

    fileprivate init(_ header: nghttp2_frame_hd) {
        self.init(type: HTTP2FrameType(header.type), streamID: header.stream_id, length: header.length)
        let flags = header.flags
        switch type {
        case .data, .headers: endStream = flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
        case .settings, .ping: ack = flags & UInt8(NGHTTP2_FLAG_ACK.rawValue) != 0
        default: break
        }
    }

    fileprivate init(_ frame: UnsafePointer<nghttp2_frame>) {
        self.init(frame.pointee.hd)
        switch type {
        case .headers: headersKind = HTTP2HeadersKind(frame.pointee.headers.cat)
        case .rstStream: errorCode = HTTP2ErrorCode(rawValue: frame.pointee.rst_stream.error_code)
        case .goAway: errorCode = HTTP2ErrorCode(rawValue: frame.pointee.goaway.error_code)
        case .ping: pingPayload = withUnsafeBytes(of: frame.pointee.ping.opaque_data) { $0.loadUnaligned(as: UInt64.self) }
        default: break
        }
    }
}

/// One SETTINGS entry.
struct HTTP2Setting: Equatable {
    fileprivate let id: Int32
    let value: UInt32

    static func maxConcurrentStreams(_ value: Int) -> HTTP2Setting { .init(id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), value: UInt32(value)) }
    static func initialWindowSize(_ value: Int) -> HTTP2Setting { .init(id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: UInt32(value)) }
    static func maxHeaderListSize(_ value: Int) -> HTTP2Setting { .init(id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue), value: UInt32(value)) }
    static func maxFrameSize(_ value: Int) -> HTTP2Setting { .init(id: Int32(NGHTTP2_SETTINGS_MAX_FRAME_SIZE.rawValue), value: UInt32(value)) }
    static let disablePush = HTTP2Setting(id: Int32(NGHTTP2_SETTINGS_ENABLE_PUSH.rawValue), value: 0)
}

/// A header block to submit: one of the blocks every call sends (built once,
/// handed to nghttp2 without copying), or fields.
enum HTTP2HeaderBlock {
    /// `:status 200`, `content-type application/grpc`.
    case grpcResponse
    /// `grpc-status 0`.
    case grpcTrailersOK
    /// A Trailers-Only OK response.
    case grpcTrailersOnlyOK
    case fields([(name: String, value: String)])
}

/// What a delegate answers to a frame or header: go on, refuse the stream
/// (RST_STREAM), or fail the whole session.
enum HTTP2CallbackResult {
    case proceed
    case refuseStream
    case failSession

    fileprivate var code: Int32 {
        switch self {
        case .proceed: return 0
        case .refuseStream: return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue
        case .failSession: return NGHTTP2_ERR_CALLBACK_FAILURE.rawValue
        }
    }
}

/// What a stream has for the next DATA frame.
enum HTTP2DataRead {
    /// This many bytes (at most the length asked for), copied in `sendData`.
    case bytes(Int)
    /// The last bytes queued: nghttp2 drops the stream's data source once
    /// they are sent (no END_STREAM), and `submitData` gives it a new one
    /// when more comes. Cheaper than `.bytes` then `.deferred`: one read and
    /// one scheduling of the stream per message instead of two.
    case lastBytes(Int)
    /// Nothing more: END_STREAM, unless trailers were submitted (`endStream: false`).
    case end(endStream: Bool)
    /// Nothing now; `resumeData` when there is.
    case deferred
}

/// What the session tells its owner. Called inside `receive` and `send` only.
protocol NGHTTP2SessionDelegate: AnyObject {
    /// Bytes to write to the socket; false when the socket buffer is full (try later).
    func sessionWrite(_ bytes: UnsafeRawBufferPointer) -> Bool
    /// A frame's 9-byte header arrived (before its body).
    func sessionBeginFrame(_ frame: HTTP2Frame) -> HTTP2CallbackResult
    /// A HEADERS frame opens a header block.
    func sessionBeginHeaders(_ frame: HTTP2Frame) -> HTTP2CallbackResult
    /// One header field of the block being received.
    func sessionHeader(_ frame: HTTP2Frame, name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) -> HTTP2CallbackResult
    /// A whole frame arrived (for HEADERS: after its last field).
    func sessionFrameReceived(_ frame: HTTP2Frame) -> HTTP2CallbackResult
    /// A frame was written.
    func sessionFrameSent(_ frame: HTTP2Frame)
    /// A frame nghttp2 rejected (it answers the peer itself).
    func sessionInvalidFrame(_ frame: HTTP2Frame, error: NGHTTP2Error)
    /// DATA payload for `streamID`. Connection credit is the owner's to return.
    func sessionData(streamID: Int32, _ bytes: UnsafeRawBufferPointer)
    /// The stream is closed (reset, or both sides done).
    func sessionStreamClosed(streamID: Int32, errorCode: HTTP2ErrorCode)
    /// How much of `streamID`'s outgoing data is ready, at most `maxLength`.
    func sessionReadData(streamID: Int32, maxLength: Int) -> HTTP2DataRead
    /// Writes one DATA frame: the 9-byte header, then `length` bytes of the
    /// stream's data. False when the socket buffer is full (try later).
    func sessionSendData(streamID: Int32, frameHeader: UnsafeRawBufferPointer, length: Int) -> Bool
}

/// An nghttp2 session: frames in and out, no I/O of its own. Flow-control
/// credit is returned by hand (no automatic WINDOW_UPDATE: see InboundFlow),
/// and at most 1000 unacknowledged PING/SETTINGS replies may queue.
final class NGHTTP2Session {
    private var raw: OpaquePointer?
    /// The owner, which outlives the session (it frees it).
    private unowned(unsafe) let delegate: any NGHTTP2SessionDelegate

    init(server: Bool, delegate: any NGHTTP2SessionDelegate) throws(NGHTTP2Error) {
        self.delegate = delegate
        var option: OpaquePointer?
        try Self.check(nghttp2_option_new(&option))
        defer { nghttp2_option_del(option) }
        nghttp2_option_set_no_auto_window_update(option, 1)
        nghttp2_option_set_max_outbound_ack(option, 1000)
        if server {
            // Rapid reset is the connection's own rule (ServerConnectionStateMachine:
            // only resets of streams younger than a second count, 1000 at once,
            // 33 a second). nghttp2's (the same numbers for every reset) would end
            // a dashboard's connection, and its other streams, for cancelling a
            // thousand watches: it stays only as a backstop far above ours.
            nghttp2_option_set_stream_reset_rate_limit(option, 100_000, 10_000)
        }
        let context = Unmanaged.passUnretained(self).toOpaque()
        let result =
            server
            ? nghttp2_session_server_new2(&raw, Self.callbacks, context, option)
            : nghttp2_session_client_new2(&raw, Self.callbacks, context, option)
        try Self.check(result)
    }

    deinit {
        if let raw { nghttp2_session_del(raw) }
    }

    private static func check(_ result: Int32) throws(NGHTTP2Error) {
        if result < 0 { throw NGHTTP2Error(result) }
    }

    // MARK: - Input and output

    /// Feeds received bytes; returns how many were processed (all, unless the
    /// session was ended from a callback).
    func receive(_ bytes: UnsafeRawBufferPointer) throws(NGHTTP2Error) -> Int {
        guard let base = bytes.baseAddress else { return 0 }
        let result = nghttp2_session_mem_recv(raw, base.assumingMemoryBound(to: UInt8.self), bytes.count)
        if result < 0 { throw NGHTTP2Error(Int32(result)) }
        return result
    }

    /// Lets nghttp2 write what it has queued, through `sessionWrite`.
    func send() throws(NGHTTP2Error) {
        try Self.check(nghttp2_session_send(raw))
    }

    var wantsRead: Bool { nghttp2_session_want_read(raw) != 0 }
    var wantsWrite: Bool { nghttp2_session_want_write(raw) != 0 }

    /// The highest stream id the peer opened and we processed (for GOAWAY).
    var lastProcessedStreamID: Int32 { nghttp2_session_get_last_proc_stream_id(raw) }

    /// Whether the peer has finished sending on `streamID`.
    func isRemoteClosed(_ streamID: Int32) -> Bool {
        nghttp2_session_get_stream_remote_close(raw, streamID) != 0
    }

    // MARK: - Submitting

    func submitSettings(_ settings: [HTTP2Setting]) throws(NGHTTP2Error) {
        var entries = settings.map { nghttp2_settings_entry(settings_id: $0.id, value: $0.value) }
        try Self.check(nghttp2_submit_settings(raw, UInt8(NGHTTP2_FLAG_NONE.rawValue), &entries, entries.count))
    }

    /// Opens the connection window to `size`.
    func setConnectionWindow(_ size: Int) throws(NGHTTP2Error) {
        try Self.check(nghttp2_session_set_local_window_size(raw, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, Int32(size)))
    }

    /// Response headers; with a body, nghttp2 asks `sessionReadData` for it.
    func submitResponse(streamID: Int32, _ block: HTTP2HeaderBlock, hasBody: Bool) throws(NGHTTP2Error) {
        let raw = self.raw
        let result = Self.withBlock(block) { nva, count in
            if hasBody {
                var provider = Self.dataProvider
                return nghttp2_submit_response(raw, streamID, nva, count, &provider)
            }
            return nghttp2_submit_response(raw, streamID, nva, count, nil)
        }
        try Self.check(result)
    }

    /// Trailers; allowed inside `sessionReadData` (then answer `.end(endStream: false)`).
    func submitTrailer(streamID: Int32, _ block: HTTP2HeaderBlock) throws(NGHTTP2Error) {
        let raw = self.raw
        try Self.check(Self.withBlock(block) { nva, count in nghttp2_submit_trailer(raw, streamID, nva, count) })
    }

    /// A request with a body; returns its stream id.
    func submitRequest(_ block: HTTP2HeaderBlock) throws(NGHTTP2Error) -> Int32 {
        let raw = self.raw
        let result = Self.withBlock(block) { nva, count in
            var provider = Self.dataProvider
            return nghttp2_submit_request(raw, nil, nva, count, &provider, nil)
        }
        try Self.check(result)
        return result
    }

    func submitReset(streamID: Int32, _ code: HTTP2ErrorCode) throws(NGHTTP2Error) {
        try Self.check(nghttp2_submit_rst_stream(raw, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, code.rawValue))
    }

    /// GOAWAY naming the last stream we processed.
    func submitGoAway(_ code: HTTP2ErrorCode, debug: String = "") throws(NGHTTP2Error) {
        var debugData = Array(debug.utf8)
        try Self.check(
            nghttp2_submit_goaway(raw, UInt8(NGHTTP2_FLAG_NONE.rawValue), lastProcessedStreamID, code.rawValue, &debugData, debugData.count))
    }

    /// The first GOAWAY of a graceful shutdown (last stream id 2^31-1).
    func submitShutdownNotice() throws(NGHTTP2Error) {
        try Self.check(nghttp2_submit_shutdown_notice(raw))
    }

    /// A PING with `payload` (keepalive).
    func submitPing(payload: UInt64) throws(NGHTTP2Error) {
        try withUnsafeBytes(of: payload) { (bytes) throws(NGHTTP2Error) in
            try Self.check(nghttp2_submit_ping(raw, UInt8(NGHTTP2_FLAG_NONE.rawValue), bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)))
        }
    }

    // MARK: - Flow control and data

    /// Returns connection credit for `count` received DATA bytes.
    func consumeConnection(_ count: Int) throws(NGHTTP2Error) {
        try Self.check(nghttp2_session_consume_connection(raw, count))
    }

    /// Returns `streamID`'s credit for `count` bytes. Fails once the stream is gone.
    func consumeStream(_ streamID: Int32, _ count: Int) throws(NGHTTP2Error) {
        try Self.check(nghttp2_session_consume_stream(raw, streamID, count))
    }

    /// Asks for a deferred stream's data again. Fails once the stream is gone.
    func resumeData(_ streamID: Int32) throws(NGHTTP2Error) {
        try Self.check(nghttp2_session_resume_data(raw, streamID))
    }

    /// Gives an open stream whose data source ended (`.lastBytes`) a new one,
    /// which ends the stream when it ends (`.end(endStream: true)`), as the
    /// source given with the headers does.
    func submitData(_ streamID: Int32) throws(NGHTTP2Error) {
        var provider = Self.dataProvider
        try Self.check(nghttp2_submit_data(raw, UInt8(NGHTTP2_FLAG_END_STREAM.rawValue), streamID, &provider))
    }

    // MARK: - Header blocks

    private static func withBlock(_ block: HTTP2HeaderBlock, _ body: (UnsafePointer<nghttp2_nv>, Int) -> Int32) -> Int32 {
        switch block {
        case .grpcResponse: return body(StaticHeaders.response.0, StaticHeaders.response.1)
        case .grpcTrailersOK: return body(StaticHeaders.trailersOK.0, StaticHeaders.trailersOK.1)
        case .grpcTrailersOnlyOK: return body(StaticHeaders.trailersOnlyOK.0, StaticHeaders.trailersOnlyOK.1)
        case .fields(let fields): return withHeaderFields(fields, body)
        }
    }

    /// Header lists that every call sends, built once and kept for the life of
    /// the process, so nghttp2 can use them without copying (NO_COPY flags).
    private enum StaticHeaders {
        nonisolated(unsafe) static let response = make([(":status", "200"), ("content-type", "application/grpc")])
        nonisolated(unsafe) static let trailersOK = make([("grpc-status", "0")])
        nonisolated(unsafe) static let trailersOnlyOK = make([(":status", "200"), ("content-type", "application/grpc"), ("grpc-status", "0")])

        private static func make(_ fields: [(String, String)]) -> (UnsafeMutablePointer<nghttp2_nv>, Int) {
            let nvs = UnsafeMutablePointer<nghttp2_nv>.allocate(capacity: fields.count)
            for (i, (name, value)) in fields.enumerated() {
                let n = strdup(name)!
                let v = strdup(value)!
                nvs[i] = nghttp2_nv(
                    name: UnsafeMutableRawPointer(n).assumingMemoryBound(to: UInt8.self),
                    value: UnsafeMutableRawPointer(v).assumingMemoryBound(to: UInt8.self),
                    namelen: name.utf8.count, valuelen: value.utf8.count,
                    flags: UInt8(NGHTTP2_NV_FLAG_NO_COPY_NAME.rawValue | NGHTTP2_NV_FLAG_NO_COPY_VALUE.rawValue))
            }
            return (nvs, fields.count)
        }
    }

    /// Builds header fields over one contiguous buffer for the duration of a
    /// submit call (nghttp2 copies them).
    private static func withHeaderFields(_ fields: [(name: String, value: String)], _ body: (UnsafePointer<nghttp2_nv>, Int) -> Int32) -> Int32 {
        var bytes: [UInt8] = []
        var offsets: [(Int, Int, Int, Int)] = []
        offsets.reserveCapacity(fields.count)
        for field in fields {
            let nameStart = bytes.count
            bytes.append(contentsOf: field.name.utf8)
            let valueStart = bytes.count
            bytes.append(contentsOf: field.value.utf8)
            offsets.append((nameStart, valueStart - nameStart, valueStart, bytes.count - valueStart))
        }
        if bytes.isEmpty { bytes.append(0) }
        return bytes.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            let nvs = offsets.map { nameStart, nameLength, valueStart, valueLength in
                nghttp2_nv(name: base + nameStart, value: base + valueStart, namelen: nameLength, valuelen: valueLength,
                    flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
            }
            return nvs.withUnsafeBufferPointer { body($0.baseAddress!, $0.count) }
        }
    }

    // MARK: - Callbacks

    private static func delegate(_ context: UnsafeMutableRawPointer?) -> any NGHTTP2SessionDelegate {
        Unmanaged<NGHTTP2Session>.fromOpaque(context!).takeUnretainedValue().delegate
    }

    /// Every stream's data comes through the delegate, by stream id.
    private static let dataProvider: nghttp2_data_provider = {
        var provider = nghttp2_data_provider()
        provider.read_callback = { _, streamID, _, length, flags, _, context in
            switch NGHTTP2Session.delegate(context).sessionReadData(streamID: streamID, maxLength: length) {
            case .bytes(let count):
                flags!.pointee |= NGHTTP2_DATA_FLAG_NO_COPY.rawValue
                return count
            case .lastBytes(let count):
                flags!.pointee |= NGHTTP2_DATA_FLAG_NO_COPY.rawValue | NGHTTP2_DATA_FLAG_EOF.rawValue | NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue
                return count
            case .end(let endStream):
                flags!.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
                if !endStream { flags!.pointee |= NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue }
                return 0
            case .deferred:
                return Int(NGHTTP2_ERR_DEFERRED.rawValue)
            }
        }
        return provider
    }()

    nonisolated(unsafe) private static let callbacks: OpaquePointer = {
        var callbacks: OpaquePointer?
        let result = nghttp2_session_callbacks_new(&callbacks)
        precondition(result == 0, "nghttp2_session_callbacks_new: \(NGHTTP2Error(result))")
        nghttp2_session_callbacks_set_send_callback(callbacks) { _, data, length, _, context in
            delegate(context).sessionWrite(UnsafeRawBufferPointer(start: data, count: length)) ? length : Int(NGHTTP2_ERR_WOULDBLOCK.rawValue)
        }
        nghttp2_session_callbacks_set_send_data_callback(callbacks) { _, frame, frameHeader, length, _, context in
            let header = UnsafeRawBufferPointer(start: frameHeader, count: 9)
            return delegate(context).sessionSendData(streamID: frame!.pointee.hd.stream_id, frameHeader: header, length: length)
                ? 0 : NGHTTP2_ERR_WOULDBLOCK.rawValue
        }
        nghttp2_session_callbacks_set_on_begin_frame_callback(callbacks) { _, header, context in
            delegate(context).sessionBeginFrame(HTTP2Frame(header!.pointee)).code
        }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks) { _, frame, context in
            delegate(context).sessionBeginHeaders(HTTP2Frame(frame!)).code
        }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) { _, frame, name, nameLength, value, valueLength, _, context in
            delegate(context).sessionHeader(
                HTTP2Frame(frame!), name: UnsafeRawBufferPointer(start: name, count: nameLength),
                value: UnsafeRawBufferPointer(start: value, count: valueLength)
            ).code
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, context in
            delegate(context).sessionFrameReceived(HTTP2Frame(frame!)).code
        }
        nghttp2_session_callbacks_set_on_frame_send_callback(callbacks) { _, frame, context in
            delegate(context).sessionFrameSent(HTTP2Frame(frame!))
            return 0
        }
        nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(callbacks) { _, frame, error, context in
            delegate(context).sessionInvalidFrame(HTTP2Frame(frame!), error: NGHTTP2Error(error))
            return 0
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, streamID, data, length, context in
            delegate(context).sessionData(streamID: streamID, UnsafeRawBufferPointer(start: data, count: length))
            return 0
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, streamID, errorCode, context in
            delegate(context).sessionStreamClosed(streamID: streamID, errorCode: HTTP2ErrorCode(rawValue: errorCode))
            return 0
        }
        return callbacks!
    }()
}
