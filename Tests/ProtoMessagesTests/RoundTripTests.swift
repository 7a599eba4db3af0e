import ProtoMessages
import RPCCore
import Testing

@Suite struct ProtoMessagesRoundTripTests {
    @Test func everyFieldKindSurvivesPackAndUnpack() throws {
        var options = ImportsV1.UploadOptions()
        options.fileName = "contacts ü.csv"
        options.kind = .lead
        options.originCampaignID = "cmp_1"
        options.subscriptionIDs = ["sub_1", "sub_2"]
        options.onDuplicate = .skip
        options.columnMap = ["E-mail": "email", "Junk": ""]
        options.ignoreUnknownColumns = true
        options.validateOnly = true
        options.sha256 = "ab"
        var request = ImportsV1.UploadContactsRequest()
        request.item = .options(options)
        let decoded = try ImportsV1.UploadContactsRequest(serializedBytes: request.serializedBytes())
        #expect(decoded == request)

        var chunk = ImportsV1.UploadContactsRequest()
        chunk.item = .chunk(Array(0...255))
        #expect(try ImportsV1.UploadContactsRequest(serializedBytes: chunk.serializedBytes()) == chunk)
    }

    @Test func nestedAndRepeatedMessages() throws {
        var job = ImportsV1.ImportJob()
        job.id = "imp_1"
        job.state = .running
        job.totalRows = 1 << 40
        var stamp = GoogleProtobuf.Timestamp()
        stamp.seconds = 1_700_000_000
        stamp.nanos = 5
        job.createdAt = stamp
        var list = ImportsV1.ListImportsResponse()
        list.imports = [job, ImportsV1.ImportJob()]
        list.nextPageToken = "t"
        #expect(try ImportsV1.ListImportsResponse(serializedBytes: list.serializedBytes()) == list)

        var summary = ImportsV1.SummarizeImportResponse()
        var group = ImportsV1.SummarizeImportResponse.Group()
        group.key = "FAILED"
        group.count = 3
        summary.groups = [group]
        #expect(try ImportsV1.SummarizeImportResponse(serializedBytes: summary.serializedBytes()) == summary)
    }

    @Test func defaultMessageIsEmptyOnTheWire() throws {
        #expect(ImportsV1.ImportJob().serializedBytes().isEmpty)
        #expect(try ImportsV1.ImportJob(serializedBytes: []) == ImportsV1.ImportJob())
    }

    @Test func unknownEnumValuesAreKept() throws {
        // state = 42: field 2, varint.
        let job = try ImportsV1.ImportJob(serializedBytes: [0x10, 42])
        #expect(job.state == .unrecognized(42))
        #expect(job.state.rawValue == 42)
        #expect(ImportsV1.ImportState.queued.protoName == "IMPORT_STATE_QUEUED")
    }

    @Test func garbageFailsToDecode() {
        #expect(throws: MessageDecodingError.self) {
            try ImportsV1.ImportJob(serializedBytes: [0x0A, 0x05, 0x61])
        }
    }

    @Test func methodDescriptorsMatchTheContract() {
        #expect(ImportsV1.ImportService.Method.uploadContacts.path == "/softrip.marketing.imports.v1.ImportService/UploadContacts")
        #expect(ImportsV1.ImportService.Method.uploadContacts.kind == .clientStreaming)
        #expect(ImportsV1.ImportService.Method.watchImport.kind == .serverStreaming)
        #expect(ImportsV1.ImportService.Method.all.count == 18)
        #expect(GrpcHealthV1.Health.Method.watch.path == "/grpc.health.v1.Health/Watch")
    }
}
