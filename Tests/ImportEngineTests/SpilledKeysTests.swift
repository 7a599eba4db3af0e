import Foundation
import ImportEngine
import Platform
import Testing

@Suite struct SpilledKeysTests {
    /// Distinct pseudo-random hashes (SplitMix64 of a counter: no repeats).
    static func hashes(_ count: Int, from start: UInt64) -> [UInt64] {
        (0..<UInt64(count)).map { i in
            var z = (start &+ i) &* 0x9e37_79b9_7f4a_7c15
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return z ^ (z >> 31)
        }
    }

    @Test func everySpilledHashIsFoundWithItsRowAndNoOtherIs() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("spilled-\(UUID().uuidString)").path
        try FileSystem.createDirectory(directory)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var keys = SpilledKeys(directory: directory, expectedKeys: 20_000, maxFilterBytes: 1 << 20)
        let all = Self.hashes(20_000, from: 1)
        var entries: [UInt64: SpilledKeys.Entry] = [:]
        // 40 spills of 500 (runs merge like a binary counter: 40 = 0b101000).
        for spill in 0..<40 {
            let batch = all[(spill * 500)..<((spill + 1) * 500)].enumerated().map { i, hash in
                SpilledKeys.Entry(hash: hash, row: Int64(spill * 500 + i + 1), offset: Int64(spill * 500 + i) * 100)
            }.sorted { $0.hash < $1.hash }
            for entry in batch { entries[entry.hash] = entry }
            try keys.spill(batch)
            #expect(keys.runCount == (spill + 1).nonzeroBitCount)
        }
        #expect(keys.count == 20_000)
        for hash in all {
            #expect(try keys.find(hash) == entries[hash])
        }
        for hash in Self.hashes(5_000, from: 1 << 40) {
            #expect(try keys.find(hash) == nil)
        }
        // A hash between two spilled ones, and beyond both ends.
        #expect(try keys.find(0) == nil)
        #expect(try keys.find(.max) == nil)
    }

    @Test func theFilterNeverForgetsAndRarelyImagines() {
        var filter = BloomFilter(bytes: 100_000 * 10 / 8)
        let added = Self.hashes(100_000, from: 7)
        for hash in added { filter.insert(hash) }
        #expect(added.allSatisfy(filter.mayContain))
        let others = Self.hashes(100_000, from: 1 << 50)
        let falsePositives = others.filter(filter.mayContain).count
        // About 1% at 10 bits a key.
        #expect(falsePositives < 2_500, "\(falsePositives) false positives in 100,000")
    }
}
