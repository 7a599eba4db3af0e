import Gzip
import H2Transport
import RPCCore
import Testing

/// One stream's receiving, sending and closing as a value: credit, the
/// connection's budget, the receive timer, and the sending phases.
@Suite struct StreamStateMachineTests {
    typealias Machine = StreamStateMachine

    private func framed(_ sizes: [Int]) -> [UInt8] {
        sizes.flatMap { MessageFraming.frame(payload: [UInt8](repeating: 7, count: $0)) }
    }

    @Test func aPartialMessageArmsTheReceiveTimerAndACompleteOneCancelsIt() {
        var m = Machine(maxMessageSize: 1 << 20, receiveTimeout: .seconds(30))
        let bytes = framed([1000])
        let first = m.received(bytes[0..<500], budgetLeft: .max)
        #expect(first == Machine.Actions(returnCredit: 500, heldDelta: 495, receiveTimer: .arm(after: .seconds(30)), wakeReader: true))
        let second = m.received(bytes[500...], budgetLeft: .max)
        // Complete: its credit waits for the reader; nothing is timed any more.
        #expect(second == Machine.Actions(returnCredit: 0, heldDelta: 505, receiveTimer: .cancel, wakeReader: true))
        #expect(m.held == 1000)
        let taken = m.take()
        #expect(taken?.message.count == 1000)
        #expect(taken?.actions == Machine.Actions(returnCredit: 505, heldDelta: -1000))
        #expect(m.held == 0)
    }

    @Test func theReceiveTimerEndsAStalledMessage() {
        var m = Machine(maxMessageSize: 1 << 20, receiveTimeout: .seconds(30))
        _ = m.received(framed([1000])[0..<10], budgetLeft: .max)
        let fired = m.receiveTimerFired()
        #expect(fired.failure?.code == .resourceExhausted)
        #expect(fired.heldDelta == -5 && fired.receiveTimer == .cancel && fired.wakeReader)
        #expect(m.terminal.map { (try? $0.get()) == nil } == true)
        // Once failed, a second firing does nothing, and late bytes are credited back.
        let r1 = m.receiveTimerFired()
        #expect(r1 == Machine.Actions())
        let r2 = m.received([1, 2, 3], budgetLeft: .max)
        #expect(r2.returnCredit == 3)
    }

    @Test func noReceiveTimeoutNeverArmsATimer() {
        var m = Machine(maxMessageSize: 1 << 20, receiveTimeout: nil)
        let r3 = m.received(framed([1000])[0..<10], budgetLeft: .max)
        #expect(r3.receiveTimer == .cancel)
        let r4 = m.receiveTimerFired()
        #expect(r4 == Machine.Actions())
    }

    @Test func growingPastTheBudgetFailsTheStream() {
        var m = Machine(maxMessageSize: 1 << 20, receiveTimeout: nil)
        let bytes = framed([10_000])
        let r5 = m.received(bytes[0..<4000], budgetLeft: 5000)
        #expect(r5.failure == nil)
        let over = m.received(bytes[4000..<8000], budgetLeft: 1000)
        #expect(over.failure?.code == .resourceExhausted)
        #expect(over.heldDelta == -3995, "everything it held is released")
        #expect(over.returnCredit == 4000)
        #expect(m.held == 0)
    }

    @Test func anOversizedMessageFailsAtItsPrefix() {
        var m = Machine(maxMessageSize: 100, receiveTimeout: .seconds(30))
        let actions = m.received(framed([101]), budgetLeft: .max)
        #expect(actions.failure?.code == .resourceExhausted)
        #expect(actions.returnCredit == 106)
        #expect(actions.heldDelta == 0)
    }

    @Test func aLowerLimitAppliesBeforeTheFirstByte() {
        var m = Machine(maxMessageSize: 1 << 20, receiveTimeout: nil)
        m.limitMessageSize(10)
        let r6 = m.received(framed([11]), budgetLeft: .max)
        #expect(r6.failure?.code == .resourceExhausted)
    }

    @Test func endOfStreamInTheMiddleOfAMessageIsAnError() {
        var m = Machine(maxMessageSize: 1 << 20, receiveTimeout: .seconds(30))
        _ = m.received(framed([100])[0..<50], budgetLeft: .max)
        let r7 = m.receivedEnd()
        #expect(r7 == Machine.Actions(receiveTimer: .cancel, wakeReader: true))
        guard case .failure(let error)? = m.terminal else {
            Issue.record("expected a failure")
            return
        }
        #expect(error.code == .internal)
    }

