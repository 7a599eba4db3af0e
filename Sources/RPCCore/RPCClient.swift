/// Per-call options of a client call.
public struct CallOptions: Sendable {
    /// The call fails with DEADLINE_EXCEEDED after this long (sent as `grpc-timeout`).
    public var timeout: Duration?
    /// Request metadata, after the client's default metadata.
    public var metadata: Metadata
    /// How request messages are compressed (`grpc-encoding`); identity: not at all.
    public var compression: MessageEncoding

    public init(timeout: Duration? = nil, metadata: Metadata = [:], compression: MessageEncoding = .identity) {
        self.timeout = timeout
        self.metadata = metadata
        self.compression = compression
    }

    public static let defaults = CallOptions()
}

/// A unary response with the metadata that came with it.
public struct ClientResponse<Message: Sendable>: Sendable {
    public var message: Message
    public var initialMetadata: Metadata
    public var trailingMetadata: Metadata
}

/// Typed calls of the four kinds over any `ClientTransport`.
public struct RPCClient: Sendable {
    public let transport: any ClientTransport
    /// Sent with every call, before the call's own metadata (e.g. `authorization`).
    public var defaultMetadata: Metadata

    public init(transport: any ClientTransport, defaultMetadata: Metadata = [:]) {
        self.transport = transport
        self.defaultMetadata = defaultMetadata
    }

    private func open(_ method: MethodDescriptor, _ options: CallOptions) async throws -> any ClientCallIO {
        var metadata = defaultMetadata
        metadata.merge(options.metadata)
        return try await transport.openCall(method: method, metadata: metadata, timeout: options.timeout, compression: options.compression)
    }

    public func unary<Request: RPCMessage, Response: RPCMessage>(
        _ method: MethodDescriptor, request: Request, options: CallOptions = .defaults
    ) async throws -> Response {
        try await unaryResponse(method, request: request, options: options).message
    }

    /// A unary call that also returns the response metadata.
    public func unaryResponse<Request: RPCMessage, Response: RPCMessage>(
        _ method: MethodDescriptor, request: Request, options: CallOptions = .defaults
    ) async throws -> ClientResponse<Response> {
        let call = try await open(method, options)
        return try await withTaskCancellationHandler {
            try await Self.sendOnly(request, on: call)
            return try await Self.singleResponse(call)
        } onCancel: {
            call.cancel()
        }
    }

    public func clientStreaming<Request: RPCMessage, Response: RPCMessage>(
        _ method: MethodDescriptor, options: CallOptions = .defaults,
        requests: @Sendable (RPCWriter<Request>) async throws -> Void
    ) async throws -> Response {
        let call = try await open(method, options)
        return try await withTaskCancellationHandler {
            do {
                try await requests(Self.writer(call))
                call.closeSend()
            } catch is RPCError {
                // The server answered while requests were still being sent (e.g. it
                // refused the input): its status, or its early response, is the answer.
                let (status, trailers) = await call.status()
                if status.code != .ok { throw RPCError(status: status, metadata: trailers) }
            } catch {
                call.cancel()
                throw error
            }
            return try await Self.singleResponse(call).message
        } onCancel: {
            call.cancel()
        }
    }

    public func serverStreaming<Request: RPCMessage, Response: RPCMessage, Result: Sendable>(
        _ method: MethodDescriptor, request: Request, options: CallOptions = .defaults,
        onResponse: (RPCAsyncSequence<Response>) async throws -> Result
    ) async throws -> Result {
        let call = try await open(method, options)
        return try await withTaskCancellationHandler {
            try await Self.sendOnly(request, on: call)
            return try await Self.consume(call, onResponse)
        } onCancel: {
            call.cancel()
        }
    }

    public func bidirectionalStreaming<Request: RPCMessage, Response: RPCMessage, Result: Sendable>(
        _ method: MethodDescriptor, options: CallOptions = .defaults,
        requests: @escaping @Sendable (RPCWriter<Request>) async throws -> Void,
        onResponse: (RPCAsyncSequence<Response>) async throws -> Result
    ) async throws -> Result {
        let call = try await open(method, options)
        return try await withTaskCancellationHandler {
            let sender = Task {
                do {
                    try await requests(Self.writer(call))
                    call.closeSend()
                } catch is RPCError {
                    // The call ended; the response side reports its status.
                } catch {
                    call.cancel()
                }
            }
            defer { sender.cancel() }
            return try await Self.consume(call, onResponse)
        } onCancel: {
            call.cancel()
        }
    }

    // MARK: - Plumbing

    /// Hands the responses to `onResponse`; then cancels the call, which stops
    /// the stream if the caller left early and does nothing otherwise.
    static func consume<Response: RPCMessage, Result>(
        _ call: any ClientCallIO, _ onResponse: (RPCAsyncSequence<Response>) async throws -> Result
    ) async throws -> Result {
        defer { call.cancel() }
        return try await onResponse(responses(call))
    }

    /// Sends the one request of a unary or server-streaming call and closes the
    /// sending side. When the server ended the call before taking it, its status
    /// is what is thrown.
    static func sendOnly<Request: RPCMessage>(_ request: Request, on call: any ClientCallIO) async throws {
        do {
            try await call.send(framedMessage: MessageFraming.frame(request))
            call.closeSend()
        } catch let error as RPCError {
            try await throwStatus(call, orElse: error)
        }
    }

    static func writer<Message: RPCMessage>(_ call: any ClientCallIO) -> RPCWriter<Message> {
        RPCWriter { message in
            try await call.send(framedMessage: MessageFraming.frame(message))
        }
    }

    static func decode<Message: RPCMessage>(_ bytes: [UInt8], _ call: any ClientCallIO) throws -> Message {
        do {
            return try Message(serializedBytes: bytes)
        } catch {
            call.cancel()
            throw RPCError(code: .internal, message: "could not decode the response as \(Message.self)")
        }
    }

    static func responses<Message: RPCMessage>(_ call: any ClientCallIO) -> RPCAsyncSequence<Message> {
        RPCAsyncSequence {
            if let bytes = try await call.receive() {
                return try decode(bytes, call)
            }
            let (status, trailers) = await call.status()
            guard status.code == .ok else { throw RPCError(status: status, metadata: trailers) }
            return nil
        }
    }

    static func singleResponse<Message: RPCMessage>(_ call: any ClientCallIO) async throws -> ClientResponse<Message> {
        let headers = try await call.responseHeaders()
        var response: Message?
        while let bytes = try await call.receive() {
            guard response == nil else {
                call.cancel()
                throw RPCError(code: .internal, message: "the server sent more than one response to a call that takes one")
            }
            response = try decode(bytes, call)
        }
        let (status, trailers) = await call.status()
        guard status.code == .ok else { throw RPCError(status: status, metadata: trailers) }
        guard let response else {
            throw RPCError(code: .internal, message: "the server ended the call with OK but sent no response")
        }
        return ClientResponse(message: response, initialMetadata: headers, trailingMetadata: trailers)
    }

    /// After a failed send: the server's status if it ended the call with an error,
    /// else `fallback`.
    static func throwStatus(_ call: any ClientCallIO, orElse fallback: RPCError) async throws {
        let (status, trailers) = await call.status()
        if status.code != .ok { throw RPCError(status: status, metadata: trailers) }
        throw fallback
    }
}
