import SQLiteDB

/// The schema, as ordered migrations applied at start.
///
/// What is written per imported row is kept small and sequential: the contact
/// (appended) and the row's result: for a created row a few bytes in a block of
/// created rows (`import_created_rows`, see `CreatedRowBlock`), for any other
/// row one `import_rows` entry (appended: outcome, contact, the row's byte
/// offset in the spooled file, whose values are read back from there, never
/// stored twice), and for UPDATED rows what the update overwrote.
///
/// The dedup keys (email, case-folded, and external_id) are derived data: they
/// live in `contact_keys`, one B-tree in two tiers, and the keys of the contacts
/// an import creates are added in key order when its run ends (and again when a
/// run resumes, so a crash leaves nothing out). Adding them row by row would
/// dirty a random index page per row and make every batch commit rewrite most
/// of the index. While a run lasts, its own keys are caught by the in-file
/// duplicate check (an earlier valid row of the same file), never by this table.
///
/// New keys go to the recent tier, the rest is the main tier (`key_tiers` says
/// which is which; their ids start as 0 and 1, and an empty recent tier gets
/// an id past the main one's, so new keys are added at the B-tree's end): a
/// run's keys then rewrite only the recent tier's pages, not every page of an
/// index of millions of keys. When the
/// recent tier outgrows 2M keys and a quarter of the main tier, the run that
/// crossed it merges the two, the smaller into the larger, which becomes the
/// main tier (see `KeyTiers`). A key is in one tier only: it is added only when
/// a look-up of both found it nowhere.
package enum Schema {
    package static let migrations: [Migration] = [
        Migration(version: 1, name: "initial schema", sql: """
            CREATE TABLE campaigns (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                code TEXT UNIQUE,
                created_at INTEGER NOT NULL
            );
            CREATE TABLE subscriptions (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                code TEXT UNIQUE,
                created_at INTEGER NOT NULL
            );
            CREATE TABLE imports (
                id INTEGER PRIMARY KEY,
                state INTEGER NOT NULL,
                version INTEGER NOT NULL DEFAULT 1,
                file_name TEXT NOT NULL,
                kind INTEGER NOT NULL,
                origin_campaign_id INTEGER,
                subscription_ids TEXT NOT NULL,
                on_duplicate INTEGER NOT NULL,
                column_map TEXT NOT NULL,
                ignore_unknown_columns INTEGER NOT NULL,
                validate_only INTEGER NOT NULL,
                encoding TEXT NOT NULL,
                sha256 TEXT NOT NULL,
                bytes INTEGER NOT NULL,
                total_rows INTEGER NOT NULL,
                processed_rows INTEGER NOT NULL DEFAULT 0,
                created INTEGER NOT NULL DEFAULT 0,
                updated INTEGER NOT NULL DEFAULT 0,
                skipped INTEGER NOT NULL DEFAULT 0,
                failed INTEGER NOT NULL DEFAULT 0,
                error TEXT,
                created_at INTEGER NOT NULL,
                started_at INTEGER,
                finished_at INTEGER,
                updated_at INTEGER NOT NULL,
                reverted_rows INTEGER NOT NULL DEFAULT 0,
                revert_kept_rows INTEGER NOT NULL DEFAULT 0,
                spool_name TEXT NOT NULL,
                header TEXT NOT NULL,
                delimiter INTEGER NOT NULL,
                data_offset INTEGER NOT NULL,
                checkpoint_offset INTEGER NOT NULL,
                checkpoint_row INTEGER NOT NULL DEFAULT 0,
                keys_synced_row INTEGER NOT NULL DEFAULT 0
            );
            CREATE INDEX imports_by_state ON imports (state, id);

            CREATE TABLE contacts (
                id INTEGER PRIMARY KEY,
                kind INTEGER NOT NULL,
                external_id TEXT, title TEXT, first_name TEXT, last_name TEXT, email TEXT, phone TEXT,
                mobile TEXT, address1 TEXT, address2 TEXT, city TEXT, state TEXT, postal_code TEXT,
                country TEXT, birth_date TEXT, gender TEXT, company TEXT, notes TEXT,
                origin_campaign_id INTEGER,
                created_by_import INTEGER,
                updated_by_import INTEGER,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL
            );
            -- kind 1: email (case-folded), 2: external_id. Unique per kind.
            CREATE TABLE contact_keys (
                kind INTEGER NOT NULL,
                key TEXT NOT NULL,
                contact_id INTEGER NOT NULL,
                PRIMARY KEY (kind, key)
            ) WITHOUT ROWID;

            CREATE TABLE contact_subscriptions (
                contact_id INTEGER NOT NULL,
                subscription_id INTEGER NOT NULL,
                added_by_import INTEGER,
                added_at INTEGER NOT NULL,
                PRIMARY KEY (contact_id, subscription_id)
            ) WITHOUT ROWID;

            CREATE TABLE import_rows (
                import_id INTEGER NOT NULL,
                row_number INTEGER NOT NULL,
                outcome INTEGER NOT NULL,
                contact_id INTEGER,
                offset INTEGER NOT NULL,
                previous BLOB,
                revert_state INTEGER,
                PRIMARY KEY (import_id, row_number)
            ) WITHOUT ROWID;
            -- Only rows that are not CREATED (a few percent, usually) pay for this index.
            CREATE INDEX import_rows_not_created ON import_rows (import_id, outcome, row_number) WHERE outcome <> 1;

            CREATE TABLE import_row_errors (
                import_id INTEGER NOT NULL,
                row_number INTEGER NOT NULL,
                seq INTEGER NOT NULL,
                code TEXT NOT NULL,
                column_name TEXT NOT NULL,
                message TEXT NOT NULL,
                PRIMARY KEY (import_id, row_number, seq)
            ) WITHOUT ROWID;

            CREATE TABLE api_tokens (
                id INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                scope INTEGER NOT NULL,
                token_hash TEXT NOT NULL UNIQUE,
                created_at INTEGER NOT NULL,
                revoked_at INTEGER
            );
            """),
        // Ids are never handed out twice: a reverted import's contacts are
        // deleted, and without AUTOINCREMENT SQLite reuses the highest free id,
        // so an old row result would name somebody else.
        Migration(version: 2, name: "ids never reused; same file; explicit kind") { db in
            let contactFloor = try db.scalar("SELECT max(contact_id) FROM import_rows") ?? 0
            try db.addAutoincrement(table: "contacts", floor: contactFloor)
            for table in ["imports", "campaigns", "subscriptions", "api_tokens"] {
                try db.addAutoincrement(table: table)
            }
            try db.execute("""
                -- The latest earlier import of the same bytes (same SHA-256).
                ALTER TABLE imports ADD COLUMN same_file_as INTEGER;
                -- 0: the upload did not say contact or lead; an update then keeps
                -- the contact's kind, and new contacts are contacts.
                ALTER TABLE imports ADD COLUMN kind_explicit INTEGER NOT NULL DEFAULT 1;
                CREATE INDEX imports_by_sha256 ON imports (sha256, id);
                """)
        },
        Migration(version: 3, name: "dedup keys in two tiers", sql: """
            CREATE TABLE contact_keys_tiered (
                tier INTEGER NOT NULL,
                kind INTEGER NOT NULL,
                key TEXT NOT NULL,
                contact_id INTEGER NOT NULL,
                PRIMARY KEY (tier, kind, key)
            ) WITHOUT ROWID;
            INSERT INTO contact_keys_tiered (tier, kind, key, contact_id) SELECT 0, kind, key, contact_id FROM contact_keys;
            DROP TABLE contact_keys;
            ALTER TABLE contact_keys_tiered RENAME TO contact_keys;
            -- Which tier is the main one (the other takes new keys), and the
            -- keys each holds (an estimate: deletes are not subtracted).
            CREATE TABLE key_tiers (tier INTEGER PRIMARY KEY, main INTEGER NOT NULL, keys INTEGER NOT NULL);
            INSERT INTO key_tiers (tier, main, keys) SELECT 0, 1, count(*) FROM contact_keys;
            INSERT INTO key_tiers (tier, main, keys) VALUES (1, 0, 0);
            """),
        Migration(version: 4, name: "the filter of existing keys, kept", sql: """
            -- At most one row: the Bloom filter of every key of contact_keys
            -- (ExistingKeys), saved when a big run ends and at a clean stop;
            -- used at start only if no key was added since (stamp: the sum of
            -- key_tiers.keys, which never decreases) and the format matches.
            CREATE TABLE key_filter (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                format INTEGER NOT NULL,
                stamp INTEGER NOT NULL,
                keys INTEGER NOT NULL,
                capacity INTEGER NOT NULL,
                bits BLOB NOT NULL
            );
            """),
        Migration(version: 5, name: "created rows packed in blocks", sql: """
            -- The results of rows that created a contact, a block of up to
            -- 8192 rows a record (CreatedRowBlock): from now on not in
            -- import_rows, which keeps every other row (and the created rows
            -- of imports run before this migration).
            CREATE TABLE import_created_rows (
                import_id INTEGER NOT NULL,
                last_row INTEGER NOT NULL,
                first_row INTEGER NOT NULL,
                rows INTEGER NOT NULL,
                -- 1 once a revert went through the block's rows.
                reverted INTEGER NOT NULL DEFAULT 0,
                data BLOB NOT NULL,
                PRIMARY KEY (import_id, last_row)
            );
            """),
    ]

    /// The page size of a new database.
    static let pageSize = 8192

    /// The connection settings every connection gets.
    static func configure(_ db: Connection, writer: Bool) throws {
        db.setBusyTimeout(milliseconds: 5_000)
        if writer {
            // A new database gets 8 KiB pages (an existing one keeps its own:
            // WAL mode cannot change it): half the pages to write, copy and
            // checkpoint for the same rows. An import of 1M rows took 9% less
            // time than with 4 KiB pages (3.45 against 3.80 s, five
            // alternating runs, Dec 7); 16 KiB gained less.
            try db.pragma("page_size=\(Self.pageSize)")
            try db.pragma("journal_mode=WAL")
            // Every commit is on disk before it returns: an upload, a token, a
            // campaign is durable when its call answers (power loss included).
            // A batch pays one WAL fsync per 10,000 rows.
            try db.pragma("synchronous=FULL")
            // Checkpoint less often: a page changed by several batches is then
            // copied to the database once.
            try db.pragma("wal_autocheckpoint=8192")
            try db.pragma("cache_size=-8192")
        } else {
            try db.pragma("cache_size=-4096")
        }
        // Memory stays bounded: pages beyond the caches are read from the
        // operating system's page cache (no mmap: its pages would count in
        // the process's memory), and large sorts and temporary tables go to
        // temporary files.
        try db.pragma("temp_store=FILE")
        try db.pragma("mmap_size=0")
    }

    /// The contact columns, in `ContactField` order.
    static let contactColumns = [
        "external_id", "title", "first_name", "last_name", "email", "phone", "mobile", "address1", "address2", "city", "state",
        "postal_code", "country", "birth_date", "gender", "company", "notes",
    ]
}
