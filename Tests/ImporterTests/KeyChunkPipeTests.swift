import Dispatch
import ImportEngine
import ImportStoreSQLite
import Synchronization
import Testing

/// The hand-over of a run's sorted keys from the merge's thread to the writer.
@Suite struct KeyChunkPipeTests {
    static func key(_ i: Int) -> [UInt8] { Array("person\(i)@example.org".utf8) }

    /// Runs a producer of `count` keys (failing after `failAfter` if given)
    /// on another thread; returns whether it had ended when `consume` returned.
    static func run(count: Int, failAfter: Int? = nil, body: @escaping (KeyChunk) throws -> Void) -> (result: Result<Void, any Error>, producerEnded: Bool, emitted: Int) {
        let pipe = KeyChunkPipe()
        let ended = Mutex(false)
        let emitted = Mutex(0)
        DispatchQueue.global().async {
            pipe.produce { emit in
                for i in 0..<count {
                    if let failAfter, i == failAfter { throw ProducerFailed() }
                    let bytes = key(i)
                    try emit(1, bytes, 0..<bytes.count, Int64(i))
                    emitted.withLock { $0 += 1 }
                }
            }
            ended.withLock { $0 = true }
        }
        let result = Result { try pipe.consume(body) }
        // `consume` returns once the producer has stopped emitting; its
        // thread then only sets the flag.
        while !ended.withLock({ $0 }) {}
        return (result, true, emitted.withLock { $0 })
    }

    struct ProducerFailed: Error {}
    struct ConsumerFailed: Error {}

    @Test func everyKeyArrivesInOrderWithItsHash() throws {
        var seen: [Int64] = []
        let outcome = Self.run(count: 10_000) { chunk in
            #expect(chunk.keys.count <= KeyChunk.keys)
            for key in chunk.keys {
                let bytes = Array(chunk.bytes[key.range])
                #expect(bytes == Self.key(Int(key.contactID)))
                #expect(key.hash == bytes.withUnsafeBytes { KeyHash.of(1, $0) })
                seen.append(key.contactID)
            }
        }
        try outcome.result.get()
        #expect(seen == (0..<10_000).map(Int64.init))
    }

    @Test func aFailedInsertStopsTheMergeBeforeItReturns() {
        var chunks = 0
        let outcome = Self.run(count: 1_000_000) { _ in
            chunks += 1
            throw ConsumerFailed()
        }
        #expect(throws: ConsumerFailed.self) { try outcome.result.get() }
        #expect(chunks == 1)
        // The producer stopped at the first chunk that found no room.
        #expect(outcome.emitted <= (KeyChunkPipe.depth + 2) * KeyChunk.keys)
    }

    @Test func aFailedMergeIsThrownAfterTheChunksBeforeIt() {
        var received = 0
        let outcome = Self.run(count: 10_000, failAfter: 9_000) { chunk in received += chunk.keys.count }
        #expect(throws: ProducerFailed.self) { try outcome.result.get() }
        #expect(received == 2 * KeyChunk.keys, "the chunks filled before the failure; the partial one is dropped")
    }
}
