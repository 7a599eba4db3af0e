/// Finds rows whose email (case-insensitively) or external_id already appeared in
/// an earlier valid row of the same file.
///
/// Keys are kept as 64-bit hashes with the earlier row's number and offset (16
/// bytes a key, not a string). A hash match is confirmed by reading the earlier
/// row back from the spool, so a hash collision never makes a false duplicate.
struct InFileDuplicates {
    private struct Earlier {
        var row: Int64
        var offset: Int64
    }

    private var emails: [UInt64: Earlier] = [:]
    private var externalIDs: [UInt64: Earlier] = [:]
    /// Exact keys whose hash collided with a different key (practically never used).
    private var exactEmails: [[UInt8]: Earlier] = [:]
    private var exactExternalIDs: [[UInt8]: Earlier] = [:]
    private let spool: SpoolRows
    private let preparer: RowPreparer

    init(spool: SpoolRows, preparer: RowPreparer) {
        self.spool = spool
        self.preparer = preparer
    }

    /// For a valid row of `batch`: an error when it repeats an earlier row's key;
    /// otherwise its keys are remembered and nil is returned.
    mutating func check(_ batch: RowBatch, _ index: Int) throws -> RowError? {
        let email = batch.emailKey(index)
        let externalID = batch.value(index, .externalID)
        let row = batch.rowNumbers[index]
        let here = Earlier(row: Int64(row), offset: batch.offsets[index])
        if !externalID.isEmpty, let earlier = try find(externalID, in: externalIDs, exact: exactExternalIDs, slot: ContactField.externalID.rawValue) {
            return RowError(code: .duplicateInFile, column: preparer.mapping.columnName(for: .externalID),
                message: "same external_id as row \(earlier.row)")
        }
        if !email.isEmpty, let earlier = try find(email, in: emails, exact: exactEmails, slot: RowBatch.emailKeySlot) {
            return RowError(code: .duplicateInFile, column: preparer.mapping.columnName(for: .email),
                message: "same email as row \(earlier.row)")
        }
        if !externalID.isEmpty { remember(externalID, here, in: &externalIDs, exact: &exactExternalIDs) }
        if !email.isEmpty { remember(email, here, in: &emails, exact: &exactEmails) }
        return nil
    }

    private func find(_ key: ArraySlice<UInt8>, in table: [UInt64: Earlier], exact: [[UInt8]: Earlier], slot: Int) throws -> Earlier? {
        if let earlier = exact[Array(key)] { return earlier }
        guard let earlier = table[Self.hash(key)] else { return nil }
        // Confirm against the earlier row itself.
        guard let batch = try spool.prepared(at: earlier.offset, preparer: preparer) else { return nil }
        return batch.bytes[batch.range(0, slot)] == key ? earlier : nil
    }

    private func remember(_ key: ArraySlice<UInt8>, _ here: Earlier, in table: inout [UInt64: Earlier], exact: inout [[UInt8]: Earlier]) {
        let hash = Self.hash(key)
        if table[hash] == nil {
            table[hash] = here
        } else {
            exact[Array(key)] = here  // a different key with the same hash
        }
    }

    /// FNV-1a, 64 bits.
    static func hash(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes {
            h ^= UInt64(b)
            h &*= 0x0000_0100_0000_01B3
        }
        return h
    }
}
