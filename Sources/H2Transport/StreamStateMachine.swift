import RPCCore

/// The receiving limits that end a call (RESOURCE_EXHAUSTED).
package enum ReceiveLimit: String, Sendable {
    /// A message (or its inflated form) over the size limit.
    case messageSize = "message_size"
    /// The connection or server holds too many request bytes.
    case inboundBuffer = "inbound_buffer"
    /// Nothing arrived for too long in the middle of a message.
    case receiveTimeout = "receive_timeout"
}

/// One HTTP/2 stream carrying a gRPC call, as a value: what has been received
/// and how much credit to return, whether a half-received message is being
/// timed, where the sending side is, and whether the stream is closed. Events
/// go in; what to do comes out (`Actions`); the stream object applies it. No
/// I/O, no timers, no nghttp2: tested as a value (StreamStateMachineTests).
package struct StreamStateMachine {
    /// Where the sending side is. The server's headers, the client's request
    /// headers, then data, then the end (trailers, or END_STREAM).
    package enum SendPhase: Equatable {
        /// Nothing sent yet.
        case idle
        /// Headers sent; data may follow.
        case open
        /// The end is decided and waits behind the data still queued.
        case closing
        /// The end was handed to nghttp2 (or the stream closed).
        case done
    }

    /// How the sending side ends when `finishSending` is called.
    package enum Finish: Equatable {
        /// Nothing was sent: one header block carries everything (Trailers-Only).
        case headersOnly
        /// The end follows the queued data: ask nghttp2 for data again.
        case afterData
        /// It had ended already.
        case alreadyDone
    }

    /// A change to the receive timer.
    package enum TimerChange: Equatable {
        case unchanged
        case arm(after: Duration)
        case cancel
    }

    /// What the stream does after an event.
    package struct Actions: Equatable {
        /// Stream credit to return now (WINDOW_UPDATE).
        package var returnCredit = 0
        /// Change in the request bytes this stream holds (the connection's budget).
        package var heldDelta = 0
        package var receiveTimer = TimerChange.unchanged
        /// Receiving failed just now: end the call with this.
        package var failure: RPCError?
        /// Which limit the failure is, when a limit ended the call (for metrics).
        package var limit: ReceiveLimit?
        /// A waiting reader may have something (a message, the end, an error).
        package var wakeReader = false

        package init(
            returnCredit: Int = 0, heldDelta: Int = 0, receiveTimer: TimerChange = .unchanged, failure: RPCError? = nil,
            wakeReader: Bool = false
        ) {
            self.returnCredit = returnCredit
            self.heldDelta = heldDelta
            self.receiveTimer = receiveTimer
            self.failure = failure
            self.wakeReader = wakeReader
        }
    }

    package private(set) var inbound: InboundFlow
    package private(set) var sendPhase = SendPhase.idle
    /// Why the stream closed; nil while it is open.
    package private(set) var closeError: RPCError?
    /// A message stalled half-way ends the call after this long; nil: never.
    package let receiveTimeout: Duration?
    /// `held` as last reported in `heldDelta`.
    private var reportedHeld = 0

    package init(maxMessageSize: Int, receiveTimeout: Duration?) {
        inbound = InboundFlow(maxMessageSize: maxMessageSize)
        self.receiveTimeout = receiveTimeout
    }

    package var isClosed: Bool { closeError != nil }

    /// Request bytes held for the reader (0 once closed).
    package var held: Int { isClosed ? 0 : inbound.heldBytes }

    // MARK: - Receiving

    /// A DATA chunk arrived. `budgetLeft`: how many more bytes the connection
    /// and the server may hold; past it this stream fails (RESOURCE_EXHAUSTED).
    package mutating func received<Bytes: Collection>(_ bytes: Bytes, budgetLeft: Int) -> Actions
    where Bytes.Element == UInt8, Bytes.Index == Int {
        guard !isClosed else { return Actions(returnCredit: bytes.count) }
        let hadFailure = inbound.failure != nil
        var actions = Actions(returnCredit: inbound.receive(bytes))
        if !hadFailure, let failure = inbound.failure {
            actions.merge(failed(failure, limit: failure.code == .resourceExhausted ? .messageSize : nil))
            return actions
        }
        let growth = inbound.heldBytes - reportedHeld
        if inbound.heldBytes > 0, growth > budgetLeft {
            actions.merge(
                failed(RPCError(
                    code: .resourceExhausted,
                    message: "the server holds too much unread request data; the call was ended (try fewer concurrent calls or smaller messages)"),
                    limit: .inboundBuffer))
            return actions
        }
        actions.heldDelta = reportHeld()
        actions.receiveTimer = timerForPartialMessage()
        actions.wakeReader = true
        return actions
    }

    /// The receive timer fired: a message stalled half-way ends the call.
    package mutating func receiveTimerFired() -> Actions {
        guard !isClosed, inbound.hasPartialMessage, inbound.failure == nil, let timeout = receiveTimeout else { return Actions() }
        return failed(
            RPCError(code: .resourceExhausted, message: "no data for \(timeout) in the middle of a message; the call was ended"),
            limit: .receiveTimeout)
    }

    /// The peer finished sending (END_STREAM). A message cut short is an error
    /// for the reader.
    package mutating func receivedEnd() -> Actions {
        inbound.end()
        return Actions(receiveTimer: .cancel, wakeReader: true)
    }

    /// Receiving fails with `error` (bad input, a deadline, a local cancel);
    /// `limit` when one of the receiving limits is why.
    package mutating func failed(_ error: RPCError, limit: ReceiveLimit? = nil) -> Actions {
        inbound.fail(error)
        var actions = Actions(heldDelta: reportHeld(), receiveTimer: .cancel, failure: error, wakeReader: true)
        actions.limit = limit
        return actions
    }

    /// Messages already received stay readable; then `error` (the peer reset the stream).
    package mutating func failAfterMessages(_ error: RPCError) {
        inbound.failAfterMessages(error)
    }

    /// Lowers the largest request message accepted, before any byte arrived.
    package mutating func limitMessageSize(_ limit: Int) {
        inbound.limitMessageSize(limit)
    }

    /// How compressed messages are inflated (the stream's `grpc-encoding`).
    package mutating func setDecompressor(_ decompressor: MessageDeframer.Decompressor?) {
        inbound.setDecompressor(decompressor)
    }

    /// The reader takes the next message, if one is here.
    package mutating func take() -> (message: [UInt8], actions: Actions)? {
        guard let (message, credit) = inbound.take() else { return nil }
        return (message, Actions(returnCredit: credit, heldDelta: reportHeld()))
    }

    /// Whatever the peer still sends will not be read: all withheld credit back.
    package mutating func releaseCredit() -> Int {
        inbound.releaseAll()
    }

    /// What a reader gets when no message is queued: nil while more may come.
    package var terminal: Result<[UInt8]?, RPCError>? {
        if let terminal = inbound.terminal { return terminal }
        if let closeError { return .failure(closeError) }
        return nil
    }

    // MARK: - Sending

    /// Whether data may still be queued.
    package var canSend: Bool { !isClosed && (sendPhase == .idle || sendPhase == .open) }

    /// Headers are about to go out; true when they had not yet.
    package mutating func openSending() -> Bool {
        guard sendPhase == .idle, !isClosed else { return false }
        sendPhase = .open
        return true
    }

    /// The sending side ends (the server's status, the client's half-close).
    package mutating func finishSending() -> Finish {
        switch sendPhase {
        case .idle where !isClosed:
            sendPhase = .done
            return .headersOnly
        case .open where !isClosed:
            sendPhase = .closing
            return .afterData
        default:
            sendPhase = .done
            return .alreadyDone
        }
    }

    /// nghttp2 found no queued data: true when the end goes out now (trailers
    /// or END_STREAM), false to defer until more data or the end comes.
    package mutating func dataExhausted() -> Bool {
        guard sendPhase == .closing else { return false }
        sendPhase = .done
        return true
    }

    // MARK: - Closing

    /// The stream is gone (reset, both sides done, or the connection closed).
    package mutating func closed(_ error: RPCError) -> Actions {
        guard !isClosed else { return Actions() }
        closeError = error
        sendPhase = .done
        return Actions(heldDelta: reportHeld(), receiveTimer: .cancel, wakeReader: true)
    }

    // MARK: - Helpers

    private mutating func reportHeld() -> Int {
        let delta = held - reportedHeld
        reportedHeld = held
        return delta
    }

    private func timerForPartialMessage() -> TimerChange {
        guard inbound.hasPartialMessage, let receiveTimeout else { return .cancel }
        return .arm(after: receiveTimeout)
    }
}

extension StreamStateMachine.Actions {
    /// Adds `other` to these actions (credit and held sum; the later timer and failure win).
    package mutating func merge(_ other: Self) {
        returnCredit += other.returnCredit
        heldDelta += other.heldDelta
        if other.receiveTimer != .unchanged { receiveTimer = other.receiveTimer }
        if other.failure != nil {
            failure = other.failure
            limit = other.limit
        }
        wakeReader = wakeReader || other.wakeReader
    }
}
