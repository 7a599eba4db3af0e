import CLibevent
import RPCCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One HTTP request and its answer on the web listener's loop. evhttp frees
/// the request when the answer is sent, or with its connection: the exchange
/// watches the connection (while registered with the server) and forgets the
/// request the moment it goes, so nothing touches freed memory.
final class WebHTTPExchange {
    /// Carries an exchange into tasks; it is used on the loop only.
    struct Handle: @unchecked Sendable {
        let exchange: WebHTTPExchange
        init(_ exchange: WebHTTPExchange) { self.exchange = exchange }
    }

    /// The page's Content-Security-Policy: its own script and style only.
    static let contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        + "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

    unowned let server: WebServer
    private(set) var request: OpaquePointer?
    let id: Int
    let path: String
    let headerFields: [(name: String, value: String)]
    let peer: String
    var corsOrigin: String?
    var outputHeaders: [(String, String)] = []
    var call: WebServerCall?
    /// Response metadata to send with the first chunk of a stream.
    var pendingHeaders = Metadata()
    private(set) var streaming = false
    private var watching = false
    private var pendingWrite: CheckedContinuation<Void, any Error>?

    init(server: WebServer, request: OpaquePointer, id: Int) {
        self.server = server
        self.request = request
        self.id = id
        let uri = evhttp_request_get_uri(request).map { String(cString: $0) } ?? "/"
        path = String(uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? "/")
        var fields: [(name: String, value: String)] = []
        if let headers = evhttp_request_get_input_headers(request) {
            var header = headers.pointee.tqh_first
            while let h = header {
                fields.append((String(cString: h.pointee.key).lowercased(), String(cString: h.pointee.value)))
                header = h.pointee.next.tqe_next
            }
        }
        headerFields = fields
        var address: UnsafeMutablePointer<CChar>?
        var port: UInt16 = 0
        if let connection = evhttp_request_get_connection(request) {
            evhttp_connection_get_peer(connection, &address, &port)
        }
        let host = address.map { String(cString: $0) } ?? "unknown"
        peer = host.contains(":") ? "ipv6:[\(host)]:\(port)" : "ipv4:\(host):\(port)"
    }

    func header(_ name: String) -> String? {
        headerFields.first { $0.name == name }?.value
    }

    func metadata() -> Metadata { WebHeaders.metadata(headerFields) }

    func body() -> [UInt8] {
        guard let request, let buffer = evhttp_request_get_input_buffer(request) else { return [] }
        let count = evbuffer_get_length(buffer)
        guard count > 0 else { return [] }
        return [UInt8](unsafeUninitializedCapacity: count) { out, initialized in
            initialized = Int(evbuffer_copyout(buffer, out.baseAddress, count))
        }
    }

    // MARK: Watching the connection

