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

    public init(write: @escaping @Sendable (Element) async throws -> Void) {
        self.writeFunction = write
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
