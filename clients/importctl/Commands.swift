import ArgumentParser
import Foundation
import Platform
import ProtoMessages
import RPCCore

struct Template: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the header template: every column importd knows, and an example row.",
        discussion: "Example: importctl template -o contacts.csv")

    @OptionGroup var global: GlobalOptions

    @Option(name: .shortAndLong, help: ArgumentHelp("Write to this file instead of stdout.", valueName: "file"))
    var output: String?

    func run() async throws {
        try await withConnection(global) { connection in
            let template = try await connection.service.getImportTemplate(ImportsV1.GetImportTemplateRequest())
            if global.json {
                print(template.protoJSON.text)
                return
            }
            try writeOut(template.csv, to: output)
            if output != nil || Terminal.isTerminal(Terminal.standardOutput) {
                let required = template.fields.filter(\.required).map(\.name)
                Output(json: false).note("""
                    \(output.map { "wrote \($0): " } ?? "")\(template.fields.count) columns; \(required.joined(separator: " and ")) required, \
                    and one of email, phone or mobile. Headers may also be spelled like \(template.fields.first { $0.name == "email" }?.aliases.first ?? "E-mail") or \
                    \(template.fields.first { $0.name == "postal_code" }?.aliases.first ?? "Zip").
                    """)
            }
        }
    }
}

/// Writes bytes to a file (durably) or stdout.
func writeOut(_ bytes: [UInt8], to path: String?) throws {
    if let path {
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: path))
        } catch {
            throw ValidationError("cannot write \(path): \(error.localizedDescription)")
        }
    } else {
        FileHandle.standardOutput.write(Data(bytes))
    }
}

// MARK: - Campaigns and subscriptions

struct Campaigns: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Origin campaigns.", subcommands: [CampaignList.self, CampaignCreate.self])
}

struct Subscriptions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Subscriptions (mailing lists).", subcommands: [SubscriptionList.self, SubscriptionCreate.self])
}

/// A campaign or a subscription: the two have the same shape.
protocol TagMessage: ProtoJSONRepresentable {
    var id: String { get }
    var name: String { get }
    var code: String { get }
    var createdAt: GoogleProtobuf.Timestamp? { get }
}

extension ImportsV1.Campaign: TagMessage {}
extension ImportsV1.Subscription: TagMessage {}

/// What the campaign and subscription commands share.
enum Tags {
    static func list<Item: TagMessage>(
        _ global: GlobalOptions, noun: String, page: @escaping @Sendable (Connection, String) async throws -> ([Item], String)
    ) async throws {
        try await withConnection(global) { connection in
            let all = try await allPages { token in try await page(connection, token) }
            let output = Output(json: global.json)
            if global.json { output.items(all); return }
            if all.isEmpty { output.note("no \(noun)s yet: importctl \(noun)s create NAME --code CODE"); return }
            output.table(Table(header: ["ID", "NAME", "CODE", "CREATED"],
                rows: all.map { [$0.id, $0.name, $0.code.isEmpty ? "-" : $0.code, Format.time($0.createdAt)] }))
        }
    }

    static func create<Item: TagMessage>(
        _ global: GlobalOptions, _ call: @escaping @Sendable (Connection) async throws -> Item
    ) async throws {
        try await withConnection(global) { connection in
            let item = try await call(connection)
            print(global.json ? item.protoJSON.text : "\(item.id)  \(item.name)\(item.code.isEmpty ? "" : "  (\(item.code))")")
        }
    }

    static func validate(_ name: String) throws {
        guard !name.trimmingWhitespace.isEmpty else { throw ValidationError("the name must not be empty") }
    }
}

struct CampaignList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List campaigns.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await Tags.list(global, noun: "campaign", page: { connection, token in
            var request = ImportsV1.ListCampaignsRequest()
            request.pageSize = 1000
            request.pageToken = token
            let page = try await connection.service.listCampaigns(request)
            return (page.campaigns, page.nextPageToken)
        })
    }
}

struct CampaignCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a campaign (needs an admin token).",
        discussion: "Example: importctl campaigns create \"Summer 2026\" --code SUMMER26")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The campaign's name.") var name: String
    @Option(help: "A unique short code.") var code: String = ""

    func validate() throws { try Tags.validate(name) }

    func run() async throws {
        var request = ImportsV1.CreateCampaignRequest()
        request.name = name
        request.code = code
        let made = request
        try await Tags.create(global, { try await $0.service.createCampaign(made) })
    }
}

