import ArgumentParser
import ImportClient
import Foundation
import Platform
import ProtoMessages
import RPCCore

/// A state change a user asks for by import id: pause, resume, cancel.
protocol ControlAction: Sendable {
    static var name: String { get }
    static var abstract: String { get }
    static func send(_ client: ImportClient, id: String) async throws -> ImportsV1.ImportJob
}

/// `importctl pause|resume|cancel ID`: one implementation for the three.
struct ControlCommand<Action: ControlAction>: AsyncParsableCommand {
    static var configuration: CommandConfiguration { CommandConfiguration(commandName: Action.name, abstract: Action.abstract) }
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The import, e.g. imp_12.") var id: String

    func run() async throws {
        try await withConnection(global) { connection in
            let job = try await Action.send(connection.client, id: id)
            print(global.json ? job.protoJSON.text : JobText.line(job, barWidth: 0))
        }
    }
}

enum Pause: ControlAction {
    static let name = "pause"
    static let abstract = "Pause an import (a running one stops at its next batch, within a second)."
    static func send(_ client: ImportClient, id: String) async throws -> ImportsV1.ImportJob {
        try await client.pause(id)
    }
}

enum Resume: ControlAction {
    static let name = "resume"
    static let abstract = "Resume a paused import: it continues where it stopped at the next run."
    static func send(_ client: ImportClient, id: String) async throws -> ImportsV1.ImportJob {
        try await client.resume(id)
    }
}

enum Cancel: ControlAction {
    static let name = "cancel"
    static let abstract = "Cancel an import for good; rows already imported stay (see revert)."
    static func send(_ client: ImportClient, id: String) async throws -> ImportsV1.ImportJob {
        try await client.cancel(id)
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
                let job = try await connection.client.get(id)
                Terminal.write(Terminal.standardError, """
                    Revert \(job.id) (\(job.fileName))? This deletes the \(Format.count(job.created)) contacts it created and restores \
                    the \(Format.count(job.updated)) it updated, unless later imports changed them. Type yes to go on: 
                    """)
                guard Terminal.readLine()?.trimmingWhitespace.lowercased() == "yes" else {
                    Terminal.write(Terminal.standardError, "not reverted\n")
                    throw ExitCode(Exit.refused)
                }
            }
            let job = try await connection.client.revert(id)
            if global.json {
                print(job.protoJSON.text)
            } else {
                print("\(job.id) REVERTED: \(Format.count(job.revertedRows)) rows undone, \(Format.count(job.revertKeptRows)) kept because later imports changed them")
                if job.revertKeptRows > 0 { print("the kept rows: importctl rows \(job.id) --json | grep revert_kept") }
            }
        }
    }
}

// MARK: - Results