    /// Registers with the server and learns when the connection goes.
    func watchClose() {
        guard let request, !watching, let connection = evhttp_request_get_connection(request) else { return }
        watching = true
        server.register(self)
        evhttp_connection_set_closecb(connection, { _, context in
            Unmanaged<WebHTTPExchange>.fromOpaque(context!).takeUnretainedValue().connectionClosed()
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    /// Stops watching (before the answer is sent) and leaves the server's registry.
    func unwatchClose() {
        guard watching else { return }
        watching = false
        if let request, let connection = evhttp_request_get_connection(request) {
            evhttp_connection_set_closecb(connection, nil, nil)
        }
        server.unregister(id)
    }

    private func connectionClosed() {
        if let request, evhttp_request_get_connection(request) == nil {
            // Detached from its connection, still ours to free.
            evhttp_request_free(request)
        }
        // Otherwise evhttp frees it with the connection, right after this.
        request = nil
        watching = false
        server.unregister(id)
        pendingWrite?.resume(throwing: RPCError(code: .cancelled, message: "the client went away"))
        pendingWrite = nil
        call?.cancel()
    }

    // MARK: Whole answers

    private func addHeaders(_ request: OpaquePointer, contentType: String?) {
        let headers = evhttp_request_get_output_headers(request)
        if let contentType { evhttp_add_header(headers, "Content-Type", contentType) }
        evhttp_add_header(headers, "X-Content-Type-Options", "nosniff")
        evhttp_add_header(headers, "Referrer-Policy", "no-referrer")
        if let corsOrigin {
            evhttp_add_header(headers, "Access-Control-Allow-Origin", corsOrigin)
            evhttp_add_header(headers, "Vary", "Origin")
            evhttp_add_header(headers, "Access-Control-Expose-Headers", "*")
        }
        for (name, value) in outputHeaders {
            // A header value with a line break would split the response.
            guard !value.contains(where: { $0 == "\r" || $0 == "\n" }) else { continue }
            evhttp_add_header(headers, name, value)
        }
    }

    func reply(status: Int, contentType: String?, body: [UInt8]) {
        unwatchClose()
        guard let request else { return }
        self.request = nil
        addHeaders(request, contentType: contentType)
        let buffer = evbuffer_new()
        body.withUnsafeBufferPointer { _ = evbuffer_add(buffer, $0.baseAddress, $0.count) }
        evhttp_send_reply(request, Int32(status), Self.reason(status), buffer)
        evbuffer_free(buffer)
    }

    func replyText(_ status: Int, _ text: String) {
        outputHeaders.append(("Cache-Control", "no-store"))
        reply(status: status, contentType: "text/plain; charset=utf-8", body: Array(text.utf8))
    }

    func replyJSON(_ status: Int, _ json: String) {
        outputHeaders.append(("Cache-Control", "no-store"))
        reply(status: status, contentType: "application/json", body: Array(json.utf8))
    }

    func serve(_ asset: WebAsset) {
        outputHeaders += [
            ("Content-Security-Policy", Self.contentSecurityPolicy), ("X-Frame-Options", "DENY"), ("Cache-Control", "no-cache"),
        ]
        reply(status: 200, contentType: asset.contentType, body: asset.body)
    }

    /// An error before any call ran, in the protocol's own form.
    func replyError(_ status: Status, trailers: Metadata, protocol web: WebProtocol) {
        switch web {
        case .connectUnary:
            replyUnary(WebResponseCollector.Result(status: status, trailers: trailers), protocol: web, codec: server.codec, path: path)
        case .connectStreaming:
            let details = trailers.connectErrorDetails(server.codec)
            let end = WebProtocol.envelope(flags: 0x02, Array(ConnectError.endStream(status, details: details, trailers: trailers.removingDetails).utf8))
            outputHeaders.append(("Cache-Control", "no-store"))
            reply(status: 200, contentType: web.responseContentType, body: end)
        case .grpcWeb:
            // Trailers-Only: the status in the headers, no body.
            outputHeaders += [("grpc-status", String(status.code.rawValue)), ("Cache-Control", "no-store")]
            if !status.message.isEmpty { outputHeaders.append(("grpc-message", PercentEncoding.encode(status.message))) }
            outputHeaders += WebHeaders.fields(trailers)
            reply(status: 200, contentType: web.responseContentType, body: [])
        }
    }

    /// A Connect unary answer: the message, or the error as JSON with its HTTP
    /// status; response headers as headers, trailers as `trailer-` headers.
    func replyUnary(_ result: WebResponseCollector.Result, protocol web: WebProtocol, codec: (any RPCJSONCodec)?, path: String) {
        outputHeaders.append(("Cache-Control", "no-store"))
        outputHeaders += WebHeaders.fields(result.headers)
        outputHeaders += WebHeaders.fields(result.trailers.removingDetails).map { ("trailer-" + $0.0, $0.1) }
        var status = result.status
        if status.code == .ok, let message = result.message {
            if web.codec == .json {
                do {
                    guard let codec else { throw RPCError(code: .unimplemented, message: "this server has no JSON codec") }
                    reply(status: 200, contentType: web.responseContentType, body: try codec.response(path: path, toJSON: message))
                    return
                } catch {
                    status = RPCError(from: error).status
                }
            } else {
                reply(status: 200, contentType: web.responseContentType, body: message)
                return
            }
        } else if status.code == .ok {
            status = Status(code: .internal, message: "the method sent no response")
        }
        let details = result.trailers.connectErrorDetails(codec)
        reply(status: ConnectError.httpStatus(status.code), contentType: "application/json", body: Array(ConnectError.json(status, details: details).utf8))
    }

    // MARK: Streams

    /// Sends the status line and headers of a stream now, so the client knows
    /// the call is open before its first message (a watch may wait long).
    func beginStream(contentType: String) {
        guard let request, !streaming, evhttp_request_get_connection(request) != nil else { return }
        startStream(request, contentType: contentType)
    }

    private func startStream(_ request: OpaquePointer, contentType: String) {
        streaming = true
        outputHeaders.append(("Cache-Control", "no-store"))
        outputHeaders += WebHeaders.fields(pendingHeaders)
        addHeaders(request, contentType: contentType)
        evhttp_send_reply_start(request, 200, "OK")
        // Learn of a client that goes away while the stream is idle: read
        // (nothing is expected) with no read timeout, a write timeout.
        if let connection = evhttp_request_get_connection(request), let bev = evhttp_connection_get_bufferevent(connection) {
            var writeTimeout = timeval(tv_sec: Int(server.configuration.ioTimeoutSeconds), tv_usec: 0)
            bufferevent_set_timeouts(bev, nil, &writeTimeout)
            bufferevent_setwatermark(bev, Int16(EV_READ), 0, 64 << 10)
            bufferevent_enable(bev, Int16(EV_READ))
        }
    }

    /// Writes one piece of a streamed answer; `continuation` resumes once the
    /// socket took it (one piece in flight per stream).
    func writeStreamChunk(_ bytes: [UInt8], contentType: String, continuation: CheckedContinuation<Void, any Error>) {
        guard let request, evhttp_request_get_connection(request) != nil else {
            continuation.resume(throwing: RPCError(code: .cancelled, message: "the client went away"))
            return
        }
        if !streaming { startStream(request, contentType: contentType) }
        pendingWrite = continuation
        let buffer = evbuffer_new()
        bytes.withUnsafeBufferPointer { _ = evbuffer_add(buffer, $0.baseAddress, $0.count) }
        evhttp_send_reply_chunk_with_cb(request, buffer, { _, context in
            let exchange = Unmanaged<WebHTTPExchange>.fromOpaque(context!).takeUnretainedValue()
            exchange.pendingWrite?.resume()
            exchange.pendingWrite = nil
        }, Unmanaged.passUnretained(self).toOpaque())
        evbuffer_free(buffer)
    }

    /// The last piece of a streamed answer, and its end.
    func endStream(_ bytes: [UInt8], contentType: String) {
        pendingWrite?.resume(throwing: RPCError(code: .cancelled, message: "the call has ended"))
        pendingWrite = nil
        guard let request else { return }
        if !streaming {
            // Nothing was streamed: one whole answer.
            outputHeaders.append(("Cache-Control", "no-store"))
            outputHeaders += WebHeaders.fields(pendingHeaders)
            reply(status: 200, contentType: contentType, body: bytes)
            return
        }
        unwatchClose()
        self.request = nil
        if !bytes.isEmpty {
            let buffer = evbuffer_new()
            bytes.withUnsafeBufferPointer { _ = evbuffer_add(buffer, $0.baseAddress, $0.count) }
            evhttp_send_reply_chunk(request, buffer)
            evbuffer_free(buffer)
        }
        evhttp_send_reply_end(request)
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 204: return "No Content"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 409: return "Conflict"
        case 415: return "Unsupported Media Type"
        case 429: return "Too Many Requests"
        case 499: return "Client Closed Request"
        case 501: return "Not Implemented"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        default: return "Error"
        }
    }
}

/// Sends a streamed call's messages as they come (Connect streaming, gRPC-Web).
final class WebStreamResponder: WebResponseSink {
    private let handle: WebHTTPExchange.Handle
    private let web: WebProtocol
    private let codec: (any RPCJSONCodec)?
    private let path: String
    private let loop: EventLoop
    private let finished = Atomic<Bool>(false)

    init(exchange: WebHTTPExchange, protocol web: WebProtocol, codec: (any RPCJSONCodec)?, path: String, loop: EventLoop) {
        handle = WebHTTPExchange.Handle(exchange)
        self.web = web
        self.codec = codec
        self.path = path
        self.loop = loop
    }

    func headers(_ metadata: Metadata) async throws {
        let handle = handle
        loop.execute { if handle.exchange.pendingHeaders.isEmpty { handle.exchange.pendingHeaders = metadata } }
    }

    private func encoded(_ frame: [UInt8]) -> [UInt8] {
        if case .grpcWeb(text: true) = web { return Array(Base64.encode(frame, padded: true).utf8) }
        return frame
    }

    func message(_ payload: [UInt8]) async throws {
        var body = payload
        if web.codec == .json {
            guard let codec else { throw RPCError(code: .unimplemented, message: "this server has no JSON codec") }
            body = try codec.response(path: path, toJSON: payload)
        }
        let bytes = encoded(WebProtocol.envelope(flags: 0, body))
        let handle = handle
        let contentType = web.responseContentType
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            loop.execute { handle.exchange.writeStreamChunk(bytes, contentType: contentType, continuation: continuation) }
        }
    }

    func finish(status: Status, trailers: Metadata) async {
        guard !finished.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let last: [UInt8]
        switch web {
        case .grpcWeb:
            last = encoded(GRPCWebTrailers.frame(status, trailers: trailers))
        default:
            let details = trailers.connectErrorDetails(codec)
            last = WebProtocol.envelope(flags: 0x02, Array(ConnectError.endStream(status, details: details, trailers: trailers.removingDetails).utf8))
        }
        let handle = handle
        let contentType = web.responseContentType
        let web = web
        loop.execute {
            if case .grpcWeb = web, status.code != .ok, !handle.exchange.streaming {
                // Nothing sent yet: Trailers-Only, as gRPC-Web clients expect an early error.
                handle.exchange.replyError(status, trailers: trailers, protocol: web)
            } else {
                handle.exchange.endStream(last, contentType: contentType)
            }
        }
    }
}

extension Metadata {
    /// The `grpc-status-details-bin` trailer as Connect error details (none without a codec).
    func connectErrorDetails(_ codec: (any RPCJSONCodec)?) -> [(type: String, value: [UInt8], json: String?)] {
        guard let codec, let status = firstBinary("grpc-status-details-bin") else { return [] }
        return codec.errorDetails(statusDetails: status)
    }

    /// Without `grpc-status-details-bin` (sent as Connect error details instead).
    var removingDetails: Metadata {
        var copy = self
        copy.removeAll("grpc-status-details-bin")
        return copy
    }
}
