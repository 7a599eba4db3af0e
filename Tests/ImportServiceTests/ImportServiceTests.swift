import Foundation
import ImportEngine
import ImportService
import ImportStoreSQLite
import Logging
import Platform
import ProtoMessages
import RPCCore
import RPCHealth
import Testing

@Suite struct ImportServiceTests {
    @Test func uploadQueuesWithTheNextAlignedRunAndTheTickImports() async throws {
        let h = try await ServiceHarness()
        let job = try await h.upload("first_name,last_name,email\nAna,Ray,ana@example.org\nBo,,bo@example.org\n")
        #expect(job.state == .queued && job.totalRows == 2 && job.id.hasPrefix("imp_"))
        #expect(job.nextRunAt?.seconds == 1_767_608_100, "10:15:00, the next quarter hour")
        #expect(job.createdAt?.seconds == 1_767_607_620)
        let done = try await h.runScheduler(until: job.id)
        #expect(done.state == .completed && done.created == 1 && done.failed == 1)
        #expect(done.nextRunAt == nil)
        #expect(done.startedAt?.seconds == 1_767_608_100)
        var summary = ImportsV1.SummarizeImportRequest()
        summary.importID = job.id
        summary.groupBy = .errorCode
        let groups = try await h.service.summarizeImport(summary).groups
        #expect(groups.map(\.key) == ["MISSING_REQUIRED"] && groups.map(\.count) == [1])
        await h.close()
    }

    @Test func refusedHeaderCarriesBadRequestDetails() async throws {
        let h = try await ServiceHarness()
        let error = await #expect(throws: RPCError.self) { _ = try await h.upload("first_name,emial\nA,b@c.de\n") }
        #expect(error?.code == .invalidArgument)
        let details = try #require(error?.metadata.firstBinary("grpc-status-details-bin"))
        let status = try GoogleRPC.Status(serializedBytes: details)
        #expect(status.code == Int32(Status.Code.invalidArgument.rawValue))
        #expect(status.details.first?.typeURL == "type.googleapis.com/google.rpc.BadRequest")
        let badRequest = try GoogleRPC.BadRequest(serializedBytes: status.details[0].value)
        let fields = badRequest.fieldViolations.map(\.field)
        #expect(fields.contains("emial") && fields.contains("last_name"))
        #expect(badRequest.fieldViolations.first { $0.field == "emial" }?.description.contains("did you mean email?") == true)
        var list = ImportsV1.ListImportsRequest()
        list.pageSize = 10
        let imports = try await h.service.listImports(list).imports
        #expect(imports.isEmpty)
        await h.close()
    }

    @Test func tokensAndScopes() async throws {
        let h = try await ServiceHarness()
        let read = try await h.importer.createToken(name: "reader", scope: .read).secret
        let write = try await h.importer.createToken(name: "writer", scope: .write).secret
        let template = ImportsV1.GetImportTemplateRequest()
        let anonymous = await #expect(throws: RPCError.self) { _ = try await h.client(nil).getImportTemplate(template) }
        #expect(anonymous?.status == Status(code: .unauthenticated, message: "missing credentials: send the header \"authorization: Bearer <token>\""))
        let bad = await #expect(throws: RPCError.self) { _ = try await h.client("nope").getImportTemplate(template) }
        #expect(bad?.code == .unauthenticated)
        let fields = try await h.client(read).getImportTemplate(template).fields
        #expect(fields.count == 17)
        var campaign = ImportsV1.CreateCampaignRequest()
        campaign.name = "X"
        let denied = await #expect(throws: RPCError.self) { _ = try await h.client(write).createCampaign(campaign) }
        #expect(denied?.code == .permissionDenied)
        #expect(denied?.message.contains("admin") == true)
        var pause = ImportsV1.PauseImportRequest()
        pause.importID = "imp_1"
        let readOnly = await #expect(throws: RPCError.self) { _ = try await h.client(read).pauseImport(pause) }
        #expect(readOnly?.code == .permissionDenied)
        // Health needs no token.
        let health = GrpcHealthV1.Health.Client(RPCClient(transport: h.transport))
        let serving = try await health.check(GrpcHealthV1.HealthCheckRequest()).status
        #expect(serving == .serving)
        await h.close()
    }