    @Test func messagesStayReadableAfterAResetThenTheError() {
        var m = Machine(maxMessageSize: 1 << 20, receiveTimeout: nil)
        _ = m.received(framed([3, 4]), budgetLeft: .max)
        m.failAfterMessages(RPCError(code: .cancelled, message: "reset"))
        let r8 = m.take()
        #expect(r8?.message.count == 3)
        let r9 = m.take()
        #expect(r9?.message.count == 4)
        guard case .failure(let error)? = m.terminal else {
            Issue.record("expected the reset")
            return
        }
        #expect(error.code == .cancelled)
    }

    @Test func closingReleasesWhatWasHeldAndEndsReaders() {
        var m = Machine(maxMessageSize: 1 << 20, receiveTimeout: .seconds(30))
        _ = m.received(framed([100]), budgetLeft: .max)
        let closed = m.closed(RPCError(code: .unavailable, message: "gone"))
        #expect(closed == Machine.Actions(heldDelta: -100, receiveTimer: .cancel, wakeReader: true))
        let r10 = m.closed(RPCError(code: .unavailable, message: "again"))
        #expect(r10 == Machine.Actions(), "once")
        #expect(!m.canSend)
        let r11 = m.received([1, 2], budgetLeft: .max)
        #expect(r11 == Machine.Actions(returnCredit: 2))
    }

    @Test func aServerResponseWithDataThenTrailers() {
        var m = Machine(maxMessageSize: 1 << 20, receiveTimeout: nil)
        #expect(m.canSend && m.sendPhase == .idle)
        let r12 = m.openSending()
        #expect(r12, "headers go out with the first message")
        let r13 = m.openSending()
        #expect(!r13, "only once")
        let r14 = m.dataExhausted()
        #expect(!r14, "no end yet: nghttp2 defers")
        let r15 = m.finishSending()
        #expect(r15 == .afterData)
        #expect(!m.canSend)
        let r16 = m.dataExhausted()
        #expect(r16, "now the trailers go out")
        #expect(m.sendPhase == .done)
        let r17 = m.finishSending()
        #expect(r17 == .alreadyDone)
    }

    @Test func aStatusWithNothingSentIsTrailersOnly() {
        var m = Machine(maxMessageSize: 1 << 20, receiveTimeout: nil)
        let r18 = m.finishSending()
        #expect(r18 == .headersOnly)
        let r19 = m.openSending()
        #expect(!r19 && !m.canSend)
        let r20 = m.dataExhausted()
        #expect(!r20)
    }

    @Test func nothingIsSentOnAClosedStream() {
        var m = Machine(maxMessageSize: 1 << 20, receiveTimeout: nil)
        _ = m.openSending()
        _ = m.closed(RPCError(code: .cancelled, message: "reset"))
        let r21 = m.finishSending()
        #expect(r21 == .alreadyDone)
        let r22 = m.dataExhausted()
        #expect(!r22)
    }

    private static let gunzip: MessageDeframer.Decompressor = { bytes, limit throws(DeframingError) in
        do {
            return try Gzip.decompress(bytes, limit: limit)
        } catch {
            throw .decompressedTooLarge(limit: limit)
        }
    }

    private func compressedMessage(_ payload: [UInt8]) -> [UInt8] {
        var framed = MessageFraming.frame(payload: Gzip.compress(payload))
        framed[0] = 1
        return framed
    }

    @Test func aCompressedMessageIsInflatedForTheReader() {
        var m = Machine(maxMessageSize: 1 << 20, receiveTimeout: nil)
        m.setDecompressor(Self.gunzip)
        let wire = compressedMessage([UInt8](repeating: 9, count: 100_000))
        #expect(m.received(wire, budgetLeft: .max).failure == nil)
        #expect(m.held == 100_000, "what is held is what the reader gets")
        #expect(m.take()?.message == [UInt8](repeating: 9, count: 100_000))
    }

    @Test func aCompressedMessageMayNotInflatePastTheLimit() {
        var m = Machine(maxMessageSize: 1 << 20, receiveTimeout: nil)
        m.setDecompressor(Self.gunzip)
        let actions = m.received(compressedMessage([UInt8](repeating: 0, count: 8 << 20)), budgetLeft: .max)
        #expect(actions.failure?.code == .resourceExhausted)
        #expect(m.held == 0)
    }

    @Test func aCompressedMessageWithoutAnEncodingIsAnError() {
        var m = Machine(maxMessageSize: 1 << 20, receiveTimeout: nil)
        #expect(m.received(compressedMessage([1, 2, 3]), budgetLeft: .max).failure?.code == .internal)
    }
}
