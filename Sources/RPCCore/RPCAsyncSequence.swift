/// A stream of messages received on a call: requests on the server, responses on
/// the client. Single-pass; iterate it once.
///
/// Ends normally when the peer finishes sending; throws `RPCError` when the call
/// fails (cancelled, deadline exceeded, undecodable message, non-OK status).
public struct RPCAsyncSequence<Element: Sendable>: AsyncSequence, Sendable {
    private let next: @Sendable () async throws -> Element?

    /// Wraps a function that returns the next element, or nil at the end.
    public init(next: @escaping @Sendable () async throws -> Element?) {
        self.next = next
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(next: next)
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        fileprivate let next: @Sendable () async throws -> Element?

        public mutating func next() async throws -> Element? {
            try await next()
        }
    }

    /// Collects every element; for tests and small streams.
    public func collect() async throws -> [Element] {
        var all: [Element] = []
        for try await element in self { all.append(element) }
        return all
    }
}

/// Writes messages on a call: responses on the server, requests on the client.
///
/// `write` suspends while the transport's buffers are full (backpressure) and
/// throws once the call is over (cancelled, deadline exceeded, peer gone).
public struct RPCWriter<Element: Sendable>: Sendable {
    private let writeFunction: @Sendable (Element) async throws -> Void
    /// Writes bytes already framed (`FramedMessage`); nil: they are decoded and written as a message.
    let writeFramedFunction: (@Sendable ([UInt8]) async throws -> Void)?
    /// Takes framed bytes without waiting if the transport can (`ServerCallIO.offer`):
    /// called directly, not through a closure (one update offered to 10,000
    /// streams touches one object fewer on each).
    let offerCall: (any ServerCallIO)?
    /// Sends the response headers now, if no message did yet.
    let sendHeadersFunction: (@Sendable () async throws -> Void)?
    /// Keeps the call open after the handler returns (`park`).
    let parkFunction: (@Sendable () -> ParkedCall?)?
    /// Where offers are cheapest (`ServerCallIO.offerExecutor`).
    public var offerExecutor: (any TaskExecutor)? { offerCall?.offerExecutor }

    public init(write: @escaping @Sendable (Element) async throws -> Void) {
        self.writeFunction = write
        self.writeFramedFunction = nil
        self.offerCall = nil
        self.sendHeadersFunction = nil
        self.parkFunction = nil
    }

    /// A writer that can also take messages serialized once for many calls.
    public init(write: @escaping @Sendable (Element) async throws -> Void, writeFramed: @escaping @Sendable ([UInt8]) async throws -> Void,
                offerTo call: (any ServerCallIO)? = nil, sendHeaders: (@Sendable () async throws -> Void)? = nil,
                park: (@Sendable () -> ParkedCall?)? = nil) {
        self.writeFunction = write
        self.writeFramedFunction = writeFramed
        self.offerCall = call
        self.sendHeadersFunction = sendHeaders
        self.parkFunction = park
    }

    /// Keeps the call open after the handler returns, with no task while it is
    /// idle; nil when the transport cannot (then the handler goes on as usual).
    /// After parking, the handler returns at once; messages go in with `offer`,
    /// and `ParkedCall.resume` starts a task when they cannot. Server streaming
    /// only, after the response headers were sent.
    public func park() -> ParkedCall? {
        parkFunction?()
    }

    /// Sends the response headers (initial metadata) now, before any message:
    /// a stream that may stay quiet long tells its client it is open; and
    /// `offer` needs the headers sent.
    public func sendHeaders() async throws {
        try await sendHeadersFunction?()
    }

    public func write(_ element: Element) async throws {
        try await writeFunction(element)
    }

    public func write(contentsOf elements: some Sequence<Element>) async throws {
        for element in elements {
            try await writeFunction(element)
        }
    }
}

/// A message serialized and framed once, to be written on many calls: one
/// update fanned out to thousands of watchers costs one encoding.
public struct FramedMessage<Message: RPCMessage>: Sendable {
    public let bytes: [UInt8]

    public init(_ message: Message) {
        bytes = MessageFraming.frame(message)
    }
}

extension RPCWriter where Element: RPCMessage {
    /// Queues a message framed earlier without waiting, if the transport can:
    /// true when it was taken; false means `write` it instead (which waits for
    /// room). Call it only after a first `write` or `sendHeaders`. Never
    /// call it while a `write` of the same call is in progress: order is kept
    /// only between calls that do not overlap.
    public func offer(_ framed: FramedMessage<Element>) -> Bool {
        offerCall?.offer(framedMessage: framed.bytes) ?? false
    }

    /// Writes a message framed earlier.
    public func write(_ framed: FramedMessage<Element>) async throws {
        if let writeFramedFunction {
            try await writeFramedFunction(framed.bytes)
        } else {
            try await write(Element(serializedBytes: Array(framed.bytes.dropFirst(MessageFraming.headerSize))))
        }
    }
}
