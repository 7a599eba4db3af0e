import Foundation
import ImportClient
import ProtoMessages
import RPCCore
import Testing

/// The Swift client library against a real importd (the built binary, on
/// 127.0.0.1, a port the system picks, its own data directory).
@Suite(.serialized) struct ImportClientTests {
    /// An importd in a child process, importing once an hour (dry runs start at once).
    final class Importd: Sendable {
        let process: Process
        let stdin: Pipe
        let port: Int
        let token: String
        let directory: URL

        init() throws {
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            let build = ProcessInfo.processInfo.environment["BUILD_DIR"].map { URL(fileURLWithPath: $0, relativeTo: root) }
                ?? root.appendingPathComponent(".build/release")
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("importclient-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let process = Process()
            process.executableURL = build.appendingPathComponent("importd")
            process.arguments = ["--listen", "127.0.0.1:0", "--data-dir", directory.appendingPathComponent("data").path,
                                 "--import-interval", "8760h", "--log-level", "warning"]
            let stdin = Pipe()
            let stdout = Pipe()
            process.standardInput = stdin
            process.standardOutput = stdout
            process.standardError = FileHandle.nullDevice
            try process.run()
            var line = Data()
            let handle = stdout.fileHandleForReading
            while !line.contains(UInt8(ascii: "\n")) {
                let byte = handle.readData(ofLength: 1)
                guard !byte.isEmpty else { break }
                line.append(byte)
            }
            let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard text.hasPrefix("listening on "), let port = Int(text.split(separator: ":").last ?? "") else {
                process.terminate()
                throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "importd did not start: \(text)"])
            }
            self.process = process
            self.stdin = stdin
            self.port = port
            token = try String(contentsOf: directory.appendingPathComponent("data/admin.token"), encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }

        func stop() {
            process.terminate()
            process.waitUntilExit()
            try? FileManager.default.removeItem(at: directory)
        }

        func file(_ name: String, _ text: String) throws -> String {
            let url = directory.appendingPathComponent(name)
            try Data(text.utf8).write(to: url)
            return url.path
        }
    }

    private func withImportd(_ body: (Importd, ImportClient) async throws -> Void) async throws {
        let server = try Importd()
        let client = ImportClient(host: "127.0.0.1", port: server.port, token: server.token)
        do {
            try await body(server, client)
        } catch {
            await client.close()
            server.stop()
            throw error
        }
        await client.close()
        server.stop()
    }

    static let csv = """
        email,first_name,last_name
        ana@example.com,Ana,Silva
        not-an-email,Bob,Jones
        cy@example.com,Cy,
        dee@example.com,Dee,Ng

        """

    @Test func uploadWatchPageAndSummarize() async throws {
        try await withImportd { server, client in
            var options = ImportsV1.UploadOptions()
            options.validateOnly = true
            let sent = Counter()
            let job = try await client.upload(file: try server.file("people.csv", Self.csv), options: options) { sent.set($0) }
            #expect(job.state == .queued && job.fileName == "people.csv" && job.totalRows == 4)
            #expect(sent.value == Int64(Self.csv.utf8.count))
            var states: [ImportsV1.ImportState] = []
            for try await update in client.watch(job.id) { states.append(update.state) }
            #expect(states.last == .completed)
            var failed: [UInt64] = []
            for try await row in client.rows(job.id, outcome: .failed) { failed.append(row.rowNumber) }
            #expect(failed == [2, 3])
            let groups = try await client.summary(job.id, groupBy: .outcome)
            #expect(Dictionary(uniqueKeysWithValues: groups.map { ($0.key, $0.count) }) == ["CREATED": 2, "FAILED": 2])
            var exported: [UInt8] = []
            try await client.exportErrors(job.id) { exported += $0 }
            let lines = String(decoding: exported, as: UTF8.self).split(whereSeparator: \.isNewline)
            #expect(lines.first == "email,first_name,last_name,error" && lines.count == 3)
            var listed: [String] = []
            for try await listedJob in client.imports() { listed.append(listedJob.id) }
            #expect(listed.contains(job.id))
        }
    }

    @Test func errorsAreTypedWithViolations() async throws {
        try await withImportd { server, client in
            let missing = await #expect(throws: ImportClientError.self) { try await client.get("imp_424242") }
            #expect(missing?.code == .notFound)
            let refused = await #expect(throws: ImportClientError.self) {
                try await client.upload(file: try server.file("tiers.csv", "Loyalty Tier,email\nGold,a@b.co\n"), options: ImportsV1.UploadOptions())
            }
            #expect(refused?.code == .invalidArgument)
            #expect(refused?.violations.contains { $0.field.contains("Loyalty Tier") || $0.description.contains("Loyalty Tier") } == true)
            let stranger = ImportClient(host: "127.0.0.1", port: server.port, token: "not-a-token")
            let unauthenticated = await #expect(throws: ImportClientError.self) { try await stranger.get("imp_1") }
            #expect(unauthenticated?.code == .unauthenticated)
            await stranger.close()
        }
    }

    @Test func stateChangesAndCampaigns() async throws {
        try await withImportd { server, client in
            let campaign = try await client.createCampaign(name: "Swift summer", code: "SWIFT26")
            var campaigns: [String] = []
            for try await item in client.campaigns() { campaigns.append(item.id) }
            #expect(campaigns.contains(campaign.id))
            var options = ImportsV1.UploadOptions()
            options.originCampaignID = "SWIFT26"
            let job = try await client.upload(file: try server.file("one.csv", "email,first_name,last_name\na@b.co,A,B\n"), options: options)
            #expect(try await client.pause(job.id).state == .paused)
            #expect(try await client.resume(job.id).state == .queued)
            #expect(try await client.cancel(job.id).state == .cancelled)
            let again = await #expect(throws: ImportClientError.self) { try await client.resume(job.id) }
            #expect(again?.code == .failedPrecondition)
            let template = try await client.template()
            #expect(!template.fields.isEmpty)
        }
    }

    @Test func aWatchOfAnImportThatEndedGivesItsLastSnapshotAndEnds() async throws {
        try await withImportd { server, client in
            let job = try await client.upload(file: try server.file("one.csv", "email,first_name,last_name\na@b.co,A,B\n"),
                options: ImportsV1.UploadOptions())
            _ = try await client.cancel(job.id)
            var seen: [ImportsV1.ImportState] = []
            for try await update in client.watch(job.id) { seen.append(update.state) }
            #expect(seen == [.cancelled])
        }
    }
}

/// A value set from a `@Sendable` closure.
final class Counter: @unchecked Sendable {
    // @unchecked: guarded by `lock`.
    private let lock = NSLock()
    private var current: Int64 = 0
    func set(_ value: Int64) { lock.withLock { current = value } }
    var value: Int64 { lock.withLock { current } }
}
