import RPCCore

/// The client side of one gRPC call on one HTTP/2 stream.
final class H2ClientCall: H2Stream, ClientCallIO, @unchecked Sendable {
    // Response headers and trailers, as they arrive.
    private var httpStatus = 0
    private var contentType = ""
    private var grpcStatus: Int?
    private var grpcMessage: String?
    private var headerMetadata = Metadata()
    private var trailerMetadata = Metadata()
    private var readingTrailers = false
    private var headers: Metadata?
    private var headersWaiters: [CheckedContinuation<Metadata, any Error>] = []
    private var finalStatus: (Status, Metadata)?
    private var statusWaiters: [CheckedContinuation<(Status, Metadata), Never>] = []
    var deadlineTimer: (any TransportTimer)?
    /// How request messages are compressed.
    var compression = MessageEncoding.identity
    /// Set when we ended the call ourselves (cancel, deadline).
    private var localStatus: Status?

    // MARK: - ClientCallIO

    func send(framedMessage: [UInt8]) async throws {
        try await sendMessage(MessageCompression.compress(framedMessage, compression))
    }

    override var canSend: Bool { super.canSend && localStatus == nil }

    func closeSend() {
        loop.execute { [self] in
            if state.finishSending() == .afterData { resumeData() }
        }
    }

    func responseHeaders() async throws -> Metadata {
        if !loop.inEventLoop {
            return try await withTaskExecutorPreference(loop) { try await self.responseHeaders() }
        }
        if let headers { return headers }
        if let (status, trailers) = finalStatus {
            if status.code == .ok { return [:] }
            throw RPCError(status: status, metadata: trailers)
        }
        return try await withCheckedThrowingContinuation { headersWaiters.append($0) }
    }

    func receive() async throws -> [UInt8]? {
        try await receiveMessage()
    }

    func status() async -> (Status, Metadata) {
        if !loop.inEventLoop {
            return await withTaskExecutorPreference(loop) { await self.status() }
        }
        if let finalStatus { return finalStatus }
        return await withCheckedContinuation { statusWaiters.append($0) }
    }

    func cancel() {
        loop.execute { [self] in
            end(locally: Status(code: .cancelled, message: "the call was cancelled by the client"))
        }
    }

    // MARK: - Loop side

    /// Ends the call from this side: RST_STREAM CANCEL, and `status` for the caller.
    func end(locally status: Status) {
        guard finalStatus == nil, !closed else { return }
        localStatus = status
        connection?.resetStream(streamID, .cancel)
        let error = RPCError(status: status)
        complete(status, [:])
        failReceiving(error)
        wakeWriter(error: error)
    }

    func deadlineExceeded() {
        end(locally: Status(code: .deadlineExceeded, message: "the deadline was exceeded"))
    }

    func onHeader(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, trailers: Bool) {
        if name.equals(":status") {
            httpStatus = Int(value.string) ?? 0
        } else if name.equals("content-type") {
            contentType = value.string
        } else if name.equals("grpc-status") {
            grpcStatus = Int(value.string)
        } else if name.equals("grpc-message") {
            grpcMessage = PercentEncoding.decode(value)
        } else if name.equals("grpc-encoding") {
            // Compressed responses inflate within the message limit; an encoding
            // we do not speak leaves compressed messages an error.
            if let encoding = MessageCompression.encoding(named: value.equals("identity") ? "" : value.string) {
                state.setDecompressor(MessageCompression.decompressor(for: encoding))
            }
        } else if !Metadata.isReserved(name.string) {
            if trailers || readingTrailers {
                trailerMetadata.addWire(name: name.string, value: Array(value))
            } else {
                headerMetadata.addWire(name: name.string, value: Array(value))
            }
        }
    }

    /// A complete HEADERS frame: the response headers, trailers, or Trailers-Only.
    func onHeadersFrame(endStream: Bool) {
        if headers == nil && !readingTrailers {
            readingTrailers = true
            if endStream {
                // Trailers-Only: everything came in one block.
                trailerMetadata = headerMetadata
                headerMetadata = [:]
            } else {
                headers = headerMetadata
                let waiters = headersWaiters
                headersWaiters.removeAll()
                for waiter in waiters { waiter.resume(returning: headerMetadata) }
            }
        }
        if endStream {
            receivedEndOfStream()
            complete(resolvedStatus(), trailerMetadata)
        }
    }

    /// The status from what the server sent (gRPC over HTTP/2, "Responses").
    private func resolvedStatus() -> Status {
        if let code = grpcStatus {
            return Status(code: Status.Code(rawValue: code), message: grpcMessage ?? "")
        }
        if httpStatus != 200 {
            let code: Status.Code
            switch httpStatus {
            case 400: code = .internal
            case 401: code = .unauthenticated
            case 403: code = .permissionDenied
            case 404: code = .unimplemented
            case 429, 502, 503, 504: code = .unavailable
            default: code = .unknown
            }
            return Status(code: code, message: "HTTP status \(httpStatus) without a gRPC status")
        }
        if !contentType.hasPrefix("application/grpc") {
            return Status(code: .unknown, message: "the response is not gRPC (content-type \"\(contentType)\")")
        }
        return Status(code: .internal, message: "the server ended the call without a status")
    }

    private func complete(_ status: Status, _ trailers: Metadata) {
        guard finalStatus == nil else { return }
        deadlineTimer?.cancel()
        deadlineTimer = nil
        finalStatus = (status, trailers)
        let waiters = statusWaiters
        statusWaiters.removeAll()
        for waiter in waiters { waiter.resume(returning: (status, trailers)) }
        let headerWaiters = headersWaiters
        headersWaiters.removeAll()
        for waiter in headerWaiters {
            if status.code == .ok {
                waiter.resume(returning: [:])
            } else {
                waiter.resume(throwing: RPCError(status: status, metadata: trailers))
            }
        }
    }

    /// The stream closed; `errorCode` is from RST_STREAM when the server reset it.
    func onClose(errorCode: HTTP2ErrorCode, connectionError: RPCError?) {
        let status: Status
        if let localStatus {
            status = localStatus
        } else if let connectionError {
            status = connectionError.status
        } else if errorCode == .noError {
            status = resolvedStatus()
        } else if errorCode == .refusedStream {
            status = Status(code: .unavailable, message: "the server refused the stream (it may be shutting down)")
        } else if errorCode == .cancel {
            status = Status(code: .cancelled, message: "the server cancelled the call")
        } else if errorCode == .enhanceYourCalm {
            status = Status(code: .resourceExhausted, message: "the server says: enhance your calm")
        } else {
            status = Status(code: .internal, message: "the server reset the stream (HTTP/2 error \(errorCode.rawValue): \(errorCode))")
        }
        if finalStatus == nil && !state.inbound.ended && localStatus == nil {
            // Messages that arrived before an abnormal end stay readable; then the error.
            state.failAfterMessages(RPCError(status: status))
        }
        complete(status, trailerMetadata)
        streamClosed(error: RPCError(status: finalStatus?.0 ?? status))
    }

    override func streamClosed(error: RPCError) {
        deadlineTimer?.cancel()
        deadlineTimer = nil
        if finalStatus == nil {
            complete(error.status, [:])
        }
        super.streamClosed(error: error)
    }
}
