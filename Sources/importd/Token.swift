import ArgumentParser
import ImportEngine
import ImportStoreSQLite
import Logging
import Platform

struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Manage API tokens (stored hashed in the data directory).",
        subcommands: [Create.self, List.self, Revoke.self])

    /// An importer over the data directory, for token work (nothing is scheduled).
    static func importer(_ data: DataDirectoryOptions) throws -> Importer {
        guard data.databaseURL != nil || FileSystem.exists(data.databasePath) else {
            throw ValidationError("no database in \(data.dataDir): start importd with --data-dir \(data.dataDir) first, or pass the right --data-dir (or --database)")
        }
        let store = try data.openStore()
        return Importer(store: store, clock: SystemClock(), configuration: ImporterConfiguration(spoolDirectory: data.spoolDirectory),
            logger: Logger(label: "importd-token"))
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a token and print it (shown once).")

        @OptionGroup var data: DataDirectoryOptions

        @Option(help: "read, write or admin.")
        var scope: String

        @Option(help: "A name to recognise the token by.")
        var name: String = ""

        func validate() throws {
            guard TokenScope(name: scope) != nil else { throw ValidationError("--scope must be read, write or admin") }
        }

        func run() async throws {
            let importer = try Token.importer(data)
            let scope = TokenScope(name: scope)!
            let (_, secret) = try await importer.createToken(name: name.isEmpty ? "\(scope) token" : name, scope: scope)
            try data.tokensChanged.touch()
            print(secret)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens (never their secrets).")

        @OptionGroup var data: DataDirectoryOptions

        func run() async throws {
            let importer = try Token.importer(data)
            let tokens = try await importer.store.tokens()
            print("ID\tSCOPE\tCREATED\tREVOKED\tNAME")
            for token in tokens {
                print([ResourceKind.token.format(token.id), token.scope.description, UTCTime.iso8601(seconds: token.createdAt.seconds),
                       token.revokedAt.map { UTCTime.iso8601(seconds: $0.seconds) } ?? "-", token.name].joined(separator: "\t"))
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token; it stops working within seconds.")

        @OptionGroup var data: DataDirectoryOptions

        @Argument(help: "The token's id, e.g. tok_3.")
        var id: String

        func run() async throws {
            guard let number = ResourceKind.token.parse(id) ?? Int64(id) else { throw ValidationError("\(id) is not a token id (tok_N)") }
            let importer = try Token.importer(data)
            guard try await importer.store.revokeToken(id: number, at: SystemClock().now()) else {
                throw ValidationError("no token \(id)")
            }
            try data.tokensChanged.touch()
            print("revoked \(ResourceKind.token.format(number))")
        }
    }
}
