import CNGHTTP2
import RPCCore

/// The server side of one gRPC call on one HTTP/2 stream: what the router reads
/// requests from and writes responses to.
final class H2ServerCall: H2Stream, ServerCallIO, @unchecked Sendable {
    // The request, as its headers arrive.
    var method = ""
    var path = ""
    var contentType = ""
    var timeoutHeader: [UInt8]?
    var encoding = ""
    var metadata = Metadata()
    var headerBytes = 0
    var malformedMetadata: String?

    // The response.
    var headersSubmitted = false
    var finished = false
    /// Trailers waiting for the data before them; empty means `grpc-status: 0` alone.
    private var trailerFields: [(name: String, value: String)]?
    var handlerTask: Task<Void, Never>?
    var deadlineTimer: (any TransportTimer)?

    // MARK: - ServerCallIO

    func receive() async throws -> [UInt8]? {
        try await receiveMessage()
    }

    func sendHeaders(_ metadata: Metadata) async throws {
        if !loop.inEventLoop {
            return try await withTaskExecutorPreference(loop) { try await self.sendHeaders(metadata) }
        }
        guard !headersSubmitted else { return }
        guard canSend else { throw closeError }
        submitHeaders(metadata)
    }

    func send(framedMessage: [UInt8]) async throws {
        try await sendMessage(framedMessage)
    }

    func receiveSingle() async throws -> [UInt8] {
        // The fast path: on the loop, with the whole request here (usually the
        // request and END_STREAM came together), no suspension at all.
        if loop.inEventLoop, inbound.messages.count == 1, inbound.ended, let bytes = try receiveSingleNow() {
            return bytes
        }
        if !loop.inEventLoop {
            return try await withTaskExecutorPreference(loop) { try await self.receiveSingleByReceiving() }
        }
        return try await receiveSingleByReceiving()
    }

    private func receiveSingleNow() throws -> [UInt8]? {
        guard let (message, credit) = inbound.take() else { return nil }
        connection?.consumeStream(streamID, credit)
        if case .failure(let error)? = inbound.terminal { throw error }
        return message
    }

    private func respondNow(headers: Metadata, framedMessage: [UInt8], trailers: Metadata) {
        if !headersSubmitted { submitHeaders(headers) }
        // One message: queue it and the trailers together, without waiting.
        pending.append(framedMessage)
        finishOnLoop(status: .ok, trailers: trailers)
    }

    func respond(headers: Metadata, framedMessage: [UInt8], trailers: Metadata) async throws {
        // On the loop, headers, message and trailers are queued without waiting.
        if !loop.inEventLoop {
            return try await withTaskExecutorPreference(loop) {
                try await self.respond(headers: headers, framedMessage: framedMessage, trailers: trailers)
            }
        }
        guard canSend else { throw closeError }
        respondNow(headers: headers, framedMessage: framedMessage, trailers: trailers)
    }

    func cancelHandler() {
        loop.execute { self.handlerTask?.cancel() }
    }

    func finish(status: Status, trailers: Metadata) async {
        if !loop.inEventLoop {
            return await withTaskExecutorPreference(loop) { await self.finish(status: status, trailers: trailers) }
        }
        finishOnLoop(status: status, trailers: trailers)
    }

    // MARK: - Response (loop thread)

    override var canSend: Bool { !closed && !finished }

    override func prepareToSend() throws {
        if !headersSubmitted { submitHeaders([:]) }
    }

    private func submitHeaders(_ metadata: Metadata) {
        guard let connection, let session = connection.session else { return }
        headersSubmitted = true
        var provider = H2Connection.dataProvider(for: self)
        let streamID = self.streamID
        let result: Int32
        if metadata.isEmpty {
            let (nva, count) = StaticHeaders.response
            result = nghttp2_submit_response(session, streamID, nva, count, &provider)
        } else {
            var fields: [(name: String, value: String)] = [(":status", "200"), ("content-type", "application/grpc")]
            fields.append(contentsOf: Self.bounded(metadata.wireHeaders()))
            result = withHeaderFields(fields) { nva, count in nghttp2_submit_response(session, streamID, nva, count, &provider) }
        }
        submitted(result)
        connection.markDirty()
    }

    /// Metadata we put in one header block at most (peers refuse larger blocks:
    /// grpcio's default limit is 8 KiB); past it, metadata is left out.
    static let maxMetadataBytes = 6 << 10

    static func statusFields(_ status: Status, _ trailers: Metadata) -> [(name: String, value: String)] {
        var fields: [(name: String, value: String)] = [("grpc-status", String(status.code.rawValue))]
        if !status.message.isEmpty {
            fields.append(("grpc-message", PercentEncoding.encode(Status.bounded(status.message))))
        }
        fields.append(contentsOf: bounded(trailers.wireHeaders()))
        return fields
    }

