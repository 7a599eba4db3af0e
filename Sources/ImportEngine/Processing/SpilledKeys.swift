import Platform

/// Key hashes that no longer fit in memory, with the row that first had each:
/// runs of entries sorted by hash in scratch files, and one Bloom filter over
/// every hash here, so that a key never seen costs no read.
///
/// Runs merge like a binary counter (two runs of the same level become one of
/// the next), so there are at most about log2(spills) + 1 of them and every
/// entry is rewritten about log2(spills) times. Each run keeps the first hash
/// of each block of `blockEntries` entries in memory (8 bytes per 128
/// entries); a lookup reads one block of each run, newest first, until found.
/// A hash is never in two places: callers add only hashes not found.
package struct SpilledKeys {
    package struct Entry: Equatable {
        package var hash: UInt64
        package var row: Int64
        package var offset: Int64

        package init(hash: UInt64, row: Int64, offset: Int64) {
            self.hash = hash
            self.row = row
            self.offset = offset
        }
    }

    static let blockEntries = 128
    /// Entries read or written per scratch-file call when runs are written and merged.
    static let streamEntries = 8192

    private var runs: [Run] = []
    private var filter: BloomFilter
    private let directory: String

    /// `expectedKeys` sizes the filter (10 bits a key, at most `maxFilterBytes`).
    package init(directory: String, expectedKeys: Int, maxFilterBytes: Int) {
        self.directory = directory
        filter = BloomFilter(bytes: min(maxFilterBytes, max(64 << 10, expectedKeys * 10 / 8)))
    }

    package var runCount: Int { runs.count }
    package var count: Int { runs.reduce(0) { $0 + $1.count } }

    /// Adds `sorted` (ascending hashes, none of them here yet) as a new run.
    package mutating func spill<C: Collection<Entry>>(_ sorted: C) throws {
        for entry in sorted { filter.insert(entry.hash) }
        var writer = try RunWriter(directory: directory)
        for entry in sorted { try writer.add(entry) }
        var run = try writer.finish(level: 0)
        while let last = runs.last, last.level == run.level {
            runs.removeLast()
            run = try Self.merge(last, run, directory: directory)
        }
        runs.append(run)
    }

    /// The entry for `hash`, if it was spilled.
    package func find(_ hash: UInt64) throws -> Entry? {
        guard filter.mayContain(hash) else { return nil }
        for run in runs.reversed() {
            if let entry = try run.find(hash) { return entry }
        }
        return nil
    }

    private static func merge(_ a: Run, _ b: Run, directory: String) throws -> Run {
        var writer = try RunWriter(directory: directory)
        var x = RunReader(a)
        var y = RunReader(b)
        var left = try x.next()
        var right = try y.next()
        while let l = left, let r = right {
            if l.hash <= r.hash {
                try writer.add(l)
                left = try x.next()
            } else {
                try writer.add(r)
                right = try y.next()
            }
        }
        while let l = left {
            try writer.add(l)
            left = try x.next()
        }
        while let r = right {
            try writer.add(r)
            right = try y.next()
        }
        return try writer.finish(level: max(a.level, b.level) + 1)
    }

    /// One sorted run: its file, its sparse index, its level.
    final class Run {
        let file: ScratchFile
        let count: Int
        let index: [UInt64]
        let level: Int
        private var block: [Entry] = []

        init(file: ScratchFile, count: Int, index: [UInt64], level: Int) {
            self.file = file
            self.count = count
            self.index = index
            self.level = level
        }

        func find(_ hash: UInt64) throws -> Entry? {
            // The last block whose first hash is at most `hash`.
            var low = 0
            var high = index.count
            while low < high {
                let mid = (low + high) / 2
                if index[mid] <= hash { low = mid + 1 } else { high = mid }
            }
            guard low > 0 else { return nil }
            let first = (low - 1) * SpilledKeys.blockEntries
            let entries = min(SpilledKeys.blockEntries, count - first)
            try read(from: first, count: entries, into: &block)
            var lo = 0
            var hi = block.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if block[mid].hash < hash { lo = mid + 1 } else { hi = mid }
            }
            return lo < block.count && block[lo].hash == hash ? block[lo] : nil
        }

        /// Entries `first..<first+count` into `buffer` (replacing what it held).
        func read(from first: Int, count: Int, into buffer: inout [Entry]) throws {
            let stride = MemoryLayout<Entry>.stride
            buffer = try Array(unsafeUninitializedCapacity: count) { storage, initialized in
                initialized = 0
                try file.read(at: Int64(first * stride), into: UnsafeMutableRawBufferPointer(start: storage.baseAddress, count: count * stride))
                initialized = count
            }
        }
    }

    private struct RunWriter {
        let file: ScratchFile
        var buffer: [Entry] = []
        var index: [UInt64] = []
        var count = 0

        init(directory: String) throws {
            file = try ScratchFile(directory: directory)
            buffer.reserveCapacity(SpilledKeys.streamEntries)
        }

        mutating func add(_ entry: Entry) throws {
            if count % SpilledKeys.blockEntries == 0 { index.append(entry.hash) }
            count += 1
            buffer.append(entry)
            if buffer.count == SpilledKeys.streamEntries { try flush() }
        }

        mutating func flush() throws {
            try buffer.withUnsafeBytes { try file.append($0) }
            buffer.removeAll(keepingCapacity: true)
        }

        mutating func finish(level: Int) throws -> Run {
            try flush()
            return Run(file: file, count: count, index: index, level: level)
        }
    }

    private struct RunReader {
        let run: Run
        var buffer: [Entry] = []
        var position = 0
        var read = 0

        init(_ run: Run) {
            self.run = run
        }

        mutating func next() throws -> Entry? {
            if position == buffer.count {
                let remaining = run.count - read
                guard remaining > 0 else { return nil }
                let count = min(SpilledKeys.streamEntries, remaining)
                try run.read(from: read, count: count, into: &buffer)
                read += count
                position = 0
            }
            position += 1
            return buffer[position - 1]
        }
    }
}

