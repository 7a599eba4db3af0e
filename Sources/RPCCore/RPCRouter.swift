/// Checks a call before its handler runs; throwing fails the call with that error.
/// Authentication is the typical use.
public protocol ServerInterceptor: Sendable {
    func intercept(context: ServerContext) async throws
}

/// Maps method paths to handlers and runs calls to completion.
///
/// Handlers are typed `async` functions; the router decodes requests, encodes
/// responses, and turns whatever a handler throws into a status, in one place.
public struct RPCRouter: Sendable {
    /// A handler with its message types erased.
    public struct Handler: Sendable {
        public let method: MethodDescriptor
        /// Sends the status itself on success (unary and client streaming).
        let finishes: Bool
        let run: @Sendable (any ServerCallIO, ServerContext) async throws -> Void

        init(method: MethodDescriptor, finishes: Bool = false, run: @escaping @Sendable (any ServerCallIO, ServerContext) async throws -> Void) {
            self.method = method
            self.finishes = finishes
            self.run = run
        }
    }

    private var handlers: [String: Handler] = [:] {
        didSet { resolveLimits() }
    }
    /// Run, in order, before every handler.
    public var interceptors: [any ServerInterceptor] = []
    /// The largest request message a service (by name) or a method (by path)
    /// takes, below the transport's own limit: a health check is a few bytes,
    /// and nobody, authenticated or not, makes the server hold more for it.
    public var requestSizeLimits: [String: Int] = [:] {
        didSet { resolveLimits() }
    }
    /// `requestSizeLimits` resolved for each registered method's path when
    /// either changes: a call costs one look-up, not a split of its path.
    private var limitsByPath: [String: Int] = [:]

    /// The request size limit of the method at `path` (`/service/method`), if
    /// it is registered and a limit is set for it or its service.
    public func maxRequestSize(forPath path: String) -> Int? {
        limitsByPath[path]
    }

    private mutating func resolveLimits() {
        limitsByPath = handlers.compactMapValues { handler in
            requestSizeLimits[handler.method.path] ?? requestSizeLimits[handler.method.service]
        }
    }

    /// Told of every error that is not an `RPCError` or `RPCErrorConvertible`
    /// (it reaches the client as INTERNAL without details): the place to log it.
    public var onUnexpectedError: (@Sendable (any Error, ServerContext) -> Void)?
    /// Told of every call when it has ended (the server's call log, metrics).
    public var onCallFinished: (@Sendable (FinishedCall) -> Void)?

    public init() {}

    /// Every registered method.
    public var methods: [MethodDescriptor] { handlers.values.map(\.method).sorted { $0.path < $1.path } }

    public func handler(forPath path: String) -> Handler? { handlers[path] }

    /// The paths of the methods served (`/package.Service/Method`).
    public var paths: [String] { Array(handlers.keys) }

    public mutating func registerUnary<Request: RPCMessage, Response: RPCMessage>(
        _ method: MethodDescriptor, _: Request.Type, _: Response.Type,
        handler: @escaping @Sendable (Request, ServerContext) async throws -> Response
    ) {
        handlers[method.path] = Handler(method: method, finishes: true) { call, context in
            let request: Request = try Self.decode(try await Self.receiveSingle(call, context))
            let response = try await handler(request, context)
            try await Self.respond(call, context, response)
        }
    }

    public mutating func registerClientStreaming<Request: RPCMessage, Response: RPCMessage>(
        _ method: MethodDescriptor, _: Request.Type, _: Response.Type,
        handler: @escaping @Sendable (RPCAsyncSequence<Request>, ServerContext) async throws -> Response
    ) {
        handlers[method.path] = Handler(method: method, finishes: true) { call, context in
            let response = try await handler(Self.requests(call, context), context)
            try await Self.respond(call, context, response)
        }
    }

    public mutating func registerServerStreaming<Request: RPCMessage, Response: RPCMessage>(
        _ method: MethodDescriptor, _: Request.Type, _: Response.Type,
        handler: @escaping @Sendable (Request, RPCWriter<Response>, ServerContext) async throws -> Void
    ) {
        handlers[method.path] = Handler(method: method) { call, context in
            let request: Request = try Self.decode(try await Self.receiveSingle(call, context))
            try await handler(request, Self.writer(call, context), context)
        }
    }

    public mutating func registerBidirectionalStreaming<Request: RPCMessage, Response: RPCMessage>(
        _ method: MethodDescriptor, _: Request.Type, _: Response.Type,
        handler: @escaping @Sendable (RPCAsyncSequence<Request>, RPCWriter<Response>, ServerContext) async throws -> Void
    ) {
        handlers[method.path] = Handler(method: method) { call, context in
            try await handler(Self.requests(call, context), Self.writer(call, context), context)
        }
    }

