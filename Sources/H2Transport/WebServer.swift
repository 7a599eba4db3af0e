import CLibevent
import RPCCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The browser's door to the same router: HTTP/1.1 on libevent's evhttp, with
/// the Connect protocol (unary and server streaming, JSON and proto), gRPC-Web
/// (binary and text), upload sessions that stream a file chunk by chunk into a
/// client-streaming method, and static pages. Same interceptors (tokens and
/// scopes), limits and status codes as the gRPC listener: only the framing
/// differs.
///
/// Bounded: requests of at most `maxRequestBytes`, `maxCalls` calls at once,
/// `maxUploads` upload sessions (each holding at most one chunk), one
/// response message in flight per streaming call.
public final class WebServer: @unchecked Sendable {
    // @unchecked: `http`, `calls` and every evhttp pointer are used on `loop` only.

    public struct Configuration: Sendable {
        public var host = "127.0.0.1"
        public var port = 8080
        public var tls: TLSServerConfiguration?
        /// The largest request body (a Connect/gRPC-Web request or one upload chunk).
        public var maxRequestBytes = 4 << 20
        /// The largest response message a unary reply holds.
        public var maxResponseBytes = 16 << 20
        /// Calls served at once (streams included); more get RESOURCE_EXHAUSTED.
        public var maxCalls = 10_000
        /// Upload sessions open at once.
        public var maxUploads = 64
        /// An upload session that sees no chunk for this long is cancelled.
        public var uploadIdleTimeout: Duration = .seconds(60)
        /// How long a request may take to arrive, and a response chunk to leave.
        public var ioTimeoutSeconds: Int32 = 30
        /// Origins allowed to call from other pages (CORS); none by default.
        public var allowedOrigins: [String] = []
        /// Static files by path (`/` included), served with a strict CSP.
        public var assets: [String: WebAsset] = [:]
        /// The client-streaming method upload sessions feed, and how its
        /// messages are made: the first from the session's JSON options, the
        /// rest from each chunk's bytes.
        public var upload: WebUploadRoute?

        public init() {}
    }

    let configuration: Configuration
    let router: RPCRouter
    let codec: (any RPCJSONCodec)?
    private let loop = EventLoop(name: "web-http")
    private var http: OpaquePointer?
    private var tlsContext: OpaquePointer?
    /// Exchanges waiting for an answer, by id: kept alive while evhttp may
    /// call back into them (their connection's close).
    private var exchanges: [Int: WebHTTPExchange] = [:]
    private var nextID = 1
    private let activeCalls = Atomic<Int>(0)
    let uploads: WebUploadSessions
    /// The port bound (after `start`).
    public private(set) var port = 0

    public init(router: RPCRouter, codec: (any RPCJSONCodec)?, configuration: Configuration) {
        self.router = router
        self.codec = codec
        self.configuration = configuration
        self.uploads = WebUploadSessions(limit: configuration.maxUploads, idleTimeout: configuration.uploadIdleTimeout)
    }

