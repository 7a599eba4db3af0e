import DequeModule
import RPCCore

/// The receiving half of an HTTP/2 stream carrying gRPC, as a pure value: DATA
/// bytes in, messages out, and how much stream flow-control credit to return,
/// when. No I/O: the stream applies the credit it is told to.
///
/// The rule: while a complete message waits for the reader, credit is withheld
/// (the peer stops within one window); when the reader takes a message its
/// share comes back; when nothing waits, everything received is returned, so a
/// partial message can always finish. A slow reader thus holds about one stream
/// window plus one message, and no window size can deadlock a large message.
package struct InboundFlow {
    private var deframer: MessageDeframer
    package private(set) var messages = Deque<[UInt8]>()
    /// Bytes of the queued messages.
    private var queuedBytes = 0
    /// The peer sent END_STREAM.
    package private(set) var ended = false
    /// Receiving failed; the reader gets this after the messages before it.
    package private(set) var failure: RPCError?
    /// Received bytes not yet returned to the stream window.
    package private(set) var withheld = 0

    package init(maxMessageSize: Int) {
        deframer = MessageDeframer(maxMessageSize: maxMessageSize)
    }

    /// A DATA chunk arrived; returns the credit to give back now.
    package mutating func receive<Bytes: Collection>(_ bytes: Bytes) -> Int where Bytes.Element == UInt8, Bytes.Index == Int {
        guard failure == nil, !ended else { return bytes.count }
        do {
            // Usually one message a chunk: kept apart, so a chunk allocates no
            // collection of its own (the deframer may not append to `messages`
            // while it is itself being mutated).
            var first: [UInt8]?
            var more: [[UInt8]] = []
            try deframer.process(bytes) { message in
                if first == nil { first = message } else { more.append(message) }
            }
            if let first {
                queuedBytes += first.count
                messages.append(first)
                for message in more { queuedBytes += message.count }
                messages.append(contentsOf: more)
            }
        } catch let error as DeframingError {
            let credit = bytes.count + withheld
            withheld = 0
            fail(error.rpcError)
            return credit
        } catch {
            preconditionFailure("unexpected deframing error \(error)")
        }
        withheld += bytes.count
        return messages.isEmpty ? releaseAll() : 0
    }

    /// END_STREAM arrived. A message cut short is an error.
    package mutating func end() {
        guard !ended else { return }
        ended = true
        if deframer.hasPartialMessage && failure == nil {
            failure = RPCError(code: .internal, message: "the stream ended in the middle of a message")
        }
    }

    /// Receiving failed: what is queued (and a partial message) is dropped, the
    /// reader gets `error`.
    package mutating func fail(_ error: RPCError) {
        if failure == nil { failure = error }
        messages.removeAll()
        queuedBytes = 0
        let decompressor = deframer.decompressor
        deframer = MessageDeframer(maxMessageSize: deframer.maxMessageSize)
        deframer.decompressor = decompressor
    }

    /// Bytes held in memory for the reader: queued messages and the partial one.
    package var heldBytes: Int { queuedBytes + deframer.partialBytes }

    /// A message has begun and not yet completed.
    package var hasPartialMessage: Bool { deframer.hasPartialMessage }

    /// Lowers the largest message accepted (a method that takes small requests),
    /// before any byte has arrived.
    package mutating func limitMessageSize(_ limit: Int) {
        guard heldBytes == 0, messages.isEmpty, limit < deframer.maxMessageSize else { return }
        let decompressor = deframer.decompressor
        deframer = MessageDeframer(maxMessageSize: limit)
        deframer.decompressor = decompressor
    }

    /// How compressed messages are inflated (the stream's `grpc-encoding`).
    package mutating func setDecompressor(_ decompressor: MessageDeframer.Decompressor?) {
        deframer.decompressor = decompressor
    }

    /// Fails after the messages already queued are read (the peer reset the stream).
    package mutating func failAfterMessages(_ error: RPCError) {
        if failure == nil { failure = error }
    }

    /// The reader takes the next message; with the credit that comes back.
    package mutating func take() -> (message: [UInt8], credit: Int)? {
        guard let message = messages.popFirst() else { return nil }
        queuedBytes -= message.count
        let credit = messages.isEmpty ? releaseAll() : release(min(withheld, message.count + MessageFraming.headerSize))
        return (message, credit)
    }

    /// Returns all withheld credit (the call ended; nothing will be read).
    package mutating func releaseAll() -> Int {
        release(withheld)
    }

    private mutating func release(_ count: Int) -> Int {
        withheld -= count
        return count
    }

    /// What the reader gets next when no message is queued: nil while more may
    /// come, else the end (`.success(nil)`) or the failure.
    package var terminal: Result<[UInt8]?, RPCError>? {
        if let failure { return .failure(failure) }
        if ended { return .success(nil) }
        return nil
    }
}
