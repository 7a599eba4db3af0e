import ArgumentParser
import ImportClient
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
            let template = try await connection.client.template()
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
        // Owner-only (0600): an error file holds people's data.
        do {
            let slash = path.lastIndex(of: "/")
            let writer = try DurableFileWriter(directory: slash.map { String(path[..<$0]) } ?? ".",
                                               name: slash.map { String(path[path.index(after: $0)...]) } ?? path)
            try writer.write(bytes)
            try writer.commit(as: slash.map { String(path[path.index(after: $0)...]) } ?? path)
        } catch {
            throw ValidationError("cannot write \(path): \(error)")
        }
    } else {
        FileHandle.standardOutput.write(Data(bytes))
    }
}

// MARK: - Campaigns and subscriptions