    @Test func errorsMapToStatusesInOnePlace() async throws {
        let h = try await ServiceHarness()
        var get = ImportsV1.GetImportRequest()
        get.importID = "imp_77"
        let notFound = await #expect(throws: RPCError.self) { _ = try await h.service.getImport(get) }
        #expect(notFound?.status == Status(code: .notFound, message: "import imp_77 does not exist"))
        get.importID = ""
        let missing = await #expect(throws: RPCError.self) { _ = try await h.service.getImport(get) }
        #expect(missing?.code == .invalidArgument)
        var campaign = ImportsV1.CreateCampaignRequest()
        campaign.name = "Summer"
        campaign.code = "S"
        _ = try await h.service.createCampaign(campaign)
        let duplicate = await #expect(throws: RPCError.self) { _ = try await h.service.createCampaign(campaign) }
        #expect(duplicate?.code == .alreadyExists)
        let unknown = await #expect(throws: RPCError.self) { _ = try await h.upload("first_name,last_name,email\n") { $0.originCampaignID = "cmp_9" } }
        #expect(unknown?.code == .notFound)
        var rows = ImportsV1.ListImportRowsRequest()
        rows.importID = "imp_1"
        rows.outcome = .unrecognized(42)
        let enumError = await #expect(throws: RPCError.self) { _ = try await h.service.listImportRows(rows) }
        #expect(enumError?.code == .invalidArgument || enumError?.code == .notFound)
        let job = try await h.upload("first_name,last_name,email\nA,B,a@b.co\n")
        _ = try await h.runScheduler(until: job.id)
        var cancel = ImportsV1.CancelImportRequest()
        cancel.importID = job.id
        let terminal = await #expect(throws: RPCError.self) { _ = try await h.service.cancelImport(cancel) }
        #expect(terminal?.code == .failedPrecondition)
        await h.close()
    }

    @Test func watchSendsTheSnapshotThenChangesThenEndsOK() async throws {
        let h = try await ServiceHarness()
        let job = try await h.upload("first_name,last_name,email\nA,B,a@b.co\nC,D,c@d.co\n")
        var request = ImportsV1.WatchImportRequest()
        request.importID = job.id
        let watchRequest = request
        let received = Received()
        let watcher = Task {
            try await h.service.watchImport(watchRequest) { updates in
                var all: [ImportsV1.ImportJob] = []
                for try await update in updates {
                    all.append(update)
                    await received.bump()
                }
                return all
            }
        }
        while await received.count == 0 { try await Task.sleep(for: .milliseconds(2)) }
        _ = try await h.runScheduler(until: job.id)
        let seen = try await watcher.value
        #expect(seen.first?.state == .queued && seen.first?.nextRunAt != nil)
        #expect(seen.last?.state == .completed && seen.last?.created == 2)
        #expect(seen.map(\.processedRows) == seen.map(\.processedRows).sorted())
        // A finished import: the terminal snapshot, then OK.
        let again = try await h.service.watchImport(request) { try await $0.collect() }
        #expect(again.count == 1 && again[0].state == .completed)
        request.importID = "imp_404"
        let notFound = await #expect(throws: RPCError.self) { _ = try await h.service.watchImport(request) { try await $0.collect() } }
        #expect(notFound?.code == .notFound)
        await h.close()
    }
}

actor Received {
    private(set) var count = 0
    func bump() { count += 1 }
}

@Suite struct TokenAuthenticatorTests {
    @Test func whatIsNotListedIsDenied() async throws {
        let h = try await ServiceHarness()
        #expect(TokenAuthenticator.requiredScope("SomethingNew") == nil)
        #expect(TokenAuthenticator.requiredScope("GetImport") == .read)
        let authenticator = TokenAuthenticator(importer: h.importer)
        let unknownService = ServerContext(method: MethodDescriptor(service: "other.Service", method: "Do", kind: .unary),
            metadata: ["authorization": .string("Bearer \(h.admin)")], deadline: nil, peer: "test")
        let denied = await #expect(throws: RPCError.self) { try await authenticator.intercept(context: unknownService) }
        #expect(denied?.code == .permissionDenied)
        let unlisted = ServerContext(method: MethodDescriptor(service: ImportsV1.ImportService.serviceName, method: "DropEverything", kind: .unary),
            metadata: ["authorization": .string("Bearer \(h.admin)")], deadline: nil, peer: "test")
        #expect(await (try? authenticator.intercept(context: unlisted)) == nil)
        let health = ServerContext(method: GrpcHealthV1.Health.Method.check, metadata: [:], deadline: nil, peer: "test")
        try await authenticator.intercept(context: health)
        await h.close()
    }
}
