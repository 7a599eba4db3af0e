import Foundation
import ImportEngine
import ImportService
import ImportStoreSQLite
import Logging
import Platform
import ProtoMessages
import RPCCore
import RPCHealth
import RPCInProcess

/// The ImportService in-process: handler, authentication and error mapping on
/// real SQLite and a manual clock, called by the typed client through the
/// in-process transport (the wire itself is tested by Tests/Interop).
final class ServiceHarness: Sendable {
    let directory: String
    let clock = ManualClock(now: WallTime(seconds: 1_767_607_620))  // 2026-01-05T10:07:00Z
    let importer: Importer
    let transport: InProcessTransport
    let admin: String

    init() async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("service-\(UUID().uuidString)").path
        try FileSystem.createDirectory(directory)
        let store = try SQLiteImportStore(path: directory + "/importd.sqlite")
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        importer = Importer(store: store, clock: clock, configuration: ImporterConfiguration(spoolDirectory: directory + "/spool"), logger: logger)
        try await importer.start()
        admin = try await importer.createToken(name: "admin", scope: .admin).secret
        let router = ImportServiceHandler.router(importer: importer, health: HealthService(), logger: logger)
        transport = InProcessTransport(router: router)
    }

    func client(_ token: String?) -> ImportsV1.ImportService.Client {
        var metadata = Metadata()
        if let token { metadata.add("authorization", "Bearer \(token)") }
        return ImportsV1.ImportService.Client(RPCClient(transport: transport, defaultMetadata: metadata))
    }

    var service: ImportsV1.ImportService.Client { client(admin) }

    func close() async {
        await importer.shutdown()
        try? FileManager.default.removeItem(atPath: directory)
    }

    func upload(_ csv: String, _ configure: (inout ImportsV1.UploadOptions) -> Void = { _ in }) async throws -> ImportsV1.ImportJob {
        var options = ImportsV1.UploadOptions()
        options.fileName = "test.csv"
        configure(&options)
        let bytes = Array(csv.utf8)
        let chosen = options
        return try await service.uploadContacts { writer in
            var first = ImportsV1.UploadContactsRequest()
            first.item = .options(chosen)
            try await writer.write(first)
            for start in stride(from: 0, to: bytes.count, by: 5) {
                var chunk = ImportsV1.UploadContactsRequest()
                chunk.item = .chunk(Array(bytes[start..<min(start + 5, bytes.count)]))
                try await writer.write(chunk)
            }
        }
    }

    /// Advances the manual clock to the next tick and waits for the import to end.
    func runScheduler(until id: String) async throws -> ImportsV1.ImportJob {
        await clock.waitForSleeper()
        clock.advance(to: await importer.nextTick)
        var request = ImportsV1.GetImportRequest()
        request.importID = id
        for _ in 0..<2000 {
            let job = try await service.getImport(request)
            if [.completed, .failed, .cancelled, .reverted].contains(job.state) { return job }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw RPCError(code: .deadlineExceeded, message: "import did not end")
    }
}