/// A split-block Bloom filter: 256-bit blocks, one bit set in each of a
/// block's eight 32-bit words, so a probe touches one cache line. At 10 bits a
/// key about 1% of keys never added are reported as maybe there.
package struct BloomFilter: Sendable {
    private var blocks: [SIMD8<UInt32>]

    // Odd constants that spread a 32-bit key over the eight words' bits.
    private static let salt = SIMD8<UInt32>(0x47b6_137b, 0x4497_4d91, 0x8824_ad5b, 0xa2b7_289d, 0x7054_95c7, 0x2df1_424b, 0x9efc_4947, 0x5c6b_fb31)

    package init(bytes: Int) {
        blocks = Array(repeating: SIMD8(), count: max(1, bytes / 32))
    }

    /// The filter's bits, to keep it (in this machine's byte order).
    package func withBits<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try blocks.withUnsafeBytes(body)
    }

    /// Fills the filter with bits `withBits` gave (a filter of the same `byteCount`).
    package mutating func withMutableBits<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try blocks.withUnsafeMutableBytes(body)
    }

    /// Its size: `init(bytes:)` rounded down to whole 32-byte blocks, at least one.
    package var byteCount: Int { blocks.count * 32 }

    package mutating func insert(_ hash: UInt64) {
        let (block, mask) = Self.probe(hash, blocks: blocks.count)
        blocks[block] |= mask
    }

    /// Inserts many at once: their blocks' cache misses then overlap instead
    /// of each waiting between other work (a miss is most of an insert).
    package mutating func insert(contentsOf hashes: UnsafeBufferPointer<UInt64>) {
        let count = blocks.count
        blocks.withUnsafeMutableBufferPointer { b in
            for hash in hashes {
                let (block, mask) = Self.probe(hash, blocks: count)
                b[block] |= mask
            }
        }
    }

    /// `mayContain` of each hash, appended to `answers`, back to back: the
    /// blocks' cache misses overlap.
    package func mayContain(_ hashes: [UInt64], into answers: inout [Bool]) {
        let count = blocks.count
        blocks.withUnsafeBufferPointer { b in
            for hash in hashes {
                let (block, mask) = Self.probe(hash, blocks: count)
                answers.append(b[block] & mask == mask)
            }
        }
    }

    package func mayContain(_ hash: UInt64) -> Bool {
        let (block, mask) = Self.probe(hash, blocks: blocks.count)
        return blocks[block] & mask == mask
    }

    private static func probe(_ hash: UInt64, blocks count: Int) -> (Int, SIMD8<UInt32>) {
        // The key hash is mixed again (splitmix64's finalizer): its high half
        // picks the block, its low half the bit in each word.
        var m = hash
        m = (m ^ (m >> 30)) &* 0xbf58_476d_1ce4_e5b9
        m = (m ^ (m >> 27)) &* 0x94d0_49bb_1331_11eb
        m ^= m >> 31
        let block = Int(((m >> 32) &* UInt64(count)) >> 32)
        let key = SIMD8<UInt32>(repeating: UInt32(truncatingIfNeeded: m)) &* salt
        return (block, SIMD8<UInt32>(repeating: 1) &<< (key &>> 27))
    }
}
