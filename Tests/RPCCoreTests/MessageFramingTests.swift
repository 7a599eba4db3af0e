import RPCCore
import Testing

@Suite struct MessageFramingTests {
    private func frames(_ payloads: [[UInt8]]) -> [UInt8] {
        payloads.flatMap { MessageFraming.frame(payload: $0) }
    }

    private func deframe(_ bytes: [UInt8], chunkSizes: [Int], limit: Int = 1 << 20) throws -> [[UInt8]] {
        var deframer = MessageDeframer(maxMessageSize: limit)
        var messages: [[UInt8]] = []
        var offset = 0
        var i = 0
        while offset < bytes.count {
            let size = min(chunkSizes[i % chunkSizes.count], bytes.count - offset)
            try deframer.process(bytes[offset..<(offset + size)]) { messages.append($0) }
            offset += size
            i += 1
        }
        #expect(!deframer.hasPartialMessage)
        return messages
    }

    @Test func frameHasFlagAndBigEndianLength() {
        let framed = MessageFraming.frame(payload: Array(repeating: 7, count: 300))
        #expect(Array(framed.prefix(5)) == [0, 0, 0, 1, 44])
        #expect(framed.count == 305)
    }

    @Test(arguments: [[1], [2, 3], [5], [7, 1, 13], [4096], [100_000]])
    func messagesSplitAcrossChunksComeOutWhole(chunkSizes: [Int]) throws {
        let payloads: [[UInt8]] = [[], [1], Array(repeating: 9, count: 1000), [1, 2, 3], Array(0..<255)]
        #expect(try deframe(frames(payloads), chunkSizes: chunkSizes) == payloads)
    }

    @Test func severalMessagesCoalescedInOneChunk() throws {
        let payloads: [[UInt8]] = (0..<50).map { Array(repeating: UInt8($0), count: $0) }
        let bytes = frames(payloads)
        #expect(try deframe(bytes, chunkSizes: [bytes.count]) == payloads)
    }

    @Test func partialMessageIsReported() throws {
        var deframer = MessageDeframer(maxMessageSize: 100)
        let framed = MessageFraming.frame(payload: [1, 2, 3])
        try deframer.process(framed.prefix(6)) { _ in Issue.record("no message yet") }
        #expect(deframer.hasPartialMessage)
        var got: [[UInt8]] = []
        try deframer.process(framed.suffix(2)) { got.append($0) }
        #expect(got == [[1, 2, 3]])
        #expect(!deframer.hasPartialMessage)
    }

    @Test func oversizedMessageFailsAtItsPrefix() {
        var deframer = MessageDeframer(maxMessageSize: 10)
        let header: [UInt8] = [0, 0, 0, 0, 11]
        #expect(throws: DeframingError.messageTooLarge(length: 11, limit: 10)) {
            try deframer.process(header) { _ in }
        }
        #expect(DeframingError.messageTooLarge(length: 11, limit: 10).rpcError.code == .resourceExhausted)
    }

    @Test func compressedFlagWithoutEncodingFails() {
        var deframer = MessageDeframer(maxMessageSize: 10)
        #expect(throws: DeframingError.compressionNotSupported) {
            try deframer.process([1, 0, 0, 0, 1, 0] as [UInt8]) { _ in }
        }
    }
}
