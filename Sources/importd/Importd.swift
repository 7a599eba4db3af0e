import ArgumentParser

@main
struct Importd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "importd",
        abstract: "The contacts-import service: gRPC over HTTP/2, SQLite in the data directory.",
        discussion: """
            With no subcommand, importd serves (see `importd serve --help`). On first start it creates
            the database and an admin token in DIR/admin.token (mode 0600).

            Examples:
              importd --listen 127.0.0.1:50051 --data-dir ./data --import-interval 15m
              importd token create --data-dir ./data --scope write --name uploader
            """,
        subcommands: [Serve.self, Token.self],
        defaultSubcommand: Serve.self)
}

/// Options every subcommand that opens the data directory takes.
struct DataDirectoryOptions: ParsableArguments {
    @Option(help: "Directory of the SQLite database and spooled uploads.")
    var dataDir: String = "./data"

    var databasePath: String { dataDir + "/importd.sqlite" }
    var spoolDirectory: String { dataDir + "/spool" }
    var adminTokenPath: String { dataDir + "/admin.token" }
}