    /// Runs one call: interceptors, handler, status. The status is always sent.
    public func handle(path: String, call: any ServerCallIO, metadata: Metadata, deadline: ContinuousClock.Instant?, peer: String) async {
        let start = ContinuousClock.now
        guard let handler = handlers[path] else {
            let status = Status(code: .unimplemented, message: "method \(path) is not implemented by this server")
            let requestID = RequestID.make()
            await call.finish(status: status, trailers: ["x-request-id": .string(requestID)])
            onCallFinished?(FinishedCall(path: path, code: .unimplemented, duration: .now - start, peer: peer, requestID: requestID,
                traceID: metadata.first("traceparent").flatMap(RequestID.traceID), fields: [], implemented: false))
            return
        }
        let context = ServerContext(method: handler.method, metadata: metadata, deadline: deadline, peer: peer)
        context.addTrailingMetadata(["x-request-id": .string(context.requestID)])
        context.termination.onTerminate { [call] in call.cancelHandler() }
        let end: @Sendable ((any Error)?) async -> Void = { [self] error in
            await finish(call, context, path: path, start: start, peer: peer, error: error, finishes: handler.finishes)
        }
        context.parking.setCompletion(end)
        do {
            for interceptor in interceptors {
                try await interceptor.intercept(context: context)
            }
            try await handler.run(call, context)
            // A parked call ends later, from its ParkedCall.
            if context.parking.close() != nil { return }
            await end(nil)
        } catch {
            if let parked = context.parking.close() {
                await parked.end(error)
            } else {
                await end(error)
            }
        }
    }

    /// Sends the call's status (OK, or what `error` maps to) and logs it.
    private func finish(_ call: any ServerCallIO, _ context: ServerContext, path: String, start: ContinuousClock.Instant, peer: String,
                        error: (any Error)?, finishes: Bool) async {
        var code = Status.Code.ok
        if let error {
            var rpcError = context.termination.error ?? RPCError(from: error)
            if !(error is RPCError || error is RPCErrorConvertible || error is CancellationError) {
                onUnexpectedError?(error, context)
                // Nothing of the failure reaches the client but the id to find it by.
                rpcError = RPCError(code: .internal, message: "internal error; request id \(context.requestID)")
            }
            code = rpcError.code
            var trailers = context.response.trailing
            trailers.merge(rpcError.metadata)
            await call.finish(status: rpcError.status, trailers: trailers)
        } else if !finishes {
            await call.finish(status: .ok, trailers: context.response.trailing)
        }
        onCallFinished?(FinishedCall(path: path, code: code, duration: .now - start, peer: peer, requestID: context.requestID,
            traceID: context.traceID, fields: context.logFields.all,
            bytesIn: context.logFields.bytesIn.load(ordering: .relaxed), bytesOut: context.logFields.bytesOut.load(ordering: .relaxed) + call.offeredBytes))
    }

    // MARK: - Plumbing shared by the call kinds

    static func decode<Message: RPCMessage>(_ bytes: [UInt8]) throws -> Message {
        do {
            return try Message(serializedBytes: bytes)
        } catch {
            throw RPCError(code: .internal, message: "could not decode the request as \(Message.self)")
        }
    }

    static func requests<Message: RPCMessage>(_ call: any ServerCallIO, _ context: ServerContext) -> RPCAsyncSequence<Message> {
        RPCAsyncSequence {
            guard let bytes = try await call.receive() else { return nil }
            context.logFields.received(bytes.count)
            return try decode(bytes)
        }
    }

    static func receiveSingle(_ call: any ServerCallIO, _ context: ServerContext) async throws -> [UInt8] {
        let bytes = try await call.receiveSingle()
        context.logFields.received(bytes.count)
        return bytes
    }

    static func respond<Response: RPCMessage>(_ call: any ServerCallIO, _ context: ServerContext, _ response: Response) async throws {
        let framed = MessageFraming.frame(response)
        context.logFields.sent(framed.count - MessageFraming.headerSize)
        try await call.respond(headers: context.response.initial, framedMessage: framed, trailers: context.response.trailing)
    }

    static func writer<Message: RPCMessage>(_ call: any ServerCallIO, _ context: ServerContext) -> RPCWriter<Message> {
        RPCWriter(
            write: { message in
                try await call.sendHeaders(context.response.initial)
                let framed = MessageFraming.frame(message)
                context.logFields.sent(framed.count - MessageFraming.headerSize)
                try await call.send(framedMessage: framed)
            },
            writeFramed: { bytes in
                try await call.sendHeaders(context.response.initial)
                context.logFields.sent(bytes.count - MessageFraming.headerSize)
                try await call.send(framedMessage: bytes)
            },
            offerTo: call,
            sendHeaders: {
                try await call.sendHeaders(context.response.initial)
            },
            park: {
                guard call.supportsParking, let parked = context.parking.park() else { return nil }
                call.onTerminated { reason in parked.terminated(reason) }
                return parked
            })
    }
}
