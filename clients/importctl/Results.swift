import ArgumentParser
import ImportClient
import Foundation
import Platform
import ProtoMessages
import RPCCore

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
                let page = try await connection.client.rowsPage(
                    id, outcome: outcome.flatMap(Self.parse) ?? .unspecified,
                    pageSize: Int32(limit == 0 ? 1000 : min(1000, limit - shown)), pageToken: token)
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
            let grouping: ImportsV1.GroupBy = switch groupBy.lowercased() {
            case "error", "error_code": .errorCode
            case "column": .column
            default: .outcome
            }
            let groups = try await connection.client.summary(id, groupBy: grouping)
            let output = Output(json: global.json)
            if global.json { output.items(groups); return }
            if groups.isEmpty { output.note(grouping == .outcome ? "no rows processed yet" : "no errors"); return }
            let total = groups.reduce(0) { $0 + $1.count }
            var table = Table(header: [grouping == .errorCode ? "ERROR" : grouping == .column ? "COLUMN" : "OUTCOME", "ROWS", "SHARE"])
            table.rightAligned = [1, 2]
            table.rows = groups.map { [$0.key, Format.count($0.count), String(format: "%.1f%%", Double($0.count) / Double(total) * 100)] }
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
            let job = try await connection.client.get(id)
            var bytes: [UInt8] = []
            try await connection.client.exportErrors(id) { bytes += $0 }
            try writeOut(bytes, to: output)
            if let output {
                Output(json: false).note("wrote \(Format.count(job.failed)) failed rows of \(job.id) to \(output), each with an error column; fix them and upload the file again")
            }
        }
    }
}
