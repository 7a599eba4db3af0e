import CLibevent

#if canImport(Glibc)
import Glibc
#endif

/// A small HTTP/1.1 server for operators (metrics, health, readiness) on
/// libevent's evhttp, on its own event loop thread, apart from the gRPC port.
/// GET only; each path answers from an async closure. Bounded: 64 KiB
/// requests, 10 s timeouts, one answer per request.
public final class AdminHTTPServer: @unchecked Sendable {
    // @unchecked: `http` is used on `loop` only (created, served and freed there).

    public struct Response: Sendable {
        public var status: Int
        public var contentType: String
        public var body: String

        public init(status: Int = 200, contentType: String = "text/plain; charset=utf-8", body: String) {
            self.status = status
            self.contentType = contentType
            self.body = body
        }
    }

    public typealias Route = @Sendable () async -> Response

    private let loop = EventLoop(name: "admin-http")
    private let routes: [String: Route]
    private var http: OpaquePointer?
    /// The port bound (after `start`).
    public private(set) var port = 0

    public init(routes: [String: Route]) {
        self.routes = routes
    }

    /// Binds `host:port` (0: the system picks) and serves; returns the port.
    public func start(host: String, port: Int) async throws -> Int {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int, any Error>) in
            loop.execute { [self] in
                guard let http = evhttp_new(loop.base) else {
                    continuation.resume(throwing: TransportError.bindFailed("cannot create the admin HTTP server"))
                    return
                }
                evhttp_set_max_headers_size(http, 16 << 10)
                evhttp_set_max_body_size(http, 64 << 10)
                evhttp_set_timeout(http, 10)
                evhttp_set_allowed_methods(http, UInt16(EVHTTP_REQ_GET.rawValue | EVHTTP_REQ_HEAD.rawValue))
                evhttp_set_gencb(http, { request, context in
                    Unmanaged<AdminHTTPServer>.fromOpaque(context!).takeUnretainedValue().handle(request!)
                }, Unmanaged.passUnretained(self).toOpaque())
                guard let handle = evhttp_bind_socket_with_handle(http, host, UInt16(port)) else {
                    evhttp_free(http)
                    continuation.resume(throwing: TransportError.bindFailed("cannot listen on \(host):\(port) for the admin endpoint"))
                    return
                }
                self.http = http
                let bound = SocketAddress.localPort(of: evhttp_bound_socket_get_fd(handle))
                self.port = bound
                continuation.resume(returning: bound)
            }
        }
    }

    /// Stops serving.
    public func stop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            loop.execute { [self] in
                if let http { evhttp_free(http) }
                http = nil
                continuation.resume()
            }
        }
        loop.shutdown()
    }

    private func handle(_ request: OpaquePointer) {
        let uri = evhttp_request_get_uri(request).map { String(cString: $0) } ?? "/"
        let path = String(uri.split(separator: "?", maxSplits: 1).first ?? "/")
        guard let route = routes[path] else {
            reply(request, Response(status: 404, body: "not found; try " + routes.keys.sorted().joined(separator: ", ") + "\n"))
            return
        }
        // The request stays valid until answered; the answer is sent on this loop.
        nonisolated(unsafe) let pending = request
        Task {
            let response = await route()
            loop.execute { [self] in reply(pending, response) }
        }
    }

    private func reply(_ request: OpaquePointer, _ response: Response) {
        guard http != nil else { return }
        let headers = evhttp_request_get_output_headers(request)
        evhttp_add_header(headers, "Content-Type", response.contentType)
        evhttp_add_header(headers, "Cache-Control", "no-store")
        let body = evbuffer_new()
        var text = response.body
        text.withUTF8 { _ = evbuffer_add(body, $0.baseAddress, $0.count) }
        evhttp_send_reply(request, Int32(response.status), response.status == 200 ? "OK" : "Error", body)
        evbuffer_free(body)
    }
}
