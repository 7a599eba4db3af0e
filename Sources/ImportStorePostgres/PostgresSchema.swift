import PostgresDB

/// The PostgreSQL schema, as numbered migrations applied at start under an
/// advisory lock (replicas starting together migrate once).
///
/// It mirrors the SQLite store's, with what several replicas need on top:
/// - the dedup keys are unique columns of `contacts` itself (`email_key`, the
///   case-folded email, and `external_id`), written with the row that creates or
///   changes the contact, so two imports on two replicas can never give one email
///   to two contacts: the second insert of a key waits for the first transaction
///   and then fails, and its batch is decided again. One table and its indexes,
///   not a second table of keys: a batch writes half as much;
/// - an import's run is claimed with a lease (`lease_owner`, `lease_until`, the
///   database's clock), renewed while it runs; a pause or cancel asked through
///   another replica is `requested_state`;
/// - spooled files live in `spool_pages` (1 MiB each), written as the upload
///   arrives; the import that names them is created once all are there.
/// Times are microseconds since the epoch, as on SQLite, except the lease,
/// which only the database's own clock judges.
enum PostgresSchema {
    static let migrations: [PGMigration] = [
        PGMigration(1, """
            CREATE TABLE campaigns (
                id bigserial PRIMARY KEY,
                name text NOT NULL,
                code text UNIQUE,
                created_at bigint NOT NULL
            );
            CREATE TABLE subscriptions (
                id bigserial PRIMARY KEY,
                name text NOT NULL,
                code text UNIQUE,
                created_at bigint NOT NULL
            );
            CREATE TABLE imports (
                id bigserial PRIMARY KEY,
                state integer NOT NULL,
                version bigint NOT NULL DEFAULT 1,
                file_name text NOT NULL,
                kind integer NOT NULL,
                origin_campaign_id bigint,
                subscription_ids text NOT NULL,
                on_duplicate integer NOT NULL,
                column_map text NOT NULL,
                ignore_unknown_columns boolean NOT NULL,
                validate_only boolean NOT NULL,
                encoding text NOT NULL,
                sha256 text NOT NULL,
                bytes bigint NOT NULL,
                total_rows bigint NOT NULL,
                processed_rows bigint NOT NULL DEFAULT 0,
                created bigint NOT NULL DEFAULT 0,
                updated bigint NOT NULL DEFAULT 0,
                skipped bigint NOT NULL DEFAULT 0,
                failed bigint NOT NULL DEFAULT 0,
                error text,
                created_at bigint NOT NULL,
                started_at bigint,
                finished_at bigint,
                updated_at bigint NOT NULL,
                reverted_rows bigint NOT NULL DEFAULT 0,
                revert_kept_rows bigint NOT NULL DEFAULT 0,
                spool_name text NOT NULL,
                header text NOT NULL,
                delimiter integer NOT NULL,
                data_offset bigint NOT NULL,
                checkpoint_offset bigint NOT NULL,
                checkpoint_row bigint NOT NULL DEFAULT 0,
                same_file_as bigint,
                kind_explicit boolean NOT NULL,
                lease_owner text,
                lease_until timestamptz,
                requested_state integer
            );
            CREATE INDEX imports_by_state ON imports (state, id);
            CREATE INDEX imports_by_sha256 ON imports (sha256, id);

            CREATE TABLE contacts (
                id bigserial PRIMARY KEY,
                kind integer NOT NULL,
                external_id text, title text, first_name text, last_name text, email text, phone text,
                mobile text, address1 text, address2 text, city text, state text, postal_code text,
                country text, birth_date text, gender text, company text, notes text,
                origin_campaign_id bigint,
                created_by_import bigint,
                updated_by_import bigint,
                created_at bigint NOT NULL,
                updated_at bigint NOT NULL,
                -- The email as dedup compares it (case-folded); NULL without an email.
                email_key text COLLATE "C",
                -- Checked at the end of each statement, not row by row: a batch that
                -- moves an address from one contact to another is not refused half way.
                CONSTRAINT contacts_email_key UNIQUE (email_key) DEFERRABLE INITIALLY IMMEDIATE
            );
            -- An external_id is only ever set where there was none, never moved: no
            -- need to defer; and contacts without one (most) cost this index nothing.
            CREATE UNIQUE INDEX contacts_external_id ON contacts (external_id) WHERE external_id IS NOT NULL;

            CREATE TABLE contact_subscriptions (
                contact_id bigint NOT NULL,
                subscription_id bigint NOT NULL,
                added_by_import bigint,
                added_at bigint NOT NULL,
                PRIMARY KEY (contact_id, subscription_id)
            );

            CREATE TABLE import_rows (
                import_id bigint NOT NULL,
                row_number bigint NOT NULL,
                outcome smallint NOT NULL,
                contact_id bigint,
                byte_offset bigint NOT NULL,
                previous bytea,
                revert_state smallint,
                PRIMARY KEY (import_id, row_number)
            );
            CREATE INDEX import_rows_not_created ON import_rows (import_id, outcome, row_number) WHERE outcome <> 1;

            CREATE TABLE import_row_errors (
                import_id bigint NOT NULL,
                row_number bigint NOT NULL,
                seq integer NOT NULL,
                code text NOT NULL,
                column_name text NOT NULL,
                message text NOT NULL,
                PRIMARY KEY (import_id, row_number, seq)
            );

            CREATE TABLE api_tokens (
                id bigserial PRIMARY KEY,
                name text NOT NULL,
                scope integer NOT NULL,
                token_hash text NOT NULL UNIQUE,
                created_at bigint NOT NULL,
                revoked_at bigint
            );

            -- Spooled uploads, in pages of 1 MiB: any replica can run any import.
            CREATE TABLE spool_pages (
                spool_name text NOT NULL,
                page integer NOT NULL,
                data bytea NOT NULL,
                -- Pages of an upload still arriving belong to no import yet; those of
                -- an upload that never finished are removed after a day.
                written_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (spool_name, page)
            );
            -- CSV pages are stored as they are: pglz would cost more CPU than the
            -- disk it saves, on the upload's critical path.
            ALTER TABLE spool_pages ALTER COLUMN data SET STORAGE EXTERNAL;
            """),
        PGMigration(2, """
            -- The results of rows that created a contact, up to 8192 rows a
            -- record (CreatedRowBlock, as on SQLite): from now on not in
            -- import_rows, which keeps every other row (and the created rows of
            -- imports run before this migration). Readers merge the two by row.
            CREATE TABLE import_created_rows (
                import_id bigint NOT NULL,
                last_row bigint NOT NULL,
                -- True once a revert went through the block's rows.
                reverted boolean NOT NULL DEFAULT false,
                data bytea NOT NULL,
                PRIMARY KEY (import_id, last_row)
            );
            -- Varint deltas hardly compress: stored as they are.
            ALTER TABLE import_created_rows ALTER COLUMN data SET STORAGE EXTERNAL;
            """),
    ]

    /// Bytes in one spool page.
    static let spoolPageBytes = 1 << 20
}
