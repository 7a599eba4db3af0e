import CNGHTTP2
import DequeModule
import RPCCore

/// The state one HTTP/2 stream carrying a gRPC call keeps on both sides: received
/// messages on their way to the reader, and framed messages on their way out.
/// Subclassed by the server and client calls. Loop thread only, except that the
/// public async entry points hop to the loop first.
///
/// Flow control, receiving: connection credit is returned as bytes arrive (so
/// streams never starve each other); stream credit is withheld while a complete
/// message waits for the reader and returned as the reader takes messages. A slow
/// reader thus holds at most about one stream window plus one message.
///
/// Sending: bytes wait in `pending` until nghttp2 pulls them as DATA frames; a
/// writer suspends while more than `writeHighWater` bytes wait, or while the
/// connection's socket buffer is over its limit.
class H2Stream: @unchecked Sendable {
    let loop: EventLoop
    /// Nil once the stream is closed.
    var connection: H2Connection?
    var streamID: Int32 = -1

    // Receiving.
    var inbound: InboundFlow
    var receiveWaiter: CheckedContinuation<[UInt8]?, any Error>?
    /// `inbound.heldBytes` as last told to the connection (its budget).
    private var reportedHeld = 0
    /// Runs while a message is half received; fires when no byte came for
    /// `HTTP2Limits.receiveTimeout`.
    private var receiveTimer: (any TransportTimer)?

    // Sending.
    var pending = ByteQueue()
    var dataDeferred = false
    var writeWaiter: CheckedContinuation<Void, any Error>? {
        didSet {
            if (oldValue == nil) != (writeWaiter == nil) {
                stats?.suspendedWriters.wrappingAdd(writeWaiter == nil ? -1 : 1, ordering: .relaxed)
            }
        }
    }
    /// The owner's counters (suspended writers).
    private let stats: TransportStats?
    let writeHighWater: Int

    /// The stream is closed (both sides done, reset, or the connection is gone).
    var closed = false
    /// Why it closed, for operations after that.
    var closeError = RPCError(code: .unavailable, message: "the stream is closed")

    init(loop: EventLoop, connection: H2Connection, maxReceiveMessageSize: Int, writeHighWater: Int) {
        self.loop = loop
        self.connection = connection
        self.stats = connection.stats
        self.inbound = InboundFlow(maxMessageSize: maxReceiveMessageSize)
        self.writeHighWater = writeHighWater
    }

    // MARK: - Receiving (loop thread)

    /// A DATA chunk arrived. Connection credit was returned already.
    func receivedData(_ bytes: UnsafeRawBufferPointer) {
        let hadFailure = inbound.failure != nil
        connection?.consumeStream(streamID, inbound.receive(bytes))
        if !hadFailure, let failure = inbound.failure {
            receiveFailed(failure)
            return
        }
        accountHeld()
        if let connection, inbound.heldBytes > 0, connection.inboundOverBudget {
            receiveFailed(RPCError(code: .resourceExhausted,
                message: "the server holds too much unread request data; the call was ended (try fewer concurrent calls or smaller messages)"))
            return
        }
        armReceiveTimer()
        wakeReceiver()
    }

    /// Tells the connection how much this stream holds now.
    private func accountHeld() {
        let held = closed ? 0 : inbound.heldBytes
        guard held != reportedHeld else { return }
        connection?.inboundHeldChanged(by: held - reportedHeld)
        reportedHeld = held
    }

    /// A peer that stops in the middle of a message must not pin its bytes: the
    /// call ends when nothing more arrives for `receiveTimeout`.
    private func armReceiveTimer() {
        guard inbound.hasPartialMessage, let timeout = connection?.limits.receiveTimeout else {
            receiveTimer?.cancel()
            return
        }
        if receiveTimer == nil { receiveTimer = connection?.clock.timer(on: loop) }
        receiveTimer?.schedule(after: timeout) { [weak self] in
            guard let self, self.inbound.hasPartialMessage, self.inbound.failure == nil else { return }
            self.receiveFailed(RPCError(code: .resourceExhausted,
                message: "no data for \(timeout) in the middle of a message; the call was ended"))
        }
    }

    /// The peer finished sending (END_STREAM).
    func receivedEndOfStream() {
        inbound.end()
        wakeReceiver()
    }

    /// Receiving failed: the reader gets `error`. Subclasses also end the call.
    func receiveFailed(_ error: RPCError) {
        inbound.fail(error)
        receiveTimer?.cancel()
        accountHeld()
        wakeReceiver()
    }

    /// The peer's data will not be read any more: return its credit.
    func releaseInboundCredit() {
        connection?.consumeStream(streamID, inbound.releaseAll())
    }