    /// Binds and serves; returns the port bound.
    public func start() async throws -> Int {
        if let tls = configuration.tls {
            tlsContext = try TLS.makeServerContext(tls, h2Only: false)
        }
        let bound = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int, any Error>) in
            loop.execute { [self] in
                do {
                    continuation.resume(returning: try bindOnLoop())
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
        port = bound
        uploads.startSweeping()
        return bound
    }

    private func bindOnLoop() throws -> Int {
        guard let http = evhttp_new(loop.base) else { throw TransportError.bindFailed("cannot create the web HTTP server") }
        evhttp_set_max_headers_size(http, 32 << 10)
        evhttp_set_max_body_size(http, configuration.maxRequestBytes)
        evhttp_set_timeout(http, configuration.ioTimeoutSeconds)
        evhttp_set_allowed_methods(http, UInt16(EVHTTP_REQ_GET.rawValue | EVHTTP_REQ_HEAD.rawValue | EVHTTP_REQ_POST.rawValue
            | EVHTTP_REQ_PUT.rawValue | EVHTTP_REQ_DELETE.rawValue | EVHTTP_REQ_OPTIONS.rawValue))
        let context = Unmanaged.passUnretained(self).toOpaque()
        if tlsContext != nil {
            evhttp_set_bevcb(http, { base, context in
                let server = Unmanaged<WebServer>.fromOpaque(context!).takeUnretainedValue()
                return TLS.acceptingBufferevent(base: base!, fd: -1, context: server.tlsContext!)
            }, context)
        }
        evhttp_set_gencb(http, { request, context in
            Unmanaged<WebServer>.fromOpaque(context!).takeUnretainedValue().handle(request!)
        }, context)
        guard let handle = evhttp_bind_socket_with_handle(http, configuration.host, UInt16(configuration.port)) else {
            evhttp_free(http)
            throw TransportError.bindFailed("cannot listen on \(configuration.host):\(configuration.port) for the web listener")
        }
        self.http = http
        return SocketAddress.localPort(of: evhttp_bound_socket_get_fd(handle))
    }

    /// Loads the certificate and key files again (a renewal): new connections
    /// use them; connections already open keep theirs (an SSL holds its context).
    public func reloadTLS() async throws {
        guard let tls = configuration.tls else { return }
        nonisolated(unsafe) let context = try TLS.makeServerContext(tls, h2Only: false)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            loop.execute { [self] in
                let old = tlsContext
                tlsContext = context
                if let old { TLS.free(old) }
                continuation.resume()
            }
        }
    }

