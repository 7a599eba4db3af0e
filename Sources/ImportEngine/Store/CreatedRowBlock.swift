/// The results of rows that created a contact (most rows of most files),
/// packed: one `import_created_rows` record per block of up to `maxRows`
/// rows, not an `import_rows` entry each. A created row's result is only its
/// row number, its contact and its offset in the file, and within a block all
/// three only grow: a few bytes of deltas a row, and one B-tree insert per
/// block instead of one per row (a tenth of a 1M-row import's time).
///
/// Every other row (updated, skipped, failed, and created rows written before
/// blocks existed) stays in `import_rows`; a row is in exactly one of the
/// two, and readers merge them by row number (`mergedByRow`). Both stores
/// (SQLite and PostgreSQL) keep created rows this way.
///
/// Data: a flags byte (bit 0: the rows have contacts; a dry run's have none),
/// then per row `varint(rowDelta << 1 | kept)`, `varint(contactDelta)` when
/// there are contacts, `varint(offsetDelta)`; deltas from the previous row
/// (from 0 for the first), zigzag-coded where they could be negative. `kept`
/// is set by a revert that left the row's contact in place.
package struct CreatedRowBlock {
    package struct Entry: Equatable {
        package var row: Int64
        package var contactID: Int64?
        package var offset: Int64
        package var kept: Bool

        package init(row: Int64, contactID: Int64?, offset: Int64, kept: Bool) {
            self.row = row
            self.contactID = contactID
            self.offset = offset
            self.kept = kept
        }
    }

    package static let maxRows = 8192
    @usableFromInline static let hasContacts: UInt8 = 1

    // Written once per created row by the stores' writers, in another module:
    // `add` and what it touches are inlinable there.
    @usableFromInline package internal(set) var data: [UInt8] = []
    @usableFromInline package internal(set) var count = 0
    @usableFromInline package internal(set) var firstRow: Int64 = 0
    @usableFromInline package internal(set) var lastRow: Int64 = 0
    @usableFromInline var lastContact: Int64 = 0
    @usableFromInline var lastOffset: Int64 = 0

    package init() {}

    @inlinable package var isEmpty: Bool { count == 0 }
    @inlinable package var isFull: Bool { count >= Self.maxRows }

    /// Rows must come in increasing row order; a block's rows all have a
    /// contact or none has.
    @inlinable package mutating func add(row: Int64, contactID: Int64?, offset: Int64, kept: Bool = false) {
        if count == 0 {
            data.append(contactID == nil ? 0 : Self.hasContacts)
            firstRow = row
        }
        precondition(row > lastRow && (contactID != nil) == (data[0] & Self.hasContacts != 0), "created rows out of order")
        Varint.append(UInt64(row - lastRow) << 1 | (kept ? 1 : 0), to: &data)
        if let contactID {
            Varint.append(Varint.zigzag(contactID &- lastContact), to: &data)
            lastContact = contactID
        }
        Varint.append(Varint.zigzag(offset &- lastOffset), to: &data)
        lastOffset = offset
        lastRow = row
        count += 1
    }

    package mutating func removeAll() {
        data.removeAll(keepingCapacity: true)
        count = 0
        firstRow = 0
        lastRow = 0
        lastContact = 0
        lastOffset = 0
    }

    /// The entries of a block's data; nil if it is not well formed.
    package static func decode(_ bytes: UnsafeRawBufferPointer) -> [Entry]? {
        guard let flags = bytes.first else { return [] }
        let contacts = flags & hasContacts != 0
        var entries: [Entry] = []
        var at = 1
        var row: Int64 = 0
        var contact: Int64 = 0
        var offset: Int64 = 0
        while at < bytes.count {
            guard let head = Varint.read(bytes, &at) else { return nil }
            row += Int64(bitPattern: head >> 1)
            var contactID: Int64?
            if contacts {
                guard let delta = Varint.read(bytes, &at) else { return nil }
                contact &+= Varint.unzigzag(delta)
                contactID = contact
            }
            guard let delta = Varint.read(bytes, &at) else { return nil }
            offset &+= Varint.unzigzag(delta)
            entries.append(Entry(row: row, contactID: contactID, offset: offset, kept: head & 1 != 0))
        }
        return entries
    }
}

/// LEB128 varints.
package enum Varint {
    @inlinable package static func append(_ value: UInt64, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    package static func read(_ bytes: UnsafeRawBufferPointer, _ at: inout Int) -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while at < bytes.count, shift < 64 {
            let b = bytes[at]
            at += 1
            value |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return value }
            shift += 7
        }
        return nil
    }

    @inlinable package static func zigzag(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }
    package static func unzigzag(_ v: UInt64) -> Int64 { Int64(bitPattern: v >> 1) ^ -Int64(bitPattern: v & 1) }
}

/// A block of created rows whose data is not well formed (a damaged database).
package struct UnreadableBlock: Error, CustomStringConvertible {
    package let importID: Int64
    package let afterRow: Int64

    package init(importID: Int64, afterRow: Int64) {
        self.importID = importID
        self.afterRow = afterRow
    }

    package var description: String { "import \(importID): the block of created rows after row \(afterRow) cannot be read" }
}

/// Merges two row-ordered lists into one, keeping the first `limit`.
package func mergedByRow<T>(_ a: [T], _ b: [T], limit: Int, row: (T) -> Int64) -> [T] {
    var out: [T] = []
    out.reserveCapacity(min(limit, a.count + b.count))
    var i = 0
    var j = 0
    while out.count < limit && (i < a.count || j < b.count) {
        if j == b.count || (i < a.count && row(a[i]) < row(b[j])) {
            out.append(a[i])
            i += 1
        } else {
            out.append(b[j])
            j += 1
        }
    }
    return out
}
