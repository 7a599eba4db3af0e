/// Where handlers run.
public enum HandlerPlacement: Sendable {
    /// On the connection's event loop (a `TaskExecutor`): no thread hop between the
    /// handler and its stream. Handlers must not block; blocking work belongs on
    /// its own executor (the import service's SQLite work has its own threads).
    case eventLoop
    /// On Swift's global concurrent executor; every stream operation hops.
    case globalExecutor
}

/// How a `GRPCServer` listens and what it allows.
public struct GRPCServerConfiguration: Sendable {
    /// Host to bind: an IP address or a name (`127.0.0.1`, `::1`, `0.0.0.0`, `localhost`).
    public var host: String = "127.0.0.1"
    /// Port to bind; 0 lets the OS pick one (see `GRPCServer.start()`).
    public var port: Int = 0
    /// Event loops (threads); accepted connections are spread over them.
    public var eventLoops: Int = 1
    public var handlerPlacement: HandlerPlacement = .eventLoop
    public var limits = HTTP2Limits()
    /// SETTINGS_MAX_CONCURRENT_STREAMS per connection: enough for a dashboard's
    /// one channel to hold thousands of watches. What they may make the server
    /// hold is bounded per connection anyway (`HTTP2Limits`: inbound and
    /// outbound bytes), so many cheap streams cost little.
    public var maxConcurrentStreams: Int = 4096
    /// Calls open at once on the whole server, all connections together (a
    /// call is a request stream: watches count). A call beyond it ends at once
    /// with RESOURCE_EXHAUSTED. With `maxConnections` and `maxConcurrentStreams`
    /// alone, the bound would be their product: 40 million idle watches.
    public var maxCalls: Int = 100_000
    /// Connections beyond this are closed at once.
    /// Connections at most; at start it is lowered below the process's file
    /// descriptor limit (whose soft value is first raised to the hard one), so
    /// the server never runs out of descriptors for the database and files.
    public var maxConnections: Int = 10_000
    /// Told of what an operator should know and the server handles itself (the
    /// accept loop paused for want of descriptors); at most once per 10 s a kind.
    public var log: (@Sendable (String) -> Void)?
    /// Request bytes all connections together may make the server hold (partial
    /// and unread messages); past it, a stream that grows it ends with
    /// RESOURCE_EXHAUSTED. Each connection also has `limits.maxBufferedInboundBytes`.
    public var maxBufferedInboundBytes: Int = 256 << 20
    /// A connection with no streams for this long gets GOAWAY and is closed.
    public var idleTimeout: Duration? = .seconds(300)
    /// A connection that has not sent its preface and SETTINGS by then is closed.
    public var handshakeTimeout: Duration = .seconds(10)
    /// RST_STREAM frames a client may send at once, and per second after that,
    /// before GOAWAY ENHANCE_YOUR_CALM (rapid reset).
    public var resetStreamBurst: Int = 1000
    public var resetStreamRate: Int = 33
    /// CONTINUATION frames allowed after one HEADERS frame (CONTINUATION flood).
    /// Below nghttp2's own limit (8, where a patched build has one) so that ours,
    /// which answers GOAWAY ENHANCE_YOUR_CALM, acts first.
    public var maxContinuationFrames: Int = 5
    /// Keepalive both ways (gRPC's A8/A9): our pings to quiet clients, and
    /// what the clients' pings may be.
    public var keepalive = ServerKeepalive()
    /// Serve TLS with ALPN h2 instead of h2c.
    public var tls: TLSServerConfiguration?
    /// Where the server's timers come from (tests move a `ManualTransportClock`).
    public var clock: any TransportClock = SystemTransportClock()

    public init() {}
}

/// Keepalive on a server (gRPC's keepalive design, A8/A9; defaults as gRPC's
/// servers have them, except a client may ping once a minute while it has calls).
public struct ServerKeepalive: Sendable {
    /// After this long without a frame from a client, the server PINGs it; nil: never.
    public var time: Duration? = .seconds(7200)
    /// A PING of ours unanswered this long closes the connection (the client is gone).
    public var timeout: Duration = .seconds(20)
    /// A client's PINGs closer together than this are strikes (after two,
    /// GOAWAY ENHANCE_YOUR_CALM "too_many_pings"). Data or headers we send forgive.
    public var minClientPingInterval: Duration = .seconds(60)
    /// Whether clients may ping (at that rate) while no call is open; if not,
    /// such pings may come once in two hours.
    public var permitWithoutCalls = false

    public init() {}
}