    /// Stops serving: calls in progress are cancelled, connections closed.
    public func stop() async {
        uploads.closeAll()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            loop.execute { [self] in
                for exchange in exchanges.values { exchange.call?.cancel() }
                if let http { evhttp_free(http) }
                http = nil
                continuation.resume()
            }
        }
        loop.shutdown()
        if let tlsContext { TLS.free(tlsContext) }
        tlsContext = nil
    }

    // MARK: - Requests (on the loop)

    private func handle(_ request: OpaquePointer) {
        let exchange = WebHTTPExchange(server: self, request: request, id: nextID)
        nextID += 1
        let path = exchange.path
        let method = evhttp_request_get_command(request)
        let origin = exchange.header("origin")
        let corsAllowed = origin.map { configuration.allowedOrigins.contains($0) } ?? false
        if corsAllowed, let origin { exchange.corsOrigin = origin }

        if method == EVHTTP_REQ_OPTIONS {
            guard corsAllowed else {
                exchange.replyText(403, "cross-origin requests are not allowed from this origin\n")
                return
            }
            exchange.outputHeaders += [
                ("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE"),
                ("Access-Control-Allow-Headers", exchange.header("access-control-request-headers") ?? "content-type"),
                ("Access-Control-Max-Age", "7200"),
            ]
            exchange.reply(status: 204, contentType: nil, body: [])
            return
        }
        if method == EVHTTP_REQ_GET || method == EVHTTP_REQ_HEAD {
            if let asset = configuration.assets[path] {
                exchange.serve(asset)
            } else {
                exchange.replyText(404, "not found\n")
            }
            return
        }
        if path.hasPrefix(WebUploadSessions.pathPrefix) {
            handleUpload(exchange, method: method)
            return
        }
        guard method == EVHTTP_REQ_POST else {
            exchange.replyText(405, "RPCs are POST requests\n")
            return
        }
        guard let web = exchange.header("content-type").flatMap(WebProtocol.init(contentType:)) else {
            exchange.replyText(415, "unsupported content type; send application/json, application/proto, application/connect+json, "
                + "application/connect+proto, application/grpc-web+proto or application/grpc-web-text\n")
            return
        }
        startCall(exchange, protocol: web, path: path)
    }

    /// Counts a call in; false (and a RESOURCE_EXHAUSTED reply) past `maxCalls`.
    private func admit(_ exchange: WebHTTPExchange, protocol web: WebProtocol) -> Bool {
        let (previous, _) = activeCalls.add(1, ordering: .relaxed)
        guard previous < configuration.maxCalls else {
            activeCalls.subtract(1, ordering: .relaxed)
            exchange.replyError(Status(code: .resourceExhausted, message: "the server is serving its limit of \(configuration.maxCalls) web calls"),
                trailers: [:], protocol: web)
            return false
        }
        return true
    }

    private func startCall(_ exchange: WebHTTPExchange, protocol web: WebProtocol, path: String) {
        if let encoding = exchange.header("content-encoding") ?? exchange.header("connect-content-encoding"), encoding != "identity" {
            exchange.replyError(Status(code: .unimplemented, message: "content encoding \(encoding) is not supported; send identity"), trailers: [:], protocol: web)
            return
        }
        var messages: [[UInt8]]
        do {
            messages = try web.requestMessages(body: exchange.body(), maxMessageSize: configuration.maxRequestBytes)
            if web.codec == .json {
                guard let codec else { throw RPCError(code: .unimplemented, message: "this server has no JSON codec") }
                messages = try messages.map { try codec.request(path: path, fromJSON: $0) }
            }
        } catch let error as RPCError {
            // An unknown method is UNIMPLEMENTED whatever the body.
            let status = router.handler(forPath: path) == nil
                ? Status(code: .unimplemented, message: "method \(path) is not implemented by this server") : error.status
            exchange.replyError(status, trailers: error.metadata, protocol: web)
            return
        } catch {
            exchange.replyError(Status(code: .internal, message: "cannot read the request"), trailers: [:], protocol: web)
            return
        }
        guard admit(exchange, protocol: web) else { return }

        let sink: any WebResponseSink
        let collector: WebResponseCollector?
        switch web {
        case .connectUnary:
            let c = WebResponseCollector(maxMessageSize: configuration.maxResponseBytes)
            sink = c
            collector = c
        case .connectStreaming, .grpcWeb:
            sink = WebStreamResponder(exchange: exchange, protocol: web, codec: codec, path: path, loop: loop)
            collector = nil
        }
        let call = WebServerCall(capacity: max(1, messages.count), sink: sink)
        exchange.call = call
        exchange.watchClose()
        // A watch may wait long for its first message: open its response now.
        // A unary call answers in one piece (Trailers-Only on error, for gRPC-Web).
        if collector == nil, let kind = router.handler(forPath: path)?.method.kind, kind != .unary {
            exchange.beginStream(contentType: web.responseContentType)
        }
        let metadata = exchange.metadata()
        let timeout = WebHeaders.timeout(exchange.headerFields)
        let peer = exchange.peer
        let handle = WebHTTPExchange.Handle(exchange)
        // Capacity covers every message: offering them does not wait.
        let queued = messages
        Task {
            for message in queued { try? await call.offer(message) }
            call.finishRequests()
        }
        call.start(router: router, path: path, metadata: metadata, timeout: timeout, peer: peer) { [self] in
            Task { [self] in
                if let collector {
                    let result = await collector.result()
                    loop.execute { [self] in handle.exchange.replyUnary(result, protocol: web, codec: codec, path: path) }
                }
                activeCalls.subtract(1, ordering: .relaxed)
            }
        }
    }

    func register(_ exchange: WebHTTPExchange) { exchanges[exchange.id] = exchange }

    func unregister(_ id: Int) { exchanges.removeValue(forKey: id) }

    // MARK: - Upload sessions

    private func handleUpload(_ exchange: WebHTTPExchange, method: evhttp_cmd_type) {
        guard let route = configuration.upload, let codec else {
            exchange.replyError(Status(code: .unimplemented, message: "uploads are not served here"), trailers: [:], protocol: .connectUnary(.json))
            return
        }
        // "" (start) or "/ID", "/ID/finish".
        let rest = String(exchange.path.dropFirst(WebUploadSessions.pathPrefix.count))
        let authorization = exchange.header("authorization") ?? ""
        let json = WebProtocol.connectUnary(.json)
        if rest.isEmpty, method == EVHTTP_REQ_POST {
            // Start: the body is the upload's options as JSON.
            let first: [UInt8]
            do {
                first = try route.firstMessage(exchange.body(), codec)
            } catch let error as RPCError {
                exchange.replyError(error.status, trailers: error.metadata, protocol: json)
                return
            } catch {
                exchange.replyError(Status(code: .invalidArgument, message: "cannot read the upload options"), trailers: [:], protocol: json)
                return
            }
            let collector = WebResponseCollector(maxMessageSize: configuration.maxResponseBytes)
            let call = WebServerCall(capacity: 1, sink: collector)
            guard let session = uploads.open(call: call, collector: collector, authorization: authorization) else {
                exchange.replyError(Status(code: .resourceExhausted, message: "\(configuration.maxUploads) uploads are in progress; try again shortly"),
                    trailers: [:], protocol: json)
                return
            }
            let metadata = exchange.metadata()
            let peer = exchange.peer
            call.start(router: router, path: route.methodPath, metadata: metadata, timeout: nil, peer: peer) { [uploads] in
                uploads.ended(session.id)
            }
            exchange.watchClose()
            let request = WebHTTPExchange.Handle(exchange)
            Task { [self] in
                do {
                    try await call.offer(first)
                    await reply(request) { $0.replyJSON(200, "{\"uploadId\":" + WebJSON.quote(session.id) + "}") }
                } catch {
                    let result = await collector.result()
                    await reply(request) { $0.replyUnary(result, protocol: json, codec: codec, path: route.methodPath) }
                }
            }
            return
        }
        let parts = rest.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        guard let idPart = parts.first, let session = uploads.session(String(idPart)) else {
            exchange.replyError(Status(code: .notFound, message: "no upload session \(parts.first ?? ""); it ended or timed out"), trailers: [:], protocol: json)
            return
        }
        guard session.authorization == authorization else {
            exchange.replyError(Status(code: .permissionDenied, message: "the upload session belongs to another token"), trailers: [:], protocol: json)
            return
        }
        let request = WebHTTPExchange.Handle(exchange)
        exchange.watchClose()
        switch (parts.count, method) {
        case (1, EVHTTP_REQ_PUT):
            let body = exchange.body()
            session.touch()
            Task { [self] in
                do {
                    if !body.isEmpty { try await session.call.offer(route.chunkMessage(body)) }
                    await reply(request) { $0.replyJSON(200, "{\"received\":\"\(body.count)\"}") }
                } catch {
                    // The call ended (a refused header, say): its status is the answer.
                    let result = await session.collector.result()
                    uploads.ended(session.id)
                    await reply(request) { $0.replyUnary(result, protocol: json, codec: codec, path: route.methodPath) }
                }
            }
        case (2, EVHTTP_REQ_POST) where parts[1] == "finish":
            session.call.finishRequests()
            Task { [self] in
                let result = await session.collector.result()
                uploads.ended(session.id)
                await reply(request) { $0.replyUnary(result, protocol: json, codec: codec, path: route.methodPath) }
            }
        case (1, EVHTTP_REQ_DELETE):
            session.call.cancel(RPCError(code: .cancelled, message: "the upload was abandoned"))
            uploads.ended(session.id)
            exchange.replyJSON(200, "{}")
        default:
            exchange.replyText(405, "upload sessions take POST (start), PUT (a chunk), POST .../finish and DELETE\n")
        }
    }

    /// Runs `body` on the loop with the exchange, unless its connection is gone.
    private func reply(_ handle: WebHTTPExchange.Handle, _ body: @escaping @Sendable (WebHTTPExchange) -> Void) async {
        loop.execute { body(handle.exchange) }
    }
}

