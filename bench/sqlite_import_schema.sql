-- The peer of the engine benchmark: sqlite3's own .import of the generated file
-- (scripts/gen_contacts.py, 15 columns) into a plain table whose only check is a
-- unique index on the lower-cased email. It validates nothing, keeps no per-row
-- results and refuses duplicates instead of reporting them.
CREATE TABLE contacts (
    title TEXT, first_name TEXT, last_name TEXT, email TEXT, phone TEXT, mobile TEXT, address1 TEXT, city TEXT,
    state TEXT, postal_code TEXT, country TEXT, birth_date TEXT, gender TEXT, company TEXT, notes TEXT
);
CREATE UNIQUE INDEX contacts_email_key ON contacts (lower(email));
