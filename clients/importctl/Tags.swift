import ArgumentParser
import ImportClient
import Foundation
import Platform
import ProtoMessages
import RPCCore

/// The campaign and subscription commands: one implementation, two kinds.
protocol TagKindCommands: Sendable {
    associatedtype Message: TagMessage
    /// "campaign" or "subscription".
    static var noun: String { get }
    static var createExample: String { get }
    static func page(_ client: ImportClient, token: String) async throws -> ([Message], String)
    static func create(_ client: ImportClient, name: String, code: String) async throws -> Message
}

struct Campaigns: AsyncParsableCommand, TagKindCommands {
    static let configuration = CommandConfiguration(abstract: "Origin campaigns.", subcommands: [TagList<Campaigns>.self, TagCreate<Campaigns>.self])
    static let noun = "campaign"
    static let createExample = "importctl campaigns create \"Summer 2026\" --code SUMMER26"

    static func page(_ client: ImportClient, token: String) async throws -> ([ImportsV1.Campaign], String) {
        let page = try await client.campaignsPage(pageSize: 1000, pageToken: token)
        return (page.campaigns, page.nextPageToken)
    }

    static func create(_ client: ImportClient, name: String, code: String) async throws -> ImportsV1.Campaign {
        try await client.createCampaign(name: name, code: code)
    }
}

struct Subscriptions: AsyncParsableCommand, TagKindCommands {
    static let configuration = CommandConfiguration(
        abstract: "Subscriptions (mailing lists).", subcommands: [TagList<Subscriptions>.self, TagCreate<Subscriptions>.self])
    static let noun = "subscription"
    static let createExample = "importctl subscriptions create Newsletter --code NEWS"

    static func page(_ client: ImportClient, token: String) async throws -> ([ImportsV1.Subscription], String) {
        let page = try await client.subscriptionsPage(pageSize: 1000, pageToken: token)
        return (page.subscriptions, page.nextPageToken)
    }

    static func create(_ client: ImportClient, name: String, code: String) async throws -> ImportsV1.Subscription {
        try await client.createSubscription(name: name, code: code)
    }
}

/// `importctl campaigns list`, `importctl subscriptions list`.
struct TagList<Kind: TagKindCommands>: AsyncParsableCommand {
    static var configuration: CommandConfiguration { CommandConfiguration(commandName: "list", abstract: "List \(Kind.noun)s.") }
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        try await withConnection(global) { connection in
            let all = try await allPages { token in try await Kind.page(connection.client, token: token) }
            let output = Output(json: global.json)
            if global.json { output.items(all); return }
            if all.isEmpty { output.note("no \(Kind.noun)s yet: importctl \(Kind.noun)s create NAME --code CODE"); return }
            output.table(Table(header: ["ID", "NAME", "CODE", "CREATED"],
                rows: all.map { [$0.id, $0.name, $0.code.isEmpty ? "-" : $0.code, Format.time($0.createdAt)] }))
        }
    }
}

/// `importctl campaigns create`, `importctl subscriptions create`.
struct TagCreate<Kind: TagKindCommands>: AsyncParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(commandName: "create", abstract: "Create a \(Kind.noun) (needs an admin token).", discussion: "Example: \(Kind.createExample)")
    }
    @OptionGroup var global: GlobalOptions
    @Argument(help: ArgumentHelp("The \(Kind.noun)'s name.")) var name: String
    @Option(help: "A unique short code.") var code: String = ""

    func validate() throws {
        guard !name.trimmingWhitespace.isEmpty else { throw ValidationError("the name must not be empty") }
    }

    func run() async throws {
        try await withConnection(global) { connection in
            let item = try await Kind.create(connection.client, name: name, code: code)
            print(global.json ? item.protoJSON.text : "\(item.id)  \(item.name)\(item.code.isEmpty ? "" : "  (\(item.code))")")
        }
    }
}
