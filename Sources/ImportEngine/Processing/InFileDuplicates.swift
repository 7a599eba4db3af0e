/// Finds rows whose email (case-insensitively) or external_id already appeared in
/// an earlier valid row of the same file, in bounded memory whatever the file's size.
///
/// A key is kept as a 64-bit hash with the earlier row's number and offset (24
/// bytes, not a string). The latest `Limits.memoryKeys` keys are in a hash
/// table; when it is full they go to `SpilledKeys` (sorted runs in scratch
/// files beside the spool, behind a Bloom filter). A hash match is confirmed
/// by reading the earlier row back from the spool, so a hash collision never
/// makes a false duplicate.
struct InFileDuplicates {
    typealias Earlier = SpilledKeys.Entry

    struct Limits {
        /// Keys held in memory before they are spilled (24 bytes each, and a
        /// table of 2^19 slots of 8 bytes, at most 5/8 full: 11.5 MiB).
        var memoryKeys = 5 << 16
        /// The largest Bloom filter over spilled keys (10 bits a key expected).
        var maxFilterBytes = 16 << 20
    }

    private var recent: RecentKeys
    private var spilled: SpilledKeys?
    /// Exact keys (the kind's byte, then the key) whose hash was taken by a
    /// different key: practically never used.
    private var exact: [[UInt8]: Earlier] = [:]
    private let spool: SpoolRows
    private let preparer: RowPreparer
    private let scratchDirectory: String
    private let expectedKeys: Int
    private let limits: Limits

    /// `expectedRows` (the file's row count) sizes the table and, if keys
    /// spill, the filter.
    init(spool: SpoolRows, preparer: RowPreparer, scratchDirectory: String, expectedRows: Int64, limits: Limits = Limits()) {
        self.spool = spool
        self.preparer = preparer
        self.scratchDirectory = scratchDirectory
        self.expectedKeys = Int(clamping: expectedRows) &* 2
        self.limits = limits
        recent = RecentKeys(maxCount: limits.memoryKeys, expectedCount: expectedKeys)
    }

    /// Frees the memory and scratch files (the run is over).
    mutating func release() {
        recent = RecentKeys(maxCount: limits.memoryKeys, expectedCount: 0)
        spilled = nil
        exact = [:]
    }

    private enum Lookup {
        case seen(Earlier)
        /// Not seen before; `taken` when another key has the same hash.
        case unseen(hash: UInt64, taken: Bool)
    }

    private static let externalIDKind: UInt8 = 2
    private static let emailKind: UInt8 = 1

    /// For a valid row of `batch`: an error when it repeats an earlier row's key;
    /// otherwise its keys are remembered and nil is returned.
    mutating func check(_ batch: RowBatch, _ index: Int) throws -> RowError? {
        let email = batch.emailKey(index)
        let externalID = batch.value(index, .externalID)
        var externalLookup: Lookup?
        var emailLookup: Lookup?
        if !externalID.isEmpty {
            let found = try lookup(Self.externalIDKind, externalID, slot: ContactField.externalID.rawValue)
            if case .seen(let earlier) = found {
                return RowError(code: .duplicateInFile, column: preparer.mapping.columnName(for: .externalID),
                    message: "same external_id as row \(earlier.row)")
            }
            externalLookup = found
        }
        if !email.isEmpty {
            let found = try lookup(Self.emailKind, email, slot: RowBatch.emailKeySlot)
            if case .seen(let earlier) = found {
                return RowError(code: .duplicateInFile, column: preparer.mapping.columnName(for: .email),
                    message: "same email as row \(earlier.row)")
            }
            emailLookup = found
        }
        let here = Earlier(hash: 0, row: Int64(batch.rowNumbers[index]), offset: batch.offsets[index])
        if case .unseen(let hash, let taken)? = externalLookup {
            try remember(Self.externalIDKind, externalID, hash: hash, taken: taken, here)
        }
        if case .unseen(let hash, let taken)? = emailLookup {
            try remember(Self.emailKind, email, hash: hash, taken: taken, here)
        }
        return nil
    }

    private func lookup(_ kind: UInt8, _ key: ArraySlice<UInt8>, slot: Int) throws -> Lookup {
        let hash = Self.hash(kind, key)
        guard let holder = try recent.find(hash) ?? spilled?.find(hash) else { return .unseen(hash: hash, taken: false) }
        if try sameKey(holder, key, slot: slot) { return .seen(holder) }
        if !exact.isEmpty, let earlier = exact[[kind] + key] { return .seen(earlier) }
        return .unseen(hash: hash, taken: true)
    }

    /// Whether the row at `earlier` has `key` (read back from the spool).
    private func sameKey(_ earlier: Earlier, _ key: ArraySlice<UInt8>, slot: Int) throws -> Bool {
        guard let batch = try spool.prepared(at: earlier.offset, preparer: preparer) else { return false }
        return batch.bytes[batch.range(0, slot)] == key
    }

