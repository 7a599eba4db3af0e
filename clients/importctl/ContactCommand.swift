import ArgumentParser
import ImportClient
import Foundation
import Platform
import ProtoMessages
import RPCCore

struct Contact: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "A contact's profile: fields, origin, subscriptions and the imports that touched it.",
        discussion: "Example: importctl contact ct_1024")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "The contact, e.g. ct_1024.") var id: String

    func run() async throws {
        try await withConnection(global) { connection in
            let contact = try await connection.client.contact(id)
            if global.json {
                print(contact.protoJSON.text)
                return
            }
            let campaigns = try await allPages { try await Campaigns.page(connection.client, token: $0) }
            let subscriptions = try await allPages { try await Subscriptions.page(connection.client, token: $0) }
            func importName(_ id: String) async -> String {
                guard !id.isEmpty else { return "-" }
                guard let job = try? await connection.client.get(id) else { return id }
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