    private func wakeReceiver() {
        guard let waiter = receiveWaiter else { return }
        if let message = takeMessage() {
            receiveWaiter = nil
            waiter.resume(returning: message)
        } else if let terminal = inbound.terminal {
            receiveWaiter = nil
            waiter.resume(with: terminal.mapError { $0 as any Error })
        } else if closed {
            receiveWaiter = nil
            waiter.resume(throwing: closeError)
        }
    }

    private func takeMessage() -> [UInt8]? {
        guard let (message, credit) = inbound.take() else { return nil }
        connection?.consumeStream(streamID, credit)
        accountHeld()
        return message
    }

    /// The next message, nil at the end of the stream.
    func receiveMessage() async throws -> [UInt8]? {
        if !loop.inEventLoop {
            return try await withTaskExecutorPreference(loop) { try await self.receiveMessage() }
        }
        if let message = takeMessage() { return message }
        if let terminal = inbound.terminal { return try terminal.get() }
        if closed { throw closeError }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                if Task.isCancelled {
                    continuation.resume(throwing: RPCError(code: .cancelled, message: "the call was cancelled"))
                } else {
                    receiveWaiter = continuation
                }
            }
        } onCancel: {
            loop.execute {
                self.receiveFailedByCancellation()
            }
        }
    }

    private func receiveFailedByCancellation() {
        guard let waiter = receiveWaiter else { return }
        receiveWaiter = nil
        waiter.resume(throwing: RPCError(code: .cancelled, message: "the call was cancelled"))
    }

    // MARK: - Sending (loop thread)

    /// Whether more data may follow; false once the sending side is finished.
    var canSend: Bool { !closed }

    /// Queues a framed message and waits while too much is buffered.
    func sendMessage(_ framed: [UInt8]) async throws {
        if !loop.inEventLoop {
            return try await withTaskExecutorPreference(loop) { try await self.sendMessage(framed) }
        }
        guard canSend, let connection else { throw closeError }
        try prepareToSend()
        pending.append(framed)
        resumeData()
        guard pending.count > writeHighWater || connection.outputCongested else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                if Task.isCancelled {
                    continuation.resume(throwing: RPCError(code: .cancelled, message: "the call was cancelled"))
                } else {
                    writeWaiter = continuation
                }
            }
        } onCancel: {
            loop.execute {
                self.wakeWriter(error: RPCError(code: .cancelled, message: "the call was cancelled"))
            }
        }
    }

    /// Subclass hook before the first bytes are queued (the server sends headers).
    func prepareToSend() throws {}

    /// Makes nghttp2 ask for data again after it was told there was none.
    func resumeData() {
        guard let connection else { return }
        if dataDeferred {
            dataDeferred = false
            connection.resumeData(streamID)
        }
        connection.markDirty()
    }

    /// Resumes a suspended writer when there is room again, or with `error`.
    func wakeWriter(error: RPCError? = nil) {
        guard let waiter = writeWaiter else { return }
        if let error {
            writeWaiter = nil
            waiter.resume(throwing: error)
        } else if closed {
            writeWaiter = nil
            waiter.resume(throwing: closeError)
        } else if pending.count <= writeHighWater / 2, !(connection?.outputCongested ?? false) {
            writeWaiter = nil
            waiter.resume()
        }
    }

    // MARK: - nghttp2 data provider (inside nghttp2 callbacks)

    /// How many bytes of the next DATA frame are ready, with flags; or deferral.
    func readCallback(length: Int, flags: UnsafeMutablePointer<UInt32>) -> Int {
        if !pending.isEmpty {
            flags.pointee |= NGHTTP2_DATA_FLAG_NO_COPY.rawValue
            return min(length, pending.count)
        }
        if endOfData(flags: flags) {
            return 0
        }
        dataDeferred = true
        return Int(NGHTTP2_ERR_DEFERRED.rawValue)
    }

    /// Called when nothing is pending: sets EOF flags (and submits trailers) if the
    /// sending side is finished. Subclasses decide.
    func endOfData(flags: UnsafeMutablePointer<UInt32>) -> Bool { false }

    /// Writes one DATA frame (header and `length` pending bytes) to `output`.
    func sendDataCallback(frameHeader: UnsafePointer<UInt8>, length: Int, output: OpaquePointer) -> Int32 {
        guard let connection, !connection.outputFull else { return NGHTTP2_ERR_WOULDBLOCK.rawValue }
        connection.write(UnsafeRawBufferPointer(start: frameHeader, count: 9))
        pending.consume(length) { (bytes: UnsafeRawBufferPointer) -> Void in connection.write(bytes) }
        if writeWaiter != nil {
            wakeWriter()
        }
        return 0
    }

    // MARK: - Closing

    /// The stream is gone: fail every waiter. Subclasses cancel what they run.
    func streamClosed(error: RPCError) {
        guard !closed else { return }
        closed = true
        closeError = error
        receiveTimer?.cancel()
        accountHeld()
        connection = nil
        pending.removeAll()
        wakeReceiver()
        wakeWriter(error: error)
    }
}
