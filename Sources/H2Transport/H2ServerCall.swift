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
    var deadlineTimer: LoopTimer?

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
        if metadata.isEmpty {
            let (nva, count) = StaticHeaders.response
            nghttp2_submit_response(session, streamID, nva, count, &provider)
        } else {
            var fields: [(name: String, value: String)] = [(":status", "200"), ("content-type", "application/grpc")]
            fields.append(contentsOf: metadata.wireHeaders())
            withHeaderFields(fields) { nva, count in
                _ = nghttp2_submit_response(session, streamID, nva, count, &provider)
            }
        }
        connection.markDirty()
    }

    static func statusFields(_ status: Status, _ trailers: Metadata) -> [(name: String, value: String)] {
        var fields: [(name: String, value: String)] = [("grpc-status", String(status.code.rawValue))]
        if !status.message.isEmpty {
            fields.append(("grpc-message", PercentEncoding.encode(status.message)))
        }
        fields.append(contentsOf: trailers.wireHeaders())
        return fields
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
                nghttp2_submit_response(session, streamID, nva, count, nil)
            } else {
                withHeaderFields([(":status", "200"), ("content-type", "application/grpc")] + fields) { nva, count in
                    _ = nghttp2_submit_response(session, streamID, nva, count, nil)
                }
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
            ("grpc-message", PercentEncoding.encode(grpcStatus.message)),
        ]
        let streamID = self.streamID
        withHeaderFields(fields) { nva, count in
            _ = nghttp2_submit_response(session, streamID, nva, count, nil)
        }
        connection.markDirty()
    }

    override func endOfData(flags: UnsafeMutablePointer<UInt32>) -> Bool {
        guard let fields = trailerFields, let connection, let session = connection.session else { return false }
        trailerFields = nil
        flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue | NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue
        let streamID = self.streamID
        if fields.isEmpty {
            let (nva, count) = StaticHeaders.trailersOK
            nghttp2_submit_trailer(session, streamID, nva, count)
        } else {
            withHeaderFields(fields) { nva, count in
                _ = nghttp2_submit_trailer(session, streamID, nva, count)
            }
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
