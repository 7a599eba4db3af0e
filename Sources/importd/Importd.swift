import ArgumentParser
import Foundation
import ImportEngine
import ImportStorePostgres
import ImportStoreSQLite
import Platform
import ProtoMessages

@main
enum ImportdMain {
    /// Settings from a config file and the environment go before the flags (see `ConfigurationSources`).
    static func main() async {
        do {
            let arguments = try ConfigurationSources.arguments(
                Array(CommandLine.arguments.dropFirst()), environment: ProcessInfo.processInfo.environment)
            await Importd.main(arguments)
        } catch {
            Importd.exit(withError: error)
        }
    }
}

struct Importd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "importd",
        abstract: "The contacts-import service: gRPC over HTTP/2, SQLite in the data directory.",
        discussion: """
            With no subcommand, importd serves (see `importd serve --help`). On first start it creates
            the database and an admin token in DIR/admin.token (mode 0600).

            Settings come from flags, then environment variables (IMPORTD_LISTEN, IMPORTD_DATA_DIR, ...:
            IMPORTD_ and the flag's name), then a config file (--config FILE or IMPORTD_CONFIG; JSON, or
            TOML lines key = value), in that precedence; `importd config print` shows the result.

            Examples:
              importd --listen 127.0.0.1:50051 --data-dir ./data --import-interval 15m
              importd token create --data-dir ./data --scope write --name uploader
              importd backup --data-dir ./data --to ./backup-2026-11-29
              importd --database postgres://importd@db.internal:5432/importd --data-dir ./replica-a
            """,
        version: ImportdVersion.string,
        subcommands: [Serve.self, Token.self, Backup.self, Restore.self, Config.self],
        defaultSubcommand: Serve.self)
}

/// Options every subcommand that opens the data directory takes.
struct DataDirectoryOptions: ParsableArguments {
    @Option(help: "Directory of the SQLite database and spooled uploads.")
    var dataDir: String = "./data"

    @Option(help: ArgumentHelp(
        "Keep everything in PostgreSQL instead of SQLite: a libpq connection URI (also IMPORTD_DATABASE). Several importd replicas can share one database; each keeps its own --data-dir.",
        valueName: "postgres://USER@HOST:PORT/DB"))
    var database: String?

    /// `--database`, else `IMPORTD_DATABASE`; nil: SQLite in the data directory.
    var databaseURL: String? {
        let url = database ?? ProcessInfo.processInfo.environment["IMPORTD_DATABASE"]
        return url?.isEmpty == false ? url : nil
    }

    /// The store this command works on.
    func openStore(lease: Duration? = nil) throws -> any ImportStore {
        guard let url = databaseURL else { return try SQLiteImportStore(path: databasePath) }
        var configuration = PostgresStoreConfiguration(conninfo: url)
        if let lease { configuration.lease = lease }
        return try PostgresImportStore(configuration)
    }

    var databasePath: String { dataDir + "/importd.sqlite" }
    var spoolDirectory: String { dataDir + "/spool" }
    var adminTokenPath: String { dataDir + "/admin.token" }
    /// Held by the serving importd for its life (see `Serve`).
    var lockPath: String { dataDir + "/importd.lock" }
    /// Touched by `importd token` after every change; the server drops its
    /// token cache when it changes.
    var tokensChanged: ChangeStamp { ChangeStamp(path: dataDir + "/tokens.changed") }
}
