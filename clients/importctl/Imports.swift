import ArgumentParser
import ImportClient
import Foundation
import Platform
import ProtoMessages
import RPCCore

struct Imports: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Imports.", subcommands: [ImportList.self])
}

struct ImportList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List imports, newest first.",
        discussion: "Example: importctl imports list --state running --state queued")
    @OptionGroup var global: GlobalOptions

    @Option(help: "Only imports in this state (queued, running, paused, completed, failed, cancelled, reverted); repeatable.")
    var state: [String] = []

    @Option(help: "At most this many imports.")
    var limit: Int = 100

    static func parseState(_ text: String) -> ImportsV1.ImportState? {
        let name = text.uppercased().hasPrefix("IMPORT_STATE_") ? text.uppercased() : "IMPORT_STATE_" + text.uppercased()
        return ImportsV1.ImportState.allCases.first { $0.protoName == name && $0 != .unspecified }
    }

    func validate() throws {
        for s in state where Self.parseState(s) == nil {
            throw ValidationError("unknown state \(s): use queued, running, paused, completed, failed, cancelled or reverted")
        }
        guard limit > 0 else { throw ValidationError("--limit must be positive") }
    }

    func run() async throws {
        try await withConnection(global) { connection in
            var jobs: [ImportsV1.ImportJob] = []
            var token = ""
            repeat {
                let page = try await connection.client.importsPage(
                    states: state.compactMap(Self.parseState), pageSize: Int32(min(limit - jobs.count, 1000)), pageToken: token)
                jobs += page.imports
                token = page.nextPageToken
            } while !token.isEmpty && jobs.count < limit
            let output = Output(json: global.json)
            if global.json { output.items(jobs); return }
            if jobs.isEmpty { output.note("no imports\(state.isEmpty ? " yet: importctl upload FILE" : " in that state")"); return }
            var table = Table(header: ["ID", "STATE", "FILE", "ROWS", "DONE", "CREATED", "UPDATED", "SKIPPED", "FAILED", "UPLOADED"])
            table.rightAligned = [3, 4, 5, 6, 7, 8]
            table.rows = jobs.map {
                [$0.id, Format.state($0.state) + ($0.validateOnly ? " (dry)" : ""), $0.fileName, Format.count($0.totalRows),
                 Format.percent($0.processedRows, of: $0.totalRows), Format.count($0.created), Format.count($0.updated),
                 Format.count($0.skipped), Format.count($0.failed), Format.time($0.createdAt)]
            }
            output.table(table)
        }
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show one import now.", discussion: "Example: importctl status imp_12")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The import, e.g. imp_12.") var id: String

    func run() async throws {
        try await withConnection(global) { connection in
            let job = try await connection.client.get(id)
            print(global.json ? job.protoJSON.text : JobText.block(job))
        }
    }
}

struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Follow an import live until it ends, or every import with --all.",
        discussion: """
            Exits 0 when it COMPLETED, 3 when it FAILED, 4 when CANCELLED. Ctrl-C stops watching, not the import. \
            If the connection is lost (importd restarting), the watch reconnects and goes on from a fresh snapshot.
            """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The import, e.g. imp_12.") var id: String?
    @Flag(help: "Follow every import: those still going, then each change, until Ctrl-C.") var all = false

    func validate() throws {
        if all == (id != nil) { throw ValidationError("give an import id, or --all to follow every import") }
    }

    func run() async throws {
        try await withConnection(global) { connection in
            if all {
                try await followAll(connection, json: global.json)
                return
            }
            let status = try await follow(id!, connection, json: global.json)
            if status != 0 { throw ExitCode(status) }
        }
    }
}

// MARK: - State changes

/// Every item of a paged list.
func allPages<Item>(_ page: (String) async throws -> ([Item], String)) async throws -> [Item] {
    var items: [Item] = []
    var token = ""
    repeat {
        let (batch, next) = try await page(token)
        items += batch
        token = next
    } while !token.isEmpty
    return items
}
