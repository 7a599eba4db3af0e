import DequeModule
import RPCCore
import Synchronization

/// One HTTP/2 stream carrying a gRPC call, on both sides: the shell around a
/// `StreamStateMachine` that applies what it decides (credit, the connection's
/// budget, the receive timer, waking readers and writers), and holds the
/// framed messages on their way out. Subclassed by the server and client
/// calls. Loop thread only, except that the public async entry points hop to
/// the loop first.
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
    var state: StreamStateMachine

    var receiveWaiter: CheckedContinuation<[UInt8]?, any Error>?
    /// Takes each message as it completes, on the loop, instead of `receive`
    /// (`GRPCChannel.observe`).
    var onMessage: (([UInt8]) -> Void)?
    /// Runs while a message is half received (`HTTP2Limits.receiveTimeout`).
    private var receiveTimer: (any TransportTimer)?

    // Sending.
    /// Framed messages not yet written; counted in the connection's `outboundPending`.
    private(set) var pending = ByteQueue()
    /// Where nghttp2's data source for this stream stands.
    private var dataSource = DataSource.queued

    /// nghttp2 pulls a stream's data through a data source: given with the
    /// headers, deferred when nothing is queued, and dropped after the last
    /// queued bytes (`HTTP2DataRead.lastBytes`) while the stream stays open.
    private enum DataSource: Equatable {
        /// nghttp2 will ask for data.
        case queued
        /// nghttp2 was told there is none; `resumeData` asks it again.
        case deferred
        /// The last queued bytes were handed out; nghttp2 drops the source once
        /// their frame is written. `more`: bytes were queued since, so a new
        /// source is needed then.
        case ending(more: Bool)
        /// No source: `submitData` gives one.
        case none
    }
    var writeWaiter: CheckedContinuation<Void, any Error>? {
        didSet {
            if (oldValue == nil) != (writeWaiter == nil) {
                stats?.suspendedWriters.wrappingAdd(writeWaiter == nil ? -1 : 1, ordering: .relaxed)
                if writeWaiter == nil {
                    connection?.waitingWriters.removeValue(forKey: streamID)
                } else {
                    connection?.waitingWriters[streamID] = self
                }
            }
        }
    }
    /// The owner's counters (suspended writers).
    private let stats: TransportStats?
    let writeHighWater: Int
    /// Whether `offer` may queue now: false while the stream holds more than
    /// its high-water mark (read from any thread; written on the loop).
    let acceptsOffers = Atomic<Bool>(true)
    /// Payload bytes of the messages offered (`ServerCallIO.offeredBytes`).
    let offeredPayload = Atomic<Int>(0)

    init(loop: EventLoop, connection: H2Connection) {
        self.loop = loop
        self.connection = connection
        self.stats = connection.stats
        self.state = StreamStateMachine(
            maxMessageSize: connection.limits.maxReceiveMessageSize, receiveTimeout: connection.limits.receiveTimeout)
        self.writeHighWater = connection.limits.streamWriteHighWater
    }

    var closed: Bool { state.isClosed }
    var closeError: RPCError { state.closeError ?? RPCError(code: .unavailable, message: "the stream is closed") }

    // MARK: - Applying the state machine's actions (loop thread)

    func apply(_ actions: StreamStateMachine.Actions) {
        if actions.returnCredit > 0 { connection?.consumeStream(streamID, actions.returnCredit) }
        if actions.heldDelta != 0 { connection?.inboundHeldChanged(by: actions.heldDelta) }
        switch actions.receiveTimer {
        case .unchanged:
            break
        case .cancel:
            receiveTimer?.cancel()
        case .arm(let timeout):
            if receiveTimer == nil { receiveTimer = connection?.clock.timer(on: loop) }
            receiveTimer?.schedule(after: timeout) { [weak self] in
                guard let self else { return }
                self.apply(self.state.receiveTimerFired())
            }
        }
        if let failure = actions.failure {
            if let limit = actions.limit { connection?.stats.limitHit(limit.rawValue) }
            receiveFailed(failure)
        }
        if actions.wakeReader { wakeReceiver() }
    }

    /// Receiving failed: the reader has been told. Subclasses end the call.
    func receiveFailed(_ error: RPCError) {}

    // MARK: - Receiving (loop thread)

    /// A DATA chunk arrived. Connection credit was returned already.
    func receivedData(_ bytes: UnsafeRawBufferPointer) {
        apply(state.received(bytes, budgetLeft: connection?.inboundBudgetLeft ?? 0))
    }

    /// The peer finished sending (END_STREAM).
    func receivedEndOfStream() {
        apply(state.receivedEnd())
    }

    /// Ends receiving with `error` (a deadline, a local cancel, bad input).
    func failReceiving(_ error: RPCError) {
        apply(state.failed(error))
    }

    /// The peer's data will not be read any more: return its credit.
    func releaseInboundCredit() {
        connection?.consumeStream(streamID, state.releaseCredit())
    }

    private func wakeReceiver() {
        if let onMessage {
            while let message = takeMessage() { onMessage(message) }
            return
        }
        guard let waiter = receiveWaiter else { return }
        if let message = takeMessage() {
            receiveWaiter = nil
            waiter.resume(returning: message)
        } else if let terminal = state.terminal {
            receiveWaiter = nil
            waiter.resume(with: terminal.mapError { $0 as any Error })
        }
    }

    func takeMessage() -> [UInt8]? {
        guard let (message, actions) = state.take() else { return nil }
        apply(actions)
        return message
    }

    /// The next message, nil at the end of the stream.
    func receiveMessage() async throws -> [UInt8]? {
        if !loop.inEventLoop {
            return try await withTaskExecutorPreference(loop) { try await self.receiveMessage() }
        }
        if let message = takeMessage() { return message }
        if let terminal = state.terminal { return try terminal.get() }
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
    var canSend: Bool { state.canSend }

    /// Queues a framed message and waits while too much is buffered.
    func sendMessage(_ framed: [UInt8]) async throws {
        if !loop.inEventLoop {
            return try await withTaskExecutorPreference(loop) { try await self.sendMessage(framed) }
        }
        guard canSend, let connection else { throw closeError }
        try prepareToSend()
        enqueue(framed)
        resumeData()
        guard mustWait(connection) else { return }
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

    /// Queues a framed message from any thread without waiting (see
    /// `ServerCallIO.offer`); false when the stream is behind or closed.
    func offerMessage(_ framed: [UInt8]) -> Bool {
        guard acceptsOffers.load(ordering: .relaxed) else { return false }
        offeredPayload.wrappingAdd(framed.count - MessageFraming.headerSize, ordering: .relaxed)
        loop.offer(framed, to: self)
        return true
    }

    /// An offered message, on the loop. It is handed to nghttp2 at once: a
    /// broadcast offers to thousands of streams in a row, and nghttp2 keeps the
    /// streams with data in a priority heap; one send per offer keeps that heap
    /// at one entry instead of one per stream (each of its steps then misses
    /// the cache): 10,000 watchers cost about 15% less server CPU so.
    func takeOffered(_ framed: [UInt8]) {
        // Closed since: the message goes nowhere, as it would have with `send`.
        guard canSend, let connection else { return }
        enqueue(framed)
        resumeData()
        connection.flush()
        if mustWait(connection) { acceptsOffers.store(false, ordering: .relaxed) }
    }

    /// Queues framed bytes for nghttp2 to pull as DATA.
    func enqueue(_ framed: [UInt8]) {
        pending.append(framed)
        connection?.outboundPending += framed.count
    }

    /// A writer waits while its stream has too much unsent, the connection's
    /// streams together do, or the socket buffer is full.
    private func mustWait(_ connection: H2Connection, resuming: Bool = false) -> Bool {
        let divisor = resuming ? 2 : 1
        return pending.count > writeHighWater / divisor || connection.outputCongested
            || connection.outboundPending > connection.limits.maxBufferedOutboundBytes / divisor
    }

    /// Subclass hook before the first bytes are queued (the server sends headers).
    func prepareToSend() throws {}

    /// Makes nghttp2 ask for data again after it was told there was none.
    func resumeData() {
        guard let connection else { return }
        switch dataSource {
        case .queued, .ending(more: true):
            break
        case .deferred:
            dataSource = .queued
            connection.resumeData(streamID)
        case .ending(more: false):
            dataSource = .ending(more: true)
        case .none:
            submitData()
        }
        connection.markDirty()
    }

    /// A new data source, the previous one having been dropped.
    func submitData() {
        guard let connection, let session = connection.session, dataSource == .none, !closed else { return }
        dataSource = .queued
        do {
            try session.submitData(streamID)
        } catch {
            // The stream cannot send any more: end it rather than leave its writer waiting.
            connection.resetStream(streamID, .internalError)
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
        } else if let connection, !mustWait(connection, resuming: true) {
            writeWaiter = nil
            waiter.resume()
        }
    }

    // MARK: - nghttp2 data source (inside the session's send)

    /// How many bytes of the next DATA frame are ready, or the end, or deferral.
    func readData(maxLength: Int) -> HTTP2DataRead {
        if !pending.isEmpty {
            // The last bytes of an open stream: its source goes with them
            // (while ending, the next read brings the end instead).
            if pending.count <= maxLength && state.canSend {
                dataSource = .ending(more: false)
                return .lastBytes(pending.count)
            }
            return .bytes(min(maxLength, pending.count))
        }
        if state.dataExhausted() { return endOfData() }
        dataSource = .deferred
        return .deferred
    }

    /// The sending side ended and its data is out: how the stream ends
    /// (the server submits trailers here). Subclasses decide.
    func endOfData() -> HTTP2DataRead { .end(endStream: true) }

    /// Writes `length` pending bytes of a DATA frame (its header is written).
    func sendData(length: Int) {
        guard let connection else { return }
        pending.consume(length) { (bytes: UnsafeRawBufferPointer) -> Void in connection.write(bytes) }
        connection.outboundPending -= length
        // This frame's source is dropped as soon as we return; more bytes
        // queued meanwhile get a new one once nghttp2 is done sending.
        if case .ending(let more) = dataSource {
            dataSource = .none
            if more { connection.needsDataSource(self) }
        }
        if pending.count <= writeHighWater / 2, !acceptsOffers.load(ordering: .relaxed) {
            acceptsOffers.store(true, ordering: .relaxed)
        }
        if writeWaiter != nil {
            wakeWriter()
        }
    }

    // MARK: - Closing

    /// The stream is gone: fail every waiter. Subclasses cancel what they run.
    func streamClosed(error: RPCError) {
        guard !closed else { return }
        apply(state.closed(error))
        connection?.outboundPending -= pending.count
        connection?.waitingWriters.removeValue(forKey: streamID)
        connection = nil
        pending.removeAll()
        wakeWriter(error: error)
    }
}