struct SubscriptionList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List subscriptions.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await Tags.list(global, noun: "subscription", page: { connection, token in
            var request = ImportsV1.ListSubscriptionsRequest()
            request.pageSize = 1000
            request.pageToken = token
            let page = try await connection.service.listSubscriptions(request)
            return (page.subscriptions, page.nextPageToken)
        })
    }
}

struct SubscriptionCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "create", abstract: "Create a subscription (needs an admin token).",
        discussion: "Example: importctl subscriptions create Newsletter --code NEWS")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The subscription's name.") var name: String
    @Option(help: "A unique short code.") var code: String = ""

    func validate() throws { try Tags.validate(name) }

    func run() async throws {
        var request = ImportsV1.CreateSubscriptionRequest()
        request.name = name
        request.code = code
        let made = request
        try await Tags.create(global, { try await $0.service.createSubscription(made) })
    }
}

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

// MARK: - Imports

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
                var request = ImportsV1.ListImportsRequest()
                request.states = state.compactMap(Self.parseState)
                request.pageSize = Int32(min(limit - jobs.count, 1000))
                request.pageToken = token
                let page = try await connection.service.listImports(request)
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
            var request = ImportsV1.GetImportRequest()
            request.importID = id
            let job = try await connection.service.getImport(request)
            print(global.json ? job.protoJSON.text : JobText.block(job))
        }
    }
}

struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Follow an import live until it ends.",
        discussion: "Exits 0 when it COMPLETED, 3 when it FAILED, 4 when CANCELLED. Ctrl-C stops watching, not the import.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The import, e.g. imp_12.") var id: String

    func run() async throws {
        try await withConnection(global) { connection in
            let status = try await follow(id, connection, json: global.json)
            if status != 0 { throw ExitCode(status) }
        }
    }
}

// MARK: - State changes

struct Pause: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Pause an import (a running one stops at its next batch, within a second).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The import, e.g. imp_12.") var id: String

    func run() async throws {
        try await control(global) { service in
            var request = ImportsV1.PauseImportRequest()
            request.importID = id
            return try await service.pauseImport(request)
        }
    }
}

struct Resume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Resume a paused import: it continues where it stopped at the next run.")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The import, e.g. imp_12.") var id: String

    func run() async throws {
        try await control(global) { service in
            var request = ImportsV1.ResumeImportRequest()
            request.importID = id
            return try await service.resumeImport(request)
        }
    }
}

struct Cancel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Cancel an import for good; rows already imported stay (see revert).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The import, e.g. imp_12.") var id: String

    func run() async throws {
        try await control(global) { service in
            var request = ImportsV1.CancelImportRequest()
            request.importID = id
            return try await service.cancelImport(request)
        }
    }
}

struct Revert: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Undo a completed or cancelled import.",
        discussion: """
            Contacts it created are deleted and fields it overwrote restored, unless a later import changed
            them (those rows are kept and listed); subscriptions it added are removed. Asks for confirmation
            unless --yes.
            """)
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The import, e.g. imp_12.") var id: String
    @Flag(help: "Do not ask for confirmation.") var yes = false

    func validate() throws {
        if !yes && !Terminal.isTerminal(Terminal.standardInput) {
            throw ValidationError("refusing to revert \(id) without confirmation: pass --yes (no terminal to ask on)")
        }
    }

    func run() async throws {
        try await withConnection(global) { connection in
            if !yes {
                var get = ImportsV1.GetImportRequest()
                get.importID = id
                let job = try await connection.service.getImport(get)
                Terminal.write(Terminal.standardError, """
                    Revert \(job.id) (\(job.fileName))? This deletes the \(Format.count(job.created)) contacts it created and restores \
                    the \(Format.count(job.updated)) it updated, unless later imports changed them. Type yes to go on: 
                    """)
                guard Terminal.readLine()?.trimmingWhitespace.lowercased() == "yes" else {
                    Terminal.write(Terminal.standardError, "not reverted\n")
                    throw ExitCode(Exit.refused)
                }
            }
            var request = ImportsV1.RevertImportRequest()
            request.importID = id
            let job = try await connection.service.revertImport(request)
            if global.json {
                print(job.protoJSON.text)
            } else {
                print("\(job.id) REVERTED: \(Format.count(job.revertedRows)) rows undone, \(Format.count(job.revertKeptRows)) kept because later imports changed them")
                if job.revertKeptRows > 0 { print("the kept rows: importctl rows \(job.id) --json | grep revert_kept") }
            }
        }
    }
}

