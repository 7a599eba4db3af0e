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
    var acceptEncoding = ""
    /// How response messages are compressed (the request's encoding, when accepted).
    var responseEncoding = MessageEncoding.identity
    var metadata = Metadata()
    var headerBytes = 0
    var malformedMetadata: String?
    /// When its HEADERS began (a reset of a young stream counts as a rapid one).
    var openedAt = ContinuousClock.Instant.now

    // The response.
    /// Trailers waiting for the data before them; empty means `grpc-status: 0` alone.
    private var trailerFields: [(name: String, value: String)] = []
    var handlerTask: Task<Void, Never>?
    /// Set while the call waits for the rest of its one request message before
    /// its handler starts (its deadline, if any); loop only.
    var pendingStart: ContinuousClock.Instant??
    /// The handler's task ran to its end; loop only.
    private(set) var handlerHasReturned = false
    var deadlineTimer: (any TransportTimer)?
    /// What runs when the call ends from this side (a parked call's end); loop only.
    private var terminationHandler: (@Sendable (RPCError?) -> Void)?
    private var terminationReason: RPCError?
    private var terminatedHere = false

    // MARK: - ServerCallIO

    func receive() async throws -> [UInt8]? {
        try await receiveMessage()
    }

    func sendHeaders(_ metadata: Metadata) async throws {
        if !loop.inEventLoop {
            return try await withTaskExecutorPreference(loop) { try await self.sendHeaders(metadata) }
        }
        // Headers already sent (with or before the first message): nothing to do.
        if state.sendPhase != .idle && !closed { return }
        guard canSend else { throw closeError }
        submitHeaders(metadata)
    }

    func send(framedMessage: [UInt8]) async throws {
        try await sendMessage(MessageCompression.compress(framedMessage, responseEncoding))
    }

    func offer(framedMessage: [UInt8]) -> Bool {
        // A compressed stream compresses each message: that is a writer's work, not a broadcast's.
        guard responseEncoding == .identity else { return false }
        return offerMessage(framedMessage)
    }

    var offerExecutor: (any TaskExecutor)? { loop }

    var offeredBytes: Int { offeredPayload.load(ordering: .relaxed) }

    func receiveSingle() async throws -> [UInt8] {
        // The fast path: on the loop, with the whole request here (usually the
        // request and END_STREAM came together), no suspension at all.
        if loop.inEventLoop, state.inbound.messages.count == 1, state.inbound.ended, let bytes = try receiveSingleNow() {
            return bytes
        }
        if !loop.inEventLoop {
            return try await withTaskExecutorPreference(loop) { try await self.receiveSingleByReceiving() }
        }
        return try await receiveSingleByReceiving()
    }

    private func receiveSingleNow() throws -> [UInt8]? {
        guard let message = takeMessage() else { return nil }
        if case .failure(let error)? = state.terminal { throw error }
        return message
    }

    private func respondNow(headers: Metadata, framedMessage: [UInt8], trailers: Metadata) {
        submitHeaders(headers)
        // One message: queue it and the trailers together, without waiting.
        enqueue(MessageCompression.compress(framedMessage, responseEncoding))
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
        loop.execute {
            self.handlerTask?.cancel()
            self.fireTerminated()
        }
    }

    /// The handler's task ended: its handle goes, and with it the task's
    /// memory (a parked call outlives its task).
    func handlerReturned() {
        guard loop.inEventLoop else {
            loop.execute { self.handlerReturned() }
            return
        }
        handlerHasReturned = true
        handlerTask = nil
    }

    var supportsParking: Bool { true }

    func onTerminated(_ body: @escaping @Sendable (RPCError?) -> Void) {
        loop.execute {
            if self.terminatedHere {
                body(self.terminationReason)
            } else {
                self.terminationHandler = body
            }
        }
    }

    /// The call ended from the transport's side (`reason`: the status it
    /// ended with, when the transport chose one): a parked call hears of it.
    private func fireTerminated(_ reason: RPCError? = nil) {
        if !terminatedHere { terminationReason = reason }
        terminatedHere = true
        let handler = terminationHandler
        terminationHandler = nil
        handler?(terminationReason)
    }

    func finish(status: Status, trailers: Metadata) async {
        if !loop.inEventLoop {
            return await withTaskExecutorPreference(loop) { await self.finish(status: status, trailers: trailers) }
        }
        finishOnLoop(status: status, trailers: trailers)
    }

    // MARK: - Response (loop thread)

    /// The status was decided (it may still wait behind data).
    var finished: Bool { state.sendPhase == .closing || state.sendPhase == .done }

    override func prepareToSend() throws {
        submitHeaders([:])
    }

    /// Submits the response headers, unless they went out already.
    private func submitHeaders(_ metadata: Metadata) {
        guard state.openSending(), let session = connection?.session else { return }
        let block: HTTP2HeaderBlock
        if metadata.isEmpty && responseEncoding == .identity {
            block = .grpcResponse
        } else {
            var fields: [(name: String, value: String)] = [(":status", "200"), ("content-type", "application/grpc")]
            if responseEncoding != .identity {
                fields += [("grpc-encoding", responseEncoding.rawValue), ("grpc-accept-encoding", MessageCompression.accepted)]
            }
            block = .fields(fields + Self.bounded(metadata.wireHeaders()))
        }
        submitted { () throws(NGHTTP2Error) in try session.submitResponse(streamID: streamID, block, hasBody: true) }
    }

    /// Metadata we put in one header block at most (peers refuse larger blocks:
    /// grpcio's default limit is 8 KiB); past it, metadata is left out.
    static let maxMetadataBytes = 6 << 10

    static func statusFields(_ status: Status, _ trailers: Metadata, transportFields: [(name: String, value: String)] = [])
        -> [(name: String, value: String)]
    {
        let metadata = bounded(trailers.wireHeaders())
        var fields: [(name: String, value: String)] = []
        fields.reserveCapacity(2 + transportFields.count + metadata.count)
        fields.append(("grpc-status", String(status.code.rawValue)))
        if !status.message.isEmpty {
            fields.append(("grpc-message", PercentEncoding.encode(Status.bounded(status.message))))
        }
        fields += transportFields
        fields += metadata
        return fields
    }

    /// `fields` while they fit in `maxMetadataBytes` (counted as HPACK does, 32 a field).
    static func bounded(_ fields: [(name: String, value: String)]) -> [(name: String, value: String)] {
        var size = 0
        for (index, field) in fields.enumerated() {
            size += field.name.utf8.count + field.value.utf8.count + 32
            if size > maxMetadataBytes { return Array(fields[..<index]) }
        }
        return fields
    }

    /// Runs a submit. One nghttp2 refused leaves the stream unable to carry the
    /// status, so it is reset (INTERNAL_ERROR): the client still learns the call
    /// failed instead of waiting forever.
    private func submitted(_ submit: () throws(NGHTTP2Error) -> Void) {
        guard let connection else { return }
        do {
            try submit()
        } catch {
            connection.resetStream(streamID, .internalError)
        }
        connection.markDirty()
    }

    /// Ends the call: trailers after the data, or a Trailers-Only response.
    /// `transportFields`: reserved headers the transport adds (`grpc-accept-encoding`).
    func finishOnLoop(status: Status, trailers: Metadata, transportFields: [(name: String, value: String)] = []) {
        deadlineTimer?.cancel()
        deadlineTimer = nil
        let plainOK = status.code == .ok && status.message.isEmpty && trailers.isEmpty && transportFields.isEmpty
        switch state.finishSending() {
        case .alreadyDone:
            return
        case .afterData:
            trailerFields = plainOK ? [] : Self.statusFields(status, trailers, transportFields: transportFields)
            resumeData()
        case .headersOnly:
            guard let session = connection?.session else { return }
            let block: HTTP2HeaderBlock =
                plainOK
                ? .grpcTrailersOnlyOK
                : .fields([(":status", "200"), ("content-type", "application/grpc")] + Self.statusFields(status, trailers, transportFields: transportFields))
            submitted { () throws(NGHTTP2Error) in try session.submitResponse(streamID: streamID, block, hasBody: false) }
        }
        // Whatever the client still sends is not read: return its credit.
        releaseInboundCredit()
        wakeWriter(error: RPCError(code: .cancelled, message: "the call has ended"))
    }

    /// Ends the call with an HTTP status other than 200 (not a gRPC request).
    func rejectHTTP(status: Int, grpcStatus: Status) {
        guard state.finishSending() == .headersOnly, let session = connection?.session else { return }
        let fields: [(name: String, value: String)] = [
            (":status", String(status)), ("content-type", "application/grpc"),
            ("grpc-status", String(grpcStatus.code.rawValue)),
            ("grpc-message", PercentEncoding.encode(Status.bounded(grpcStatus.message))),
        ]
        submitted { () throws(NGHTTP2Error) in try session.submitResponse(streamID: streamID, .fields(fields), hasBody: false) }
    }

    override func endOfData() -> HTTP2DataRead {
        guard let session = connection?.session else { return .end(endStream: true) }
        let block: HTTP2HeaderBlock = trailerFields.isEmpty ? .grpcTrailersOK : .fields(trailerFields)
        trailerFields = []
        do {
            try session.submitTrailer(streamID: streamID, block)
            return .end(endStream: false)
        } catch {
            // No trailers: end the stream with a reset, which the client reads as a failure.
            connection?.resetStream(streamID, .internalError)
            return .end(endStream: true)
        }
    }

    /// The deadline passed: DEADLINE_EXCEEDED, and the handler is cancelled.
    func deadlineExceeded() {
        guard !finished else { return }
        finishOnLoop(status: Status(code: .deadlineExceeded, message: "the deadline was exceeded"), trailers: [:])
        failReceiving(RPCError(code: .deadlineExceeded, message: "the deadline was exceeded"))
        handlerTask?.cancel()
        fireTerminated(RPCError(code: .deadlineExceeded, message: "the deadline was exceeded"))
    }

    override func receiveFailed(_ error: RPCError) {
        // Bad input (oversized or truncated message) ends the call at once.
        if !finished && error.code != .deadlineExceeded && error.code != .cancelled {
            finishOnLoop(status: error.status, trailers: [:])
            handlerTask?.cancel()
            fireTerminated(error)
        }
    }

    override func streamClosed(error: RPCError) {
        let wasFinished = finished
        deadlineTimer?.cancel()
        deadlineTimer = nil
        super.streamClosed(error: error)
        if !wasFinished {
            // The client reset the stream or went away: stop the handler.
            handlerTask?.cancel()
        }
        fireTerminated()
    }
}