/// A static file the web listener serves.
public struct WebAsset: Sendable {
    public var contentType: String
    public var body: [UInt8]

    public init(contentType: String, body: [UInt8]) {
        self.contentType = contentType
        self.body = body
    }
}

/// How upload sessions become a client-streaming call's messages.
public struct WebUploadRoute: Sendable {
    /// `/package.Service/Method` of the client-streaming method.
    public var methodPath: String
    /// The first message, from the session's JSON options.
    public var firstMessage: @Sendable (_ json: [UInt8], _ codec: any RPCJSONCodec) throws -> [UInt8]
    /// A message carrying one chunk of the file.
    public var chunkMessage: @Sendable (_ bytes: [UInt8]) -> [UInt8]

    public init(methodPath: String, firstMessage: @escaping @Sendable ([UInt8], any RPCJSONCodec) throws -> [UInt8],
                chunkMessage: @escaping @Sendable ([UInt8]) -> [UInt8]) {
        self.methodPath = methodPath
        self.firstMessage = firstMessage
        self.chunkMessage = chunkMessage
    }
}

/// Open upload sessions: each a running client-streaming call fed one chunk
/// per PUT. Bounded in number; idle ones are cancelled.
final class WebUploadSessions: Sendable {
    static let pathPrefix = "/web/v1/uploads"

