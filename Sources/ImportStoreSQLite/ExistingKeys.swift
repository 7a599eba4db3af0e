import ImportEngine
import SQLiteDB

/// A Bloom filter over every key in `contact_keys`, kept by the writer, so
/// that looking up a key no contact has (most rows of an import of new
/// contacts) costs no B-tree probe. Into a database of 5M contacts such a
/// probe reads a leaf page the cache does not hold: about 2.5 us a row, the
/// whole difference to an empty database.
///
/// Built by one scan when a run begins (and again when more keys were added
/// than it was sized for); every key added through the writer is added here
/// too. A key deleted stays in the filter (a probe then finds nothing, as
/// before). 10 bits a key for twice the keys there are, at most 16 MiB; past
/// that the filter answers "maybe" more often, never "no" wrongly.
final class ExistingKeys {
    private var filter: BloomFilter
    private(set) var added = 0
    let capacity: Int

    static let maxBytes = 16 << 20

    init(capacity: Int) {
        self.capacity = capacity
        filter = BloomFilter(bytes: min(Self.maxBytes, max(64 << 10, capacity * 10 / 8)))
    }

    /// A filter holding every key of `contact_keys`, sized for twice as many.
    static func build(_ db: Connection) throws -> ExistingKeys {
        // Every contact ever created has at most two keys.
        let contacts = try db.scalar("SELECT seq FROM sqlite_sequence WHERE name = 'contacts'") ?? 0
        let keys = ExistingKeys(capacity: max(1 << 20, Int(contacts) * 4))
        try db.cached("SELECT kind, key FROM contact_keys").forEachRow { row in
            let kind = UInt8(truncatingIfNeeded: row.int64(0))
            row.withBytes(1) { keys.insert(kind, $0) }
        }
        return keys
    }

    var isOverfull: Bool { added > capacity }

    func insert(_ kind: UInt8, _ key: UnsafeRawBufferPointer) {
        filter.insert(KeyHash.of(kind, key))
        added += 1
    }

    func insert(_ kind: Int64, _ bytes: [UInt8], _ range: Range<Int>) {
        bytes.withUnsafeBytes { insert(UInt8(truncatingIfNeeded: kind), UnsafeRawBufferPointer(rebasing: $0[range])) }
    }

    func insert(_ kind: Int64, _ key: String) {
        var key = key
        key.withUTF8 { insert(UInt8(truncatingIfNeeded: kind), UnsafeRawBufferPointer($0)) }
    }

    func mayContain(_ kind: Int64, _ bytes: [UInt8], _ range: Range<Int>) -> Bool {
        bytes.withUnsafeBytes { filter.mayContain(KeyHash.of(UInt8(truncatingIfNeeded: kind), UnsafeRawBufferPointer(rebasing: $0[range]))) }
    }
}
