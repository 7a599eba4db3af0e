import SQLiteDB

/// The dedup keys of the contacts a run has created so far, kept in one byte
/// buffer until the run ends, then written to `contact_keys` in key order (see
/// `Schema`). Only touched on the writer queue.
struct KeyAccumulator {
    struct Entry {
        var kind: Int64
        var start: Int32
        var length: Int32
        var contactID: Int64
    }

    private(set) var bytes: [UInt8] = []
    private(set) var entries: [Entry] = []
    /// The last row whose keys are here.
    var lastRow: Int64

    init(from row: Int64) {
        lastRow = row
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
        entries.append(Entry(kind: kind, start: Int32(start), length: Int32(range.count), contactID: contactID))
    }

    mutating func add(kind: Int64, key: String, contactID: Int64) {
        let start = bytes.count
        bytes.append(contentsOf: key.utf8)
        entries.append(Entry(kind: kind, start: Int32(start), length: Int32(bytes.count - start), contactID: contactID))
    }

    /// Inserts every key in (kind, key) order: byte order, SQLite's BINARY collation.
    func write(_ db: Connection) throws {
        let bytes = self.bytes
        let order = entries.indices.sorted { a, b in
            let x = entries[a]
            let y = entries[b]
            if x.kind != y.kind { return x.kind < y.kind }
            return bytes[Int(x.start)..<Int(x.start + x.length)].lexicographicallyPrecedes(bytes[Int(y.start)..<Int(y.start + y.length)])
        }
        let insert = try db.cached("INSERT INTO contact_keys (kind, key, contact_id) VALUES (?, ?, ?)")
        try insert.withBuffer(bytes) { binder in
            for index in order {
                let entry = entries[index]
                try binder.int(1, entry.kind)
                try binder.text(2, Int(entry.start)..<Int(entry.start + entry.length))
                try binder.int(3, entry.contactID)
                try binder.step()
                insert.reset()
            }
        }
    }
}

/// State of the writer connection beyond SQLite: the runs' key accumulators.
/// @unchecked: touched only inside `writer.run`, on the writer's serial queue.
final class WriterState: @unchecked Sendable {
    var keys: [Int64: KeyAccumulator] = [:]
}
