import ImportEngine
import SQLiteDB

/// The dedup keys of a contact.
enum ContactKeys {
    static let email: Int64 = 1
    static let externalID: Int64 = 2

    /// The contact a key belongs to.
    static func owner(_ db: Connection, kind: Int64, key: String) throws -> Int64? {
        try db.cached("SELECT contact_id FROM contact_keys WHERE kind = ? AND key = ?").queryOne([.integer(kind), .text(key)]) { $0.int64(0) }
    }

    /// Moves a contact's key of `kind` from `old` to `new` (either may be nil).
    static func replace(_ db: Connection, contact: Int64, kind: Int64, old: String?, new: String?) throws {
        if let old {
            try db.cached("DELETE FROM contact_keys WHERE kind = ? AND key = ? AND contact_id = ?")
                .execute([.integer(kind), .text(old), .integer(contact)])
        }
        if let new {
            try db.cached("INSERT INTO contact_keys (kind, key, contact_id) VALUES (?, ?, ?)").execute([.integer(kind), .text(new), .integer(contact)])
        }
    }
}
