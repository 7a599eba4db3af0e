import ImportEngine
import SQLiteDB

/// The dedup keys of a contact, in `contact_keys` (two tiers: see `Schema`).
enum ContactKeys {
    static let email: Int64 = 1
    static let externalID: Int64 = 2

    /// Finds a key's contact in either tier: binds the two tiers' ids
    /// (`KeyTiers.ids`), then kind and key.
    static let ownerSQL = "SELECT contact_id FROM contact_keys WHERE tier IN (?, ?) AND kind = ? AND key = ?"

    /// The contact a key belongs to.
    static func owner(_ db: Connection, kind: Int64, key: String) throws -> Int64? {
        let tiers = try KeyTiers.ids(db)
        return try db.cached(ownerSQL).queryOne([.integer(tiers.main), .integer(tiers.recent), .integer(kind), .text(key)]) { $0.int64(0) }
    }

    /// Moves a contact's key of `kind` from `old` to `new` (either may be nil);
    /// a new key goes to the recent tier.
    static func replace(_ db: Connection, contact: Int64, kind: Int64, old: String?, new: String?) throws {
        if let old {
            let tiers = try KeyTiers.ids(db)
            try db.cached("DELETE FROM contact_keys WHERE tier IN (?, ?) AND kind = ? AND key = ? AND contact_id = ?")
                .execute([.integer(tiers.main), .integer(tiers.recent), .integer(kind), .text(old), .integer(contact)])
        }
        if let new {
            let tier = try KeyTiers.recent(db)
            try db.cached("INSERT INTO contact_keys (tier, kind, key, contact_id) VALUES (?, ?, ?, ?)")
                .execute([.integer(tier), .integer(kind), .text(new), .integer(contact)])
            try KeyTiers.count(db, added: 1, to: tier)
        }
    }
}

/// When the recent tier of keys moves into the main one.
enum KeyTiers {
    // The recent tier is merged once it holds `floor` keys (the store's
    // `keyTierMergeFloor`, 2M by default) and a quarter of the main tier's:
    // the merge rewrites the main tier, so it happens once per quarter of
    // growth, and a run below that rewrites only the recent tier.

    /// The tier new keys go to.
    static func recent(_ db: Connection) throws -> Int64 {
        try ids(db).recent
    }

    /// The two tiers' ids. They are any two numbers (`recentAtEnd` moves
    /// the recent tier past the main one), 0 and 1 at first.
    static func ids(_ db: Connection) throws -> (main: Int64, recent: Int64) {
        var main: Int64 = 0
        var recent: Int64 = 1
        try db.cached("SELECT tier, main FROM key_tiers").forEachRow { r in
            if r.int(1) != 0 { main = r.int64(0) } else { recent = r.int64(0) }
        }
        return (main, recent)
    }

    /// The tier a run's new keys go to, in key order: the recent one, given
    /// an id past the main one's first if it is before it and empty. Its keys
    /// then go to the end of `contact_keys`' B-tree. Before the main tier,
    /// each page split among the main tier's first pages moved some of them:
    /// 1M keys added in front of 4.9M took 0.3 s more to add, and more bytes.
    static func recentAtEnd(_ db: Connection) throws -> Int64 {
        let (main, recent) = try ids(db)
        guard recent < main else { return recent }
        let empty = try db.cached("SELECT NOT EXISTS (SELECT 1 FROM contact_keys WHERE tier = ?)").queryOne([.integer(recent)]) { $0.int(0) != 0 }
        guard empty == true else { return recent }
        try db.cached("UPDATE key_tiers SET tier = ? WHERE tier = ?").execute([.integer(main + 1), .integer(recent)])
        return main + 1
    }

    /// Counts keys added to `tier` (`key_tiers.keys`: an estimate, deletes
    /// are not subtracted; a merge moves the count, keeping the sum). Every
    /// insert into `contact_keys` outside a merge is counted here: the sum
    /// (`stamp`) never decreases and changes whenever a key is added, which
    /// is what tells a saved filter of existing keys is still whole.
    static func count(_ db: Connection, added: Int64, to tier: Int64) throws {
        guard added > 0 else { return }
        try db.cached("UPDATE key_tiers SET keys = keys + ? WHERE tier = ?").execute([.integer(added), .integer(tier)])
    }

    /// Changes whenever a key is added, never goes back.
    static func stamp(_ db: Connection) throws -> Int64 {
        try db.scalar("SELECT sum(keys) FROM key_tiers") ?? 0
    }

    /// Merges the tiers when it is due (the smaller into the larger, which
    /// becomes the main one); true if it did.
    @discardableResult
    static func mergeIfDue(_ db: Connection, floor: Int64) throws -> Bool {
        let (mainTier, recentTier) = try ids(db)
        let mainKeys = try db.scalar("SELECT keys FROM key_tiers WHERE tier = ?", [.integer(mainTier)]) ?? 0
        let recentKeys = try db.scalar("SELECT keys FROM key_tiers WHERE tier = ?", [.integer(recentTier)]) ?? 0
        guard recentKeys > 0, recentKeys >= floor, recentKeys * 4 >= mainKeys else { return false }
        let (from, into) = recentKeys >= mainKeys ? (mainTier, recentTier) : (recentTier, mainTier)
        try db.cached("""
            INSERT INTO contact_keys (tier, kind, key, contact_id)
                SELECT ?, kind, key, contact_id FROM contact_keys WHERE tier = ? ORDER BY kind, key
            """).execute([.integer(into), .integer(from)])
        try db.cached("DELETE FROM contact_keys WHERE tier = ?").execute([.integer(from)])
        try db.cached("UPDATE key_tiers SET main = (tier = ?), keys = CASE WHEN tier = ? THEN ? ELSE 0 END").execute([
            .integer(into), .integer(into), .integer(mainKeys + recentKeys),
        ])
        _ = try recentAtEnd(db)
        return true
    }
}