    private mutating func remember(_ kind: UInt8, _ key: ArraySlice<UInt8>, hash: UInt64, taken: Bool, _ here: Earlier) throws {
        if taken {
            exact[[kind] + key] = here
            return
        }
        recent.insert(Earlier(hash: hash, row: here.row, offset: here.offset))
        if recent.isFull { try spill() }
    }

    private mutating func spill() throws {
        if spilled == nil {
            spilled = SpilledKeys(directory: scratchDirectory, expectedKeys: expectedKeys, maxFilterBytes: limits.maxFilterBytes)
        }
        try recent.drainSorted { try spilled!.spill($0) }
    }

    static func hash(_ kind: UInt8, _ bytes: ArraySlice<UInt8>) -> UInt64 {
        bytes.withUnsafeBytes { KeyHash.of(kind, $0) }
    }
}

/// The 64-bit hash of a dedup key (FNV-1a over the kind's byte, then the
/// key's bytes): the in-file check and the store's filter of existing keys.
package enum KeyHash {
    package static func of(_ kind: UInt8, _ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        h ^= UInt64(kind)
        h &*= 0x0000_0100_0000_01B3
        for b in bytes {
            h ^= UInt64(b)
            h &*= 0x0000_0100_0000_01B3
        }
        return h
    }
}

/// The latest keys, in two parts: the entries (hash, row, offset) in the
/// order they came, written one after the other, and an open-addressing
/// table (linear probing) of 8-byte slots, each a tag of the hash and the
/// entry's index. A look-up touches one slot, mostly one cache line, in a
/// table a third the size of one that held the entries (4 MiB, not 12, at
/// `Limits.memoryKeys`): its misses (of the cache and of the TLB) were most
/// of a look-up. Grown by doubling up to the size for `maxCount` entries.
struct RecentKeys {
    typealias Entry = SpilledKeys.Entry
    private var entries: [Entry] = []
    /// 0: empty; else the hash's tag above `indexBits`, the entry's index + 1 below.
    private var slots: [UInt64]
    private let maxCount: Int
    private var shift: Int
    private static let indexBits: UInt64 = 21
    private static let indexMask: UInt64 = (1 << indexBits) - 1

    var count: Int { entries.count }

    init(maxCount: Int, expectedCount: Int) {
        precondition(maxCount < 1 << Self.indexBits, "more in-file keys in memory than slots can index")
        self.maxCount = maxCount
        // Starts at the size it will end at when the file is known to fill it
        // (no copies while it grows), else small.
        let target = expectedCount >= maxCount ? maxCount : min(maxCount, 1024)
        var bits = 4
        while (1 << bits) * 5 / 8 < target { bits += 1 }
        slots = Array(repeating: 0, count: 1 << bits)
        shift = 64 - bits
        entries.reserveCapacity(target)
    }

    var isFull: Bool { count >= maxCount }

    private func slot(_ hash: UInt64) -> Int {
        Int(truncatingIfNeeded: (hash &* 0x9e37_79b9_7f4a_7c15) >> UInt64(shift))
    }

    /// The hash's low bits, where a slot keeps them; a match is confirmed on the entry.
    private static func tag(_ hash: UInt64) -> UInt64 { hash << indexBits }

    func find(_ hash: UInt64) -> Entry? {
        let tag = Self.tag(hash)
        return slots.withUnsafeBufferPointer { s in
            let mask = s.count - 1
            var i = slot(hash)
            while s[i] != 0 {
                if s[i] & ~Self.indexMask == tag {
                    let entry = entries[Int(s[i] & Self.indexMask) - 1]
                    if entry.hash == hash { return entry }
                }
                i = (i + 1) & mask
            }
            return nil
        }
    }

    /// Adds an entry whose hash is not here.
    mutating func insert(_ entry: Entry) {
        if (count + 1) * 8 > slots.count * 5 { grow() }
        entries.append(entry)
        place(entry.hash, index: count)
    }

    /// Puts the entry at `index` (1-based) in its slot.
    private mutating func place(_ hash: UInt64, index: Int) {
        let mask = slots.count - 1
        var i = slot(hash)
        while slots[i] != 0 { i = (i + 1) & mask }
        slots[i] = Self.tag(hash) | UInt64(index)
    }

    private mutating func grow() {
        slots = Array(repeating: 0, count: slots.count * 2)
        shift -= 1
        for index in entries.indices { place(entries[index].hash, index: index + 1) }
    }

    /// Hands every entry, sorted by hash, to `body`, and empties the table.
    mutating func drainSorted(_ body: (UnsafeBufferPointer<Entry>) throws -> Void) rethrows {
        defer {
            entries.removeAll(keepingCapacity: true)
            slots.withUnsafeMutableBufferPointer { s in s.update(repeating: 0) }
        }
        entries.sort { $0.hash < $1.hash }
        try entries.withUnsafeBufferPointer { try body($0) }
    }
}