/// Runs a state change and prints the import as it is after it.
func control(_ global: GlobalOptions, _ call: (ImportsV1.ImportService.Client) async throws -> ImportsV1.ImportJob) async throws {
    try await withConnection(global) { connection in
        let job = try await call(connection.service)
        print(global.json ? job.protoJSON.text : JobText.line(job, barWidth: 0))
    }
}

// MARK: - Results

struct Rows: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Per-row results: outcome, contact, errors and the values as read.",
        discussion: "Example: importctl rows imp_12 --outcome failed --limit 20")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The import, e.g. imp_12.") var id: String
    @Option(help: "Only rows with this outcome: created, updated, skipped or failed.") var outcome: String?
    @Option(help: "At most this many rows (0: all).") var limit: Int = 100

    func validate() throws {
        if let outcome, Self.parse(outcome) == nil { throw ValidationError("--outcome must be created, updated, skipped or failed") }
        guard limit >= 0 else { throw ValidationError("--limit must not be negative") }
    }

    static func parse(_ text: String) -> ImportsV1.RowOutcome? {
        ["created": .created, "updated": .updated, "skipped": .skipped, "failed": .failed][text.lowercased()] as ImportsV1.RowOutcome?
    }

    func run() async throws {
        try await withConnection(global) { connection in
            let output = Output(json: global.json)
            var token = ""
            var shown = 0
            var header: [String] = []
            var table = Table(header: ["ROW", "OUTCOME", "CONTACT", "ERRORS", "VALUES"])
            table.rightAligned = [0]
            repeat {
                var request = ImportsV1.ListImportRowsRequest()
                request.importID = id
                request.outcome = outcome.flatMap(Self.parse) ?? .unspecified
                request.pageSize = Int32(limit == 0 ? 1000 : min(1000, limit - shown))
                request.pageToken = token
                let page = try await connection.service.listImportRows(request)
                header = page.header
                for row in page.rows {
                    if global.json {
                        print(row.protoJSON.text)
                    } else {
                        let errors = row.errors.map { $0.column.isEmpty ? "\($0.code): \($0.message)" : "\($0.code) (\($0.column)): \($0.message)" }
                        table.rows.append([String(row.rowNumber), Format.outcome(row.outcome) + (row.revertKept ? " (kept)" : ""),
                            row.contactID.isEmpty ? "-" : row.contactID, errors.isEmpty ? "-" : errors.joined(separator: "; "),
                            row.values.joined(separator: " | ")])
                    }
                }
                shown += page.rows.count
                token = page.nextPageToken
            } while !token.isEmpty && (limit == 0 || shown < limit)
            if global.json { return }
            if table.rows.isEmpty { output.note("no rows\(outcome.map { " with outcome \($0)" } ?? "")"); return }
            output.table(table)
            if !token.isEmpty { output.note("first \(shown) rows; more with --limit 0, or: importctl summary \(id)") }
            if !header.isEmpty { output.note("values in column order: " + header.joined(separator: " | ")) }
        }
    }
}

struct Summary: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Row counts grouped by outcome, error code or column.",
        discussion: "Example: importctl summary imp_12 --group-by error")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The import, e.g. imp_12.") var id: String
    @Option(help: "outcome, error or column.") var groupBy: String = "outcome"

    func validate() throws {
        guard ["outcome", "error", "error_code", "column"].contains(groupBy.lowercased()) else {
            throw ValidationError("--group-by must be outcome, error or column")
        }
    }

    func run() async throws {
        try await withConnection(global) { connection in
            var request = ImportsV1.SummarizeImportRequest()
            request.importID = id
            request.groupBy = switch groupBy.lowercased() {
            case "error", "error_code": .errorCode
            case "column": .column
            default: .outcome
            }
            let response = try await connection.service.summarizeImport(request)
            let output = Output(json: global.json)
            if global.json { output.items(response.groups); return }
            if response.groups.isEmpty { output.note(request.groupBy == .outcome ? "no rows processed yet" : "no errors"); return }
            let total = response.groups.reduce(0) { $0 + $1.count }
            var table = Table(header: [request.groupBy == .errorCode ? "ERROR" : request.groupBy == .column ? "COLUMN" : "OUTCOME", "ROWS", "SHARE"])
            table.rightAligned = [1, 2]
            table.rows = response.groups.map { [$0.key, Format.count($0.count), String(format: "%.1f%%", Double($0.count) / Double(total) * 100)] }
            output.table(table)
        }
    }
}