    /// `fields` while they fit in `maxMetadataBytes` (counted as HPACK does, 32 a field).
    static func bounded(_ fields: [(name: String, value: String)]) -> [(name: String, value: String)] {
        var size = 0
        var kept: [(name: String, value: String)] = []
        for field in fields {
            size += field.name.utf8.count + field.value.utf8.count + 32
            if size > maxMetadataBytes { break }
            kept.append(field)
        }
        return kept
    }

    /// A response, trailer or reset nghttp2 refused: the stream cannot carry the
    /// status, so it is reset (INTERNAL_ERROR); the client still learns the call
    /// failed instead of waiting forever.
    private func submitted(_ result: Int32) {
        guard result != 0, let connection, let session = connection.session else { return }
        _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), streamID, NGHTTP2_INTERNAL_ERROR.rawValue)
        connection.markDirty()
    }

    /// Ends the call: trailers after the data, or a Trailers-Only response.
    func finishOnLoop(status: Status, trailers: Metadata) {
        guard !finished else { return }
        finished = true
        deadlineTimer?.cancel()
        deadlineTimer = nil
        guard !closed, let connection, let session = connection.session else { return }
        let plainOK = status.code == .ok && status.message.isEmpty && trailers.isEmpty
        let fields = plainOK ? [] : Self.statusFields(status, trailers)
        if headersSubmitted {
            trailerFields = fields
            resumeData()
        } else {
            headersSubmitted = true
            let streamID = self.streamID
            if plainOK {
                let (nva, count) = StaticHeaders.trailersOnlyOK
                submitted(nghttp2_submit_response(session, streamID, nva, count, nil))
            } else {
                submitted(withHeaderFields([(":status", "200"), ("content-type", "application/grpc")] + fields) { nva, count in
                    nghttp2_submit_response(session, streamID, nva, count, nil)
                })
            }
            connection.markDirty()
        }
        // Whatever the client still sends is not read: return its credit.
        releaseInboundCredit()
        wakeWriter(error: RPCError(code: .cancelled, message: "the call has ended"))
    }

    /// Ends the call with an HTTP status other than 200 (not a gRPC request).
    func rejectHTTP(status: Int, grpcStatus: Status) {
        guard !finished, let connection, let session = connection.session else { return }
        finished = true
        headersSubmitted = true
        let fields: [(name: String, value: String)] = [
            (":status", String(status)), ("content-type", "application/grpc"),
            ("grpc-status", String(grpcStatus.code.rawValue)),
            ("grpc-message", PercentEncoding.encode(Status.bounded(grpcStatus.message))),
        ]
        let streamID = self.streamID
        submitted(withHeaderFields(fields) { nva, count in nghttp2_submit_response(session, streamID, nva, count, nil) })
        connection.markDirty()
    }

    override func endOfData(flags: UnsafeMutablePointer<UInt32>) -> Bool {
        guard let fields = trailerFields, let connection, let session = connection.session else { return false }
        trailerFields = nil
        flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue | NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue
        let streamID = self.streamID
        if fields.isEmpty {
            let (nva, count) = StaticHeaders.trailersOK
            submitted(nghttp2_submit_trailer(session, streamID, nva, count))
        } else {
            submitted(withHeaderFields(fields) { nva, count in nghttp2_submit_trailer(session, streamID, nva, count) })
        }
        return true
    }

    /// The deadline passed: DEADLINE_EXCEEDED, and the handler is cancelled.
    func deadlineExceeded() {
        guard !finished else { return }
        finishOnLoop(status: Status(code: .deadlineExceeded, message: "the deadline was exceeded"), trailers: [:])
        receiveFailed(RPCError(code: .deadlineExceeded, message: "the deadline was exceeded"))
        handlerTask?.cancel()
    }

    override func receiveFailed(_ error: RPCError) {
        super.receiveFailed(error)
        // Bad input (oversized or truncated message) ends the call at once.
        if !finished && error.code != .deadlineExceeded && error.code != .cancelled {
            finishOnLoop(status: error.status, trailers: [:])
            handlerTask?.cancel()
        }
    }

    override func streamClosed(error: RPCError) {
        let wasFinished = finished
        deadlineTimer?.cancel()
        deadlineTimer = nil
        super.streamClosed(error: error)
        finished = true
        if !wasFinished {
            // The client reset the stream or went away: stop the handler.
            handlerTask?.cancel()
        }
    }
}
