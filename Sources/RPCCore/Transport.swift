/// One server-side call as a transport presents it to the router. The transport
/// owns framing on the wire; messages here are serialized payloads.
///
/// A transport guarantees: `receive` and `send` may suspend (flow control), both
/// throw an `RPCError` once the call is over, and `finish` is idempotent.
public protocol ServerCallIO: AnyObject, Sendable {
    /// The next request payload, or nil once the client has finished sending.
    func receive() async throws -> [UInt8]?
    /// Sends the response headers, once; later calls do nothing.
    func sendHeaders(_ metadata: Metadata) async throws
    /// Sends one framed response message (`MessageFraming.frame`).
    func send(framedMessage: [UInt8]) async throws
    /// Ends the call with a status and trailers. Without earlier headers this is a
    /// Trailers-Only response.
    func finish(status: Status, trailers: Metadata) async
    /// Cancels the call's handler (its task); the router then sends the status
    /// the call was terminated with. Thread-safe, returns at once.
    func cancelHandler()

    /// The one request of a unary or server-streaming call (INTERNAL when the
    /// client sent none or more than one). A transport may answer without
    /// suspending when the request is already there.
    func receiveSingle() async throws -> [UInt8]
    /// Headers, one message and an OK status with trailers, in one step. A
    /// transport may queue them all without suspending.
    func respond(headers: Metadata, framedMessage: [UInt8], trailers: Metadata) async throws

    /// Queues one framed response message at once, from any thread, without
    /// waiting: true when the transport took it (it goes out in order after
    /// what was sent before); false when the caller must `send` it, which waits
    /// for room (the stream is behind, closed, or compresses). Only after the
    /// response headers were sent. For broadcasts: one update fanned out to
    /// thousands of streams wakes no task per stream.
    func offer(framedMessage: [UInt8]) -> Bool
    /// The executor of the thread that writes this call's stream, if the
    /// transport has one. An `offer` made there is queued on the stream at
    /// once, with no hand-off: a broadcast to many calls offers to each from
    /// its own executor. Offers to one call must all come from there, or all
    /// from elsewhere, for their order to hold.
    var offerExecutor: (any TaskExecutor)? { get }
    /// Payload bytes of the messages `offer` took (for the access log), counted
    /// by the transport on the object it touches anyway.
    var offeredBytes: Int { get }

    /// True when the call can outlive its handler's task (`RPCWriter.park`):
    /// the transport then reports the call's end through `onTerminated`.
    var supportsParking: Bool { get }
    /// Registers what runs when the call ends from the transport's side: the
    /// client reset the stream or went away, the deadline passed, its input
    /// was refused, or `cancelHandler` was called. Runs once, from any thread;
    /// at once if the call ended already. `body` gets the status the transport
    /// ended the call with, when it chose one (the deadline, bad input).
    func onTerminated(_ body: @escaping @Sendable (RPCError?) -> Void)
}

extension ServerCallIO {
    public func receiveSingle() async throws -> [UInt8] {
        try await receiveSingleByReceiving()
    }

    public func respond(headers: Metadata, framedMessage: [UInt8], trailers: Metadata) async throws {
        try await respondBySending(headers: headers, framedMessage: framedMessage, trailers: trailers)
    }

    public func offer(framedMessage: [UInt8]) -> Bool { false }
    public var offerExecutor: (any TaskExecutor)? { nil }
    public var offeredBytes: Int { 0 }

    public var supportsParking: Bool { false }
    public func onTerminated(_ body: @escaping @Sendable (RPCError?) -> Void) {}

    /// `receiveSingle` from `receive`, for transports that have nothing faster.
    public func receiveSingleByReceiving() async throws -> [UInt8] {
        guard let bytes = try await receive() else {
            throw RPCError(code: .internal, message: "the client sent no request message")
        }
        guard try await receive() == nil else {
            throw RPCError(code: .internal, message: "the client sent more than one request message to a method that takes one")
        }
        return bytes
    }

    /// `respond` from `sendHeaders`, `send` and `finish`.
    public func respondBySending(headers: Metadata, framedMessage: [UInt8], trailers: Metadata) async throws {
        try await sendHeaders(headers)
        try await send(framedMessage: framedMessage)
        await finish(status: .ok, trailers: trailers)
    }
}

/// One client-side call as a transport presents it to `RPCClient`.
public protocol ClientCallIO: AnyObject, Sendable {
    /// Sends one framed request message; suspends while the transport is full.
    func send(framedMessage: [UInt8]) async throws
    /// Tells the server no more requests follow. Thread-safe, returns at once.
    func closeSend()
    /// The response headers: waits for them, empty for a Trailers-Only response.
    func responseHeaders() async throws -> Metadata
    /// The next response payload, or nil when the server has finished sending.
    func receive() async throws -> [UInt8]?
    /// The call's status and trailers; waits for the end of the call.
    func status() async -> (Status, Metadata)
    /// Abandons the call (RST_STREAM CANCEL on HTTP/2); nothing once it has ended.
    /// Thread-safe, returns at once.
    func cancel()
}

/// Opens calls to one server.
public protocol ClientTransport: Sendable {
    /// Starts a call: sends the request headers. `compression`: how its request
    /// messages are compressed (a transport without a wire may ignore it).
    func openCall(method: MethodDescriptor, metadata: Metadata, timeout: Duration?, compression: MessageEncoding) async throws -> any ClientCallIO
}

/// A message encoding (`grpc-encoding`, gRPC's compression spec).
public enum MessageEncoding: String, Sendable, CaseIterable {
    case identity
    case gzip
}