struct Errors: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The failed rows as CSV: their original columns plus an error column, ready to fix and upload again.",
        discussion: "Example: importctl errors imp_12 -o failed.csv")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The import, e.g. imp_12.") var id: String
    @Option(name: .shortAndLong, help: ArgumentHelp("Write to this file instead of stdout.", valueName: "file")) var output: String?

    func run() async throws {
        try await withConnection(global) { connection in
            var get = ImportsV1.GetImportRequest()
            get.importID = id
            let job = try await connection.service.getImport(get)
            var request = ImportsV1.ExportImportErrorsRequest()
            request.importID = id
            let bytes = try await connection.service.exportImportErrors(request) { chunks in
                var all: [UInt8] = []
                for try await chunk in chunks { all += chunk.data }
                return all
            }
            try writeOut(bytes, to: output)
            if let output {
                Output(json: false).note("wrote \(Format.count(job.failed)) failed rows of \(job.id) to \(output), each with an error column; fix them and upload the file again")
            }
        }
    }
}

struct Contact: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "A contact's profile: fields, origin, subscriptions and the imports that touched it.",
        discussion: "Example: importctl contact ct_1024")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The contact, e.g. ct_1024.") var id: String

    func run() async throws {
        try await withConnection(global) { connection in
            var request = ImportsV1.GetContactRequest()
            request.contactID = id
            let contact = try await connection.service.getContact(request)
            if global.json {
                print(contact.protoJSON.text)
                return
            }
            let campaigns = try await allPages { token in
                var r = ImportsV1.ListCampaignsRequest()
                r.pageSize = 1000
                r.pageToken = token
                let page = try await connection.service.listCampaigns(r)
                return (page.campaigns, page.nextPageToken)
            }
            let subscriptions = try await allPages { token in
                var r = ImportsV1.ListSubscriptionsRequest()
                r.pageSize = 1000
                r.pageToken = token
                let page = try await connection.service.listSubscriptions(r)
                return (page.subscriptions, page.nextPageToken)
            }
            func importName(_ id: String) async -> String {
                guard !id.isEmpty else { return "-" }
                var r = ImportsV1.GetImportRequest()
                r.importID = id
                guard let job = try? await connection.service.getImport(r) else { return id }
                return "\(id) (\(job.fileName), \(Format.time(job.createdAt)))"
            }
            let name = [contact.title, contact.firstName, contact.lastName].filter { !$0.isEmpty }.joined(separator: " ")
            var lines: [(String, String)] = [("Contact", "\(contact.id)  \(name)  (\(contact.kind == .lead ? "lead" : "contact"))")]
            let fields: [(String, String)] = [
                ("External id", contact.externalID), ("Email", contact.email), ("Phone", contact.phone), ("Mobile", contact.mobile),
                ("Address", [contact.address1, contact.address2].filter { !$0.isEmpty }.joined(separator: ", ")),
                ("City", [contact.postalCode, contact.city, contact.state].filter { !$0.isEmpty }.joined(separator: " ")),
                ("Country", contact.country), ("Born", contact.birthDate), ("Gender", contact.gender), ("Company", contact.company),
                ("Notes", contact.notes),
            ]
            lines += fields.filter { !$0.1.isEmpty }
            let origin = campaigns.first { $0.id == contact.originCampaignID }
            lines.append(("Origin", contact.originCampaignID.isEmpty ? "-" : "\(origin?.name ?? "?") (\(contact.originCampaignID))"))
            let names = contact.subscriptionIDs.map { id in "\(subscriptions.first { $0.id == id }?.name ?? "?") (\(id))" }
            lines.append(("Subscriptions", names.isEmpty ? "-" : names.joined(separator: ", ")))
            lines.append(("Created by", await importName(contact.createdByImportID)))
            lines.append(("Updated by", await importName(contact.updatedByImportID)))
            lines.append(("Created", Format.time(contact.createdAt)))
            lines.append(("Updated", Format.time(contact.updatedAt)))
            let width = lines.map(\.0.count).max() ?? 0
            print(lines.map { $0.0 + String(repeating: " ", count: width - $0.0.count) + "  " + $0.1 }.joined(separator: "\n"))
        }
    }
}
