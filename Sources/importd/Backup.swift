import ArgumentParser
import ImportStoreSQLite
import Platform

/// `importd backup`: a consistent copy of a data directory while its server runs.
struct Backup: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy the database and the uploads it refers to, while importd runs.",
        discussion: """
            Writes DIR/importd.sqlite (SQLite's online backup: one consistent moment, imports go on), \
            DIR/spool/ (the uploaded files the copy's imports refer to) and DIR/admin.token, owner-only: \
            keep the backup as private as the data directory. DIR must not exist yet. \
            Restore it with `importd restore --from DIR --data-dir NEW`.
            """)

    @OptionGroup var data: DataDirectoryOptions

    @Option(help: ArgumentHelp("The directory to write the backup to (must not exist).", valueName: "dir"))
    var to: String

    func run() throws {
        guard data.databaseURL == nil else {
            throw ValidationError("with --database, everything is in PostgreSQL: back it up with PostgreSQL's own tools (pg_dump, or base backups with WAL archiving)")
        }
        guard FileSystem.exists(data.databasePath) else {
            throw ValidationError("no database in \(data.dataDir) (expected \(data.databasePath))")
        }
        guard !FileSystem.exists(to) else { throw ValidationError("\(to) exists already: back up into a new directory") }
        try FileSystem.createDirectory(to)
        try FileSystem.createDirectory(to + "/spool")
        let spool = try StoreBackup.copyDatabase(from: data.databasePath, to: to + "/importd.sqlite")
        var copied = 0
        var gone = 0
        for name in spool {
            // An upload is deleted only after its import finished and was reverted or pruned: then it is not needed.
            guard FileSystem.exists(data.spoolDirectory + "/" + name) else {
                gone += 1
                continue
            }
            try FileSystem.copyFile(from: data.spoolDirectory + "/" + name, to: to + "/spool/" + name)
            copied += 1
        }
        // The admin token's secret (the database keeps only its hash): a restore serves with it.
        if FileSystem.exists(data.adminTokenPath) { try FileSystem.copyFile(from: data.adminTokenPath, to: to + "/admin.token") }
        let check = try StoreBackup.verify(to + "/importd.sqlite")
        guard check == "ok" else { throw ValidationError("the copy failed its integrity check: \(check)") }
        print("backed up \(data.dataDir) to \(to): the database (integrity ok) and \(copied) uploaded files"
            + (gone > 0 ? " (\(gone) no longer on disk)" : ""))
    }
}

/// `importd restore`: a backup into a new data directory.
struct Restore: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make a new data directory from a backup.",
        discussion: "The data directory must not hold a database yet; start importd on it afterwards.")

    @OptionGroup var data: DataDirectoryOptions

    @Option(help: ArgumentHelp("A directory written by importd backup.", valueName: "dir"))
    var from: String

    func run() throws {
        guard FileSystem.exists(from + "/importd.sqlite") else { throw ValidationError("\(from) is not a backup (no importd.sqlite)") }
        guard !FileSystem.exists(data.databasePath) else {
            throw ValidationError("\(data.dataDir) holds a database already: restore into a new data directory")
        }
        let check = try StoreBackup.verify(from + "/importd.sqlite")
        guard check == "ok" else { throw ValidationError("the backup failed its integrity check: \(check)") }
        try FileSystem.createDirectory(data.dataDir)
        try FileSystem.createDirectory(data.spoolDirectory)
        try FileSystem.copyFile(from: from + "/importd.sqlite", to: data.databasePath)
        if FileSystem.exists(from + "/admin.token") { try FileSystem.copyFile(from: from + "/admin.token", to: data.adminTokenPath) }
        var copied = 0
        for name in try FileSystem.list(from + "/spool") {
            try FileSystem.copyFile(from: from + "/spool/" + name, to: data.spoolDirectory + "/" + name)
            copied += 1
        }
        print("restored \(from) into \(data.dataDir): the database and \(copied) uploaded files; start importd with --data-dir \(data.dataDir)")
    }
}
