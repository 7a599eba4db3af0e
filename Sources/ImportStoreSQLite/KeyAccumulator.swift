import Dispatch
import ImportEngine
import Platform
import SQLiteDB
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Byte order of two keys (SQLite's BINARY collation): memcmp, then the shorter first.
@inline(__always)
func keyPrecedes(_ a: UnsafeRawPointer, _ aCount: Int, _ b: UnsafeRawPointer, _ bCount: Int) -> Bool {
    let order = memcmp(a, b, min(aCount, bCount))
    return order != 0 ? order < 0 : aCount < bCount
}

/// A key's kind and first seven bytes as one integer whose order is the
/// (kind, key) order of the keys where it differs (a key shorter than seven
/// bytes is padded with zeros, which no key contains): most comparisons of
/// a sort or a merge end there, without a `memcmp`.
@inline(__always)
func keyOrderPrefix(kind: Int64, _ key: UnsafeRawPointer, _ count: Int) -> UInt64 {
    var prefix = UInt64(truncatingIfNeeded: kind) << 56
    for i in 0..<min(count, 7) {
        prefix |= UInt64(key.load(fromByteOffset: i, as: UInt8.self)) << (48 - 8 * UInt64(i))
    }
    return prefix
}

/// (kind, key) order of two keys with their prefixes (`keyOrderPrefix`).
@inline(__always)
func keyPrecedes(_ aPrefix: UInt64, _ a: UnsafeRawPointer, _ aCount: Int, _ bPrefix: UInt64, _ b: UnsafeRawPointer, _ bCount: Int) -> Bool {
    if aPrefix != bPrefix { return aPrefix < bPrefix }
    return keyPrecedes(a, aCount, b, bCount)
}

/// The dedup keys of the contacts a run has created so far, written to
/// `contact_keys` in key order when the run ends (see `Schema`). Only touched
/// on the writer queue.
///
/// Memory is bounded whatever the run's size: keys gather in two buffers of
/// `memoryBytes` together (key bytes; entries), and when either is three
/// quarters full they go sorted to a scratch file beside the database as one
/// run (an external sort); the end merges the runs.
struct KeyAccumulator {
    struct Entry {
        /// The kind and the key's first bytes (`keyOrderPrefix`).
        var prefix: UInt64
        var start: Int32
        var length: Int32
        var contactID: Int64

        var kind: Int64 { Int64(prefix >> 56) }
    }

    private(set) var bytes: [UInt8] = []
    private(set) var entries: [Entry] = []
    /// The last row whose keys are here.
    var lastRow: Int64
    /// Where runs go when memory is full (nil: never spilled, e.g. recovery).
    let scratchDirectory: String?
    let memoryBytes: Int
    /// Sorted runs already spilled.
    private(set) var runs: SpilledRuns?

    init(from row: Int64, scratchDirectory: String? = nil, memoryBytes: Int = SQLiteImportStore.defaultRunKeyMemoryBytes) {
        lastRow = row
        self.scratchDirectory = scratchDirectory
        self.memoryBytes = memoryBytes
        if scratchDirectory != nil {
            // Reserved once (pages are touched only as keys arrive), so the
            // buffers never double while they fill.
            bytes.reserveCapacity(memoryBytes / 2)
            entries.reserveCapacity(memoryBytes / 2 / MemoryLayout<Entry>.stride)
        }
    }

    /// Where the accumulator stands, to drop what a rolled-back batch added.
    var mark: (bytes: Int, entries: Int) { (bytes.count, entries.count) }

    mutating func truncate(to mark: (bytes: Int, entries: Int)) {
        bytes.removeSubrange(mark.bytes...)
        entries.removeSubrange(mark.entries...)
    }

    mutating func add(kind: Int64, _ source: [UInt8], _ range: Range<Int>, contactID: Int64) {
        guard !range.isEmpty else { return }
        let start = bytes.count
        bytes.append(contentsOf: source[range])
        append(kind: kind, start: start, contactID: contactID)
    }

    private mutating func append(kind: Int64, start: Int, contactID: Int64) {
        let prefix = bytes.withUnsafeBytes { keyOrderPrefix(kind: kind, $0.baseAddress! + start, $0.count - start) }
        entries.append(Entry(prefix: prefix, start: Int32(start), length: Int32(bytes.count - start), contactID: contactID))
    }

    mutating func add(kind: Int64, key: String, contactID: Int64) {
        guard !key.isEmpty else { return }
        let start = bytes.count
        bytes.append(contentsOf: key.utf8)
        append(kind: kind, start: start, contactID: contactID)
    }

    /// Spills the keys in memory when they have reached `memoryBytes` (called
    /// between batches, after a commit, so a rollback never meets a spilled key).
    /// They are sorted and written on the runs' own queue while the writer
    /// goes on (sorting was about 8% of the writer's time); one spill at a
    /// time, so at most one more set of buffers is held.
    mutating func spillIfFull() throws {
        // At three quarters of either buffer: a batch's keys then fit in the rest.
        let full = bytes.count >= memoryBytes / 8 * 3 || entries.count >= memoryBytes / 8 * 3 / MemoryLayout<Entry>.stride
        guard let scratchDirectory, full else { return }
        if runs == nil { runs = try SpilledRuns(directory: scratchDirectory) }
        runs!.spill(entries, bytes)
        entries = []
        bytes = []
        entries.reserveCapacity(memoryBytes / 2 / MemoryLayout<Entry>.stride)
        bytes.reserveCapacity(memoryBytes / 2)
    }

    /// The entries in (kind, key) order: byte order, SQLite's BINARY collation.
    static func sorted(_ entries: [Entry], _ bytes: [UInt8]) -> [Entry] {
        bytes.withUnsafeBytes { b in
            entries.sorted { x, y in
                keyPrecedes(x.prefix, b.baseAddress! + Int(x.start), Int(x.length), y.prefix, b.baseAddress! + Int(y.start), Int(y.length))
            }
        }
    }

    /// Inserts every key in (kind, key) order, and adds it to `existing`.
    ///
    /// The keys are sorted, merged and hashed on a thread of their own
    /// (`KeyChunkPipe`) while this one inserts them: at the end of a run the
    /// other core was idle, and the merge was a third of the writer's time.
    func write(_ db: Connection, existing: ExistingKeys?) throws {
        var inserter = try KeyInserter(db, tier: try KeyTiers.recentAtEnd(db), existing: existing)
        let pipe = KeyChunkPipe()
        let (entries, bytes, runs) = (self.entries, self.bytes, self.runs)
        DispatchQueue.global().async {
            pipe.produce { emit in
                // The keys still in memory are one more run of the merge.
                let sorted = Self.sorted(entries, bytes)
                if let runs {
                    try runs.merge(memory: sorted, bytes, emit)
                } else {
                    for entry in sorted { try emit(entry.kind, bytes, Int(entry.start)..<Int(entry.start + entry.length), entry.contactID) }
                }
            }
        }
        try pipe.consume { chunk in
            for key in chunk.keys {
                try inserter.add(key.kind, chunk.bytes, key.range, key.contactID, hash: key.hash)
            }
        }
        try inserter.finish()
    }
}

/// Keys in order, from the merge to the writer, a few thousand at a time.
package struct KeyChunk: Sendable {
    package static let keys = 4096
    package var bytes: [UInt8] = []
    package var keys: [(kind: Int64, range: Range<Int>, contactID: Int64, hash: UInt64)] = []
}

/// Hands key chunks from a producer thread to the writer, at most `depth`
/// waiting (the memory of a few chunks, whatever the run's size). The
/// consumer returns only once the producer has stopped, however either ends.
package final class KeyChunkPipe: @unchecked Sendable {
    package static let depth = 2
    private enum Message {
        case chunk(KeyChunk)
        case end((any Error)?)
    }
    private struct State {
        var messages: [Message] = []
        var cancelled = false
    }
    private let state = Mutex(State())
    private let items = DispatchSemaphore(value: 0)
    private let slots = DispatchSemaphore(value: KeyChunkPipe.depth)
    private let stopped = DispatchSemaphore(value: 0)

    private struct Cancelled: Error {}

    package init() {}

    /// Runs `body` (on the producer's thread), which calls `emit` with each
    /// key in order.
    package func produce(_ body: (_ emit: (Int64, [UInt8], Range<Int>, Int64) throws -> Void) throws -> Void) {
        var chunk = KeyChunk()
        var failure: (any Error)?
        do {
            try body { kind, source, range, contactID in
                let start = chunk.bytes.count
                chunk.bytes.append(contentsOf: source[range])
                let hash = source.withUnsafeBytes { KeyHash.of(UInt8(truncatingIfNeeded: kind), UnsafeRawBufferPointer(rebasing: $0[range])) }
                chunk.keys.append((kind, start..<chunk.bytes.count, contactID, hash))
                if chunk.keys.count == KeyChunk.keys {
                    guard self.put(.chunk(chunk)) else { throw Cancelled() }
                    chunk = KeyChunk()
                }
            }
            if !chunk.keys.isEmpty, !put(.chunk(chunk)) { throw Cancelled() }
        } catch {
            failure = error
        }
        if !(failure is Cancelled) { _ = put(.end(failure)) }
        stopped.signal()
    }

    /// Calls `body` with each chunk, in order, until the producer ends;
    /// rethrows the producer's error, or `body`'s after stopping it.
    package func consume(_ body: (KeyChunk) throws -> Void) throws {
        do {
            while true {
                items.wait()
                let message = state.withLock { $0.messages.removeFirst() }
                slots.signal()
                switch message {
                case .chunk(let chunk): try body(chunk)
                case .end(let error?): throw error
                case .end(nil):
                    stopped.wait()
                    return
                }
            }
        } catch {
            state.withLock { $0.cancelled = true }
            // Wakes the producer if it waits for room; it sees `cancelled`.
            for _ in 0...Self.depth { slots.signal() }
            stopped.wait()
            throw error
        }
    }

    /// Queues a message; false once the consumer has given up.
    private func put(_ message: Message) -> Bool {
        slots.wait()
        return state.withLock {
            if $0.cancelled { return false }
            $0.messages.append(message)
            items.signal()
            return true
        }
    }
}

/// Inserts keys in the order given, `width` to a statement (a statement per
/// key cost more than the key), into one tier, and into the filter of
/// existing keys; counts them in `key_tiers` at the end.
struct KeyInserter {
    static let width = 64
    private let db: Connection
    private let tier: Int64
    private let existing: ExistingKeys?
    private let one: Statement
    private let many: Statement
    private var bytes: [UInt8] = []
    private var entries: [(kind: Int64, range: Range<Int>, contactID: Int64)] = []
    /// The entries' hashes, for the filter (added with each statement).
    private var hashes: [UInt64] = []
    private var added: Int64 = 0

    init(_ db: Connection, tier: Int64, existing: ExistingKeys?) throws {
        self.db = db
        self.tier = tier
        self.existing = existing
        let sql = "INSERT INTO contact_keys (tier, kind, key, contact_id) VALUES "
        one = try db.cached(sql + "(?, ?, ?, ?)")
        many = try db.cached(sql + Array(repeating: "(?, ?, ?, ?)", count: Self.width).joined(separator: ", "))
        entries.reserveCapacity(Self.width)
    }

    /// Adds a key whose hash (`KeyHash.of`) is `hash`.
    mutating func add(_ kind: Int64, _ source: [UInt8], _ range: Range<Int>, _ contactID: Int64, hash: UInt64) throws {
        let start = bytes.count
        bytes.append(contentsOf: source[range])
        entries.append((kind, start..<bytes.count, contactID))
        if existing != nil { hashes.append(hash) }
        if entries.count == Self.width { try flush() }
    }

    mutating func finish() throws {
        try flush()
        try KeyTiers.count(db, added: added, to: tier)
    }

    private mutating func flush() throws {
        guard !entries.isEmpty else { return }
        let full = entries.count == Self.width
        try (full ? many : one).withBuffer(bytes) { binder in
            for (i, entry) in entries.enumerated() {
                let base = full ? Int32(i * 4) : 0
                try binder.int(base + 1, tier)
                try binder.int(base + 2, entry.kind)
                try binder.text(base + 3, entry.range)
                try binder.int(base + 4, entry.contactID)
                if !full {
                    try binder.step()
                    one.reset()
                }
            }
            if full { try binder.step() }
        }
        added += Int64(entries.count)
        if let existing {
            hashes.withUnsafeBufferPointer { existing.insert(hashes: $0) }
            hashes.removeAll(keepingCapacity: true)
        }
        bytes.removeAll(keepingCapacity: true)
        entries.removeAll(keepingCapacity: true)
    }
}

/// Sorted runs of keys in one scratch file, merged in order at the end. A
/// record: kind (1 byte), key length (4 bytes), contact id (8 bytes), key.
///
/// Runs are sorted and written on a queue of their own (`spill`), one at a
/// time; the merge waits for the one under way. A run that could not be
/// written (a full disk) is kept in memory and merged from there: no key is
/// lost. @unchecked: `runs`, `file` and `unwritten` are touched on `queue`
/// only, or by the merge after `wait`.
final class SpilledRuns: @unchecked Sendable {
    private let file: ScratchFile
    private var runs: [Range<Int64>] = []
    /// Sorted runs that could not be written.
    private var unwritten: [(entries: [KeyAccumulator.Entry], bytes: [UInt8])] = []
    private let queue = DispatchQueue(label: "key-runs")
    static let headerBytes = 13
    /// Read buffer of all runs together during the merge (at least 4 KiB each).
    static let mergeBufferBytes = 8 << 20

    init(directory: String) throws {
        file = try ScratchFile(directory: directory)
    }

    /// Sorts and writes `entries` (into `bytes`) as a run, on the runs' queue,
    /// after waiting for the run before it.
    func spill(_ entries: [KeyAccumulator.Entry], _ bytes: [UInt8]) {
        wait()
        queue.async { [self] in
            let sorted = KeyAccumulator.sorted(entries, bytes)
            do {
                try add(sorted, bytes)
            } catch {
                unwritten.append((sorted, bytes))
            }
        }
    }

    /// Returns once no run is being written.
    func wait() {
        queue.sync {}
    }

    private func add(_ sorted: [KeyAccumulator.Entry], _ bytes: [UInt8]) throws {
        let start = file.size
        var out: [UInt8] = []
        out.reserveCapacity(1 << 20)
        var next = sorted.startIndex
        while next < sorted.endIndex {
            // About 1 MiB of records at a time.
            var end = next
            var size = 0
            while end < sorted.endIndex && size < 1 << 20 {
                size += Self.headerBytes + Int(sorted[end].length)
                end += 1
            }
            out.removeAll(keepingCapacity: true)
            Self.encode(sorted[next..<end], bytes, into: &out)
            try file.append(out)
            next = end
        }
        runs.append(start..<file.size)
    }

    /// Appends the records of `entries` (keys in `bytes`) to `out`: room made
    /// once, then written through a pointer (three small appends a record
    /// were a tenth of a spill's time).
    private static func encode(_ entries: ArraySlice<KeyAccumulator.Entry>, _ bytes: [UInt8], into out: inout [UInt8]) {
        var size = 0
        for entry in entries { size += headerBytes + Int(entry.length) }
        var at = out.count
        out.append(contentsOf: repeatElement(0, count: size))
        out.withUnsafeMutableBytes { o in
            bytes.withUnsafeBytes { b in
                for entry in entries {
                    let length = Int(entry.length)
                    o[at] = UInt8(truncatingIfNeeded: entry.kind)
                    o.storeBytes(of: UInt32(length).littleEndian, toByteOffset: at + 1, as: UInt32.self)
                    o.storeBytes(of: entry.contactID.littleEndian, toByteOffset: at + 5, as: Int64.self)
                    (o.baseAddress! + at + headerBytes).copyMemory(from: b.baseAddress! + Int(entry.start), byteCount: length)
                    at += headerBytes + length
                }
            }
        }
    }

    /// Calls `emit` with every key of the runs and of `memory` (sorted entries
    /// into `bytes`), in (kind, key) order.
    func merge(memory: [KeyAccumulator.Entry], _ bytes: [UInt8], _ emit: (Int64, [UInt8], Range<Int>, Int64) throws -> Void) throws {
        wait()
        var cursors: [RunCursor] = []
        let bufferBytes = max(4 << 10, Self.mergeBufferBytes / max(1, runs.count))
        for run in runs {
            let cursor = RunCursor(file: file, range: run, bufferBytes: bufferBytes)
            if try cursor.advance() { cursors.append(cursor) }
        }
        // The keys still in memory (and runs that could not be written), as
        // runs of their own.
        for (entries, bytes) in unwritten + [(memory, bytes)] {
            var encoded: [UInt8] = []
            Self.encode(entries[...], bytes, into: &encoded)
            let inMemory = RunCursor(bytes: encoded)
            if try inMemory.advance() { cursors.append(inMemory) }
        }

        var heap = CursorHeap(cursors)
        while let top = heap.top {
            try emit(top.kind, top.buffer, top.key, top.contactID)
            if try top.advance() { heap.topChanged() } else { heap.removeTop() }
        }
    }
}

/// Reads one run's records in order.
final class RunCursor {
    private let file: ScratchFile?
    private var next: Int64
    private let end: Int64
    private let bufferBytes: Int
    private(set) var buffer: [UInt8]
    private var position = 0
    private(set) var kind: Int64 = 0
    private(set) var contactID: Int64 = 0
    private(set) var key: Range<Int> = 0..<0
    private var prefix: UInt64 = 0

    init(file: ScratchFile, range: Range<Int64>, bufferBytes: Int) {
        self.file = file
        next = range.lowerBound
        end = range.upperBound
        self.bufferBytes = bufferBytes
        buffer = []
    }

    init(bytes: [UInt8]) {
        file = nil
        next = 0
        end = 0
        bufferBytes = 0
        buffer = bytes
    }

    /// Moves to the next record; false at the end of the run.
    func advance() throws -> Bool {
        guard try available(SpilledRuns.headerBytes) else { return false }
        let length = buffer.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: position + 1, as: UInt32.self))) }
        guard try available(SpilledRuns.headerBytes + length) else {
            throw SQLiteError(code: 11, message: "a scratch run of keys ends inside a record")
        }
        kind = Int64(buffer[position])
        contactID = buffer.withUnsafeBytes { Int64(littleEndian: $0.loadUnaligned(fromByteOffset: position + 5, as: Int64.self)) }
        key = position + SpilledRuns.headerBytes..<position + SpilledRuns.headerBytes + length
        prefix = buffer.withUnsafeBytes { [kind, key] in keyOrderPrefix(kind: kind, $0.baseAddress! + key.lowerBound, key.count) }
        position += SpilledRuns.headerBytes + length
        return true
    }

    /// Whether `count` bytes from `position` are in the buffer, reading more (and
    /// dropping what was read) when they are not.
    private func available(_ count: Int) throws -> Bool {
        if buffer.count - position >= count { return true }
        guard let file, next < end else { return false }
        buffer.removeSubrange(0..<position)
        position = 0
        let want = Int(min(end - next, Int64(max(bufferBytes, count) - buffer.count)))
        let start = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: want))
        try buffer.withUnsafeMutableBytes { raw in
            try file.read(at: next, into: UnsafeMutableRawBufferPointer(rebasing: raw[start...]))
        }
        next += Int64(want)
        return buffer.count - position >= count
    }

    /// (kind, key) order.
    func precedes(_ other: RunCursor) -> Bool {
        if prefix != other.prefix { return prefix < other.prefix }
        return buffer.withUnsafeBytes { a in
            other.buffer.withUnsafeBytes { b in
                keyPrecedes(a.baseAddress! + key.lowerBound, key.count, b.baseAddress! + other.key.lowerBound, other.key.count)
            }
        }
    }
}

/// A binary min-heap of cursors by their current record.
struct CursorHeap {
    private var items: [RunCursor]

    init(_ cursors: [RunCursor]) {
        items = cursors
        for i in stride(from: items.count / 2 - 1, through: 0, by: -1) { siftDown(i) }
    }

    var top: RunCursor? { items.first }

    mutating func topChanged() { siftDown(0) }

    mutating func removeTop() {
        items.swapAt(0, items.count - 1)
        items.removeLast()
        if !items.isEmpty { siftDown(0) }
    }

    private mutating func siftDown(_ start: Int) {
        var i = start
        while true {
            let left = 2 * i + 1
            guard left < items.count else { return }
            var least = left
            if left + 1 < items.count && items[left + 1].precedes(items[left]) { least = left + 1 }
            guard items[least].precedes(items[i]) else { return }
            items.swapAt(i, least)
            i = least
        }
    }
}

/// State of the writer connection beyond SQLite: the runs' key accumulators.
/// @unchecked: touched only inside `writer.run`, on the writer's serial queue.
final class WriterState: @unchecked Sendable {
    var keys: [Int64: KeyAccumulator] = [:]
    /// The filter of every key of `contact_keys`.
    let existingKeys = ExistingKeys()
}
