import CSQLite

extension Connection {
    /// Writes `bytes` into the blob in `column` of the row `rowid` of `table`,
    /// in place (SQLite's incremental blob I/O: the value must already be
    /// that long, e.g. made by `zeroblob(N)`). No copy of the whole value is
    /// made, as binding it would.
    public func writeBlob(table: String, column: String, rowid: Int64, from bytes: UnsafeRawBufferPointer) throws {
        try transferBlob(table: table, column: column, rowid: rowid, writing: true, count: bytes.count) { blob, offset, count in
            sqlite3_blob_write(blob, bytes.baseAddress! + offset, count, Int32(offset))
        }
    }

    /// Reads the blob in `column` of the row `rowid` of `table` into `bytes`,
    /// which must be exactly as long.
    public func readBlob(table: String, column: String, rowid: Int64, into bytes: UnsafeMutableRawBufferPointer) throws {
        try transferBlob(table: table, column: column, rowid: rowid, writing: false, count: bytes.count) { blob, offset, count in
            sqlite3_blob_read(blob, bytes.baseAddress! + offset, count, Int32(offset))
        }
    }

    /// Opens the blob and moves `count` bytes in chunks of 1 MiB with `chunk`
    /// (blob, offset, count) -> SQLite result.
    private func transferBlob(table: String, column: String, rowid: Int64, writing: Bool, count: Int,
                              _ chunk: (OpaquePointer, Int, Int32) -> Int32) throws {
        var blob: OpaquePointer?
        let opened = sqlite3_blob_open(handle, "main", table, column, rowid, writing ? 1 : 0, &blob)
        guard opened == SQLITE_OK, let blob else { throw error(opened) }
        defer { sqlite3_blob_close(blob) }
        guard Int(sqlite3_blob_bytes(blob)) == count else {
            throw SQLiteError(code: SQLITE_MISUSE, message: "the blob in \(table).\(column) is \(sqlite3_blob_bytes(blob)) bytes, not \(count)")
        }
        var offset = 0
        while offset < count {
            let size = min(1 << 20, count - offset)
            let result = chunk(blob, offset, Int32(size))
            guard result == SQLITE_OK else { throw error(result) }
            offset += size
        }
    }
}
