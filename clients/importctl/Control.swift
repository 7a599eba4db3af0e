import ArgumentParser
import Foundation
import Platform
import ProtoMessages
import RPCCore

/// A state change a user asks for by import id: pause, resume, cancel.
protocol ControlAction: Sendable {
    static var name: String { get }
    static var abstract: String { get }
    static func send(_ service: ImportsV1.ImportService.Client, id: String) async throws -> ImportsV1.ImportJob
}

/// `importctl pause|resume|cancel ID`: one implementation for the three.
struct ControlCommand<Action: ControlAction>: AsyncParsableCommand {
    static var configuration: CommandConfiguration { CommandConfiguration(commandName: Action.name, abstract: Action.abstract) }
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The import, e.g. imp_12.") var id: String

    func run() async throws {
        try await withConnection(global) { connection in
            let job = try await Action.send(connection.service, id: id)
            print(global.json ? job.protoJSON.text : JobText.line(job, barWidth: 0))
        }
    }
}

enum Pause: ControlAction {
    static let name = "pause"
    static let abstract = "Pause an import (a running one stops at its next batch, within a second)."
    static func send(_ service: ImportsV1.ImportService.Client, id: String) async throws -> ImportsV1.ImportJob {
        var request = ImportsV1.PauseImportRequest()
        request.importID = id
        return try await service.pauseImport(request)
    }
}

enum Resume: ControlAction {
    static let name = "resume"
    static let abstract = "Resume a paused import: it continues where it stopped at the next run."
    static func send(_ service: ImportsV1.ImportService.Client, id: String) async throws -> ImportsV1.ImportJob {
        var request = ImportsV1.ResumeImportRequest()
        request.importID = id
        return try await service.resumeImport(request)
    }
}

enum Cancel: ControlAction {
    static let name = "cancel"
    static let abstract = "Cancel an import for good; rows already imported stay (see revert)."
    static func send(_ service: ImportsV1.ImportService.Client, id: String) async throws -> ImportsV1.ImportJob {
        var request = ImportsV1.CancelImportRequest()
        request.importID = id
        return try await service.cancelImport(request)
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

// MARK: - Results
