import H2Transport
import RPCCore
import Testing

/// The stream's receiving state machine on its own: credit returned exactly
/// when the rules say, whatever the chunking.
@Suite struct InboundFlowTests {
    private func framed(_ sizes: [Int]) -> [UInt8] {
        sizes.flatMap { MessageFraming.frame(payload: [UInt8](repeating: 7, count: $0)) }
    }

    @Test func partialMessagesAreCreditedAtOnce() {
        var flow = InboundFlow(maxMessageSize: 1 << 20)
        let bytes = framed([100_000])
        // Nothing is complete yet: every byte comes back, so the message can finish
        // even when the stream window is smaller than it.
        #expect(flow.receive(bytes[0..<40_000]) == 40_000)
        #expect(flow.receive(bytes[40_000..<80_000]) == 40_000)
        #expect(flow.withheld == 0 && flow.messages.isEmpty)
        // The chunk that completes it is withheld until the reader takes it.
        #expect(flow.receive(bytes[80_000...]) == 0)
        #expect(flow.withheld == 20_005 && flow.messages.count == 1)
        let taken = flow.take()
        #expect(taken?.message.count == 100_000 && taken?.credit == 20_005)
        #expect(flow.withheld == 0)
    }

    @Test func queuedMessagesHoldCreditUntilTaken() {
        var flow = InboundFlow(maxMessageSize: 1 << 20)
        let bytes = framed([10, 10, 10, 10])  // 4 x 15 bytes
        #expect(flow.receive(bytes) == 0)
        #expect(flow.withheld == 60 && flow.messages.count == 4)
        // Each taken message gives back its own framed size; the last releases the rest.
        #expect(flow.take()?.credit == 15)
        #expect(flow.take()?.credit == 15)
        #expect(flow.receive(framed([5])[0..<3]) == 0, "a message waits: the partial one is withheld too")
        #expect(flow.take()?.credit == 15)
        #expect(flow.take()?.credit == 18, "nothing waits: all of it, the partial message included")
        #expect(flow.take() == nil && flow.terminal == nil)
    }

    @Test func creditNeverLeaksOrDoublesUnderAnyChunking() {
        for chunk in [1, 3, 7, 16, 64, 1000] {
            var flow = InboundFlow(maxMessageSize: 1 << 20)
            let bytes = framed([0, 1, 200, 3, 4096, 17])
            var credited = 0
            var offset = 0
            var taken = 0
            while offset < bytes.count {
                let end = min(offset + chunk, bytes.count)
                credited += flow.receive(bytes[offset..<end])
                offset = end
                if offset % (chunk * 3) == 0, let next = flow.take() {
                    credited += next.credit
                    taken += 1
                }
            }
            while let next = flow.take() {
                credited += next.credit
                taken += 1
            }
            flow.end()
            #expect(taken == 6)
            #expect(credited == bytes.count, "chunk \(chunk)")
            #expect(flow.terminal == .success(nil))
        }
    }

    @Test func oversizedMessageFailsAndReturnsEverything() {
        var flow = InboundFlow(maxMessageSize: 100)
        #expect(flow.receive(framed([10])) == 0)
        let credit = flow.receive(framed([101]).prefix(20))
        #expect(credit == 20 + 15, "the new bytes and what was withheld")
        #expect(flow.messages.isEmpty)
        #expect(flow.terminal == .failure(DeframingError.messageTooLarge(length: 101, limit: 100).rpcError))
        #expect(flow.receive([1, 2, 3] as [UInt8]) == 3, "after a failure every byte is returned at once")
    }

    @Test func endOfStreamInTheMiddleOfAMessageIsAnError() {
        var flow = InboundFlow(maxMessageSize: 100)
        _ = flow.receive(framed([10]).prefix(8))
        flow.end()
        guard case .failure(let error)? = flow.terminal else {
            Issue.record("expected a failure")
            return
        }
        #expect(error.code == .internal)
        #expect(flow.receive([1] as [UInt8]) == 1)
    }

    @Test func aResetAfterMessagesLetsThemBeReadFirst() {
        var flow = InboundFlow(maxMessageSize: 100)
        _ = flow.receive(framed([1, 2]))
        flow.failAfterMessages(RPCError(code: .cancelled, message: "reset"))
        #expect(flow.take()?.message == [7])
        #expect(flow.take()?.message == [7, 7])
        #expect(flow.terminal == .failure(RPCError(code: .cancelled, message: "reset")))
    }
}
