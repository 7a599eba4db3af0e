import ImportEngine
import SQLiteDB

/// Reading and writing an import's packed created rows.
enum CreatedRows {
    static let insertSQL = "INSERT INTO import_created_rows (import_id, last_row, first_row, rows, data) VALUES (?, ?, ?, ?, ?)"

    /// Writes `block` (if it has rows) and empties it.
    static func write(_ db: Connection, importID: Int64, _ block: inout CreatedRowBlock) throws {
        guard !block.isEmpty else { return }
        let insert = try db.cached(insertSQL)
        try insert.execute([
            .integer(importID), .integer(block.lastRow), .integer(block.firstRow), .integer(Int64(block.count)), .blob(block.data),
        ])
        block.removeAll()
    }

    /// The packed created rows after `afterRow`, in row order, at most `limit`.
    static func read(_ db: Connection, importID: Int64, afterRow: Int64, limit: Int) throws -> [CreatedRowBlock.Entry] {
        var entries: [CreatedRowBlock.Entry] = []
        // The next block, one at a time: each holds at least one row past
        // `afterRow`, and the loop stops once `limit` rows are taken.
        let select = try db.cached("""
            SELECT data FROM import_created_rows WHERE import_id = ? AND last_row > ? ORDER BY last_row LIMIT 1
            """)
        var last = afterRow
        while entries.count < limit {
            var found = false
            try select.forEachRow([.integer(importID), .integer(last)]) { r in
                found = true
                try r.withBytes(0) { bytes in
                    guard let decoded = CreatedRowBlock.decode(bytes) else {
                        throw UnreadableBlock(importID: importID, afterRow: last)
                    }
                    for entry in decoded where entry.row > afterRow && entries.count < limit {
                        entries.append(entry)
                    }
                    last = decoded.last?.row ?? last
                }
            }
            if !found { break }
        }
        return entries
    }
}