    final class Session: Sendable {
        let id: String
        let call: WebServerCall
        let collector: WebResponseCollector
        let authorization: String
        private let lastActivity = Mutex(ContinuousClock.now)

        init(id: String, call: WebServerCall, collector: WebResponseCollector, authorization: String) {
            self.id = id
            self.call = call
            self.collector = collector
            self.authorization = authorization
        }

        func touch() { lastActivity.withLock { $0 = .now } }
        var idleSince: ContinuousClock.Instant { lastActivity.withLock { $0 } }
    }

    private let sessions = Mutex<[String: Session]>([:])
    private let sweeper = Mutex<Task<Void, Never>?>(nil)
    let limit: Int
    let idleTimeout: Duration

    init(limit: Int, idleTimeout: Duration) {
        self.limit = limit
        self.idleTimeout = idleTimeout
    }

    func open(call: WebServerCall, collector: WebResponseCollector, authorization: String) -> Session? {
        let session = Session(id: "u-" + RequestID.makeUnguessable().dropFirst(2), call: call, collector: collector, authorization: authorization)
        return sessions.withLock { sessions in
            guard sessions.count < limit else { return nil }
            sessions[session.id] = session
            return session
        }
    }

    func session(_ id: String) -> Session? { sessions.withLock { $0[id] } }

    func ended(_ id: String) {
        // A finished session stays readable until its result was fetched once.
        let session = sessions.withLock { $0[id] }
        guard let session, session.collector.ended != nil else { return }
        Task {
            // Give a client that is between requests a moment to read the result.
            try? await Task.sleep(for: .seconds(30))
            _ = self.sessions.withLock { $0.removeValue(forKey: id) }
        }
    }

    func startSweeping() {
        let task = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(5))
                guard let self else { return }
                let stale = sessions.withLock { sessions in
                    sessions.values.filter { $0.collector.ended == nil && ContinuousClock.now - $0.idleSince > self.idleTimeout }
                }
                for session in stale {
                    session.call.cancel(RPCError(code: .cancelled, message: "the upload saw no data for \(idleTimeout) and was abandoned"))
                    ended(session.id)
                }
            }
        }
        sweeper.withLock { $0 = task }
    }

    func closeAll() {
        sweeper.withLock { $0 }?.cancel()
        let all = sessions.withLock { sessions in
            defer { sessions.removeAll() }
            return Array(sessions.values)
        }
        for session in all { session.call.cancel(RPCError(code: .unavailable, message: "the server is shutting down")) }
    }
}
