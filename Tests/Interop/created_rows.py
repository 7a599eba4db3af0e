"""Reading the packed results of created rows (import_created_rows), on
SQLite and PostgreSQL alike."""


def created_row_numbers(data):
    """The row numbers of a block of created rows (CreatedRowBlock: a flags
    byte, then per row varints of the row delta << 1 | kept, the contact delta
    when bit 0 of the flags is set, and the offset delta)."""
    def varint(at):
        value, shift = 0, 0
        while True:
            b = data[at]
            value |= (b & 0x7F) << shift
            at += 1
            if b < 0x80:
                return value, at
            shift += 7
    rows, row, at = [], 0, 1
    while at < len(data):
        head, at = varint(at)
        row += head >> 1
        rows.append(row)
        if data[0] & 1:
            _, at = varint(at)
        _, at = varint(at)
    return rows


def postgres_created_rows(cluster, database, import_number):
    """The created rows' numbers of an import, from its blocks (bytea, which
    psql prints as \\x and hex)."""
    rows = []
    for (data,) in cluster.query(database, "SELECT data FROM import_created_rows WHERE import_id = %d" % import_number):
        rows += created_row_numbers(bytes.fromhex(data[2:]))
    return rows
