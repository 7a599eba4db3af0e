import ProtoMessages
import RPCCore
import Testing

/// proto3's JSON mapping, as the Connect protocol's JSON codec uses it.
@Suite struct ProtoJSONTests {
    let codec = ProtoJSONCodec()
    let service = "/softrip.marketing.imports.v1.ImportService/"

    func json(_ text: String) throws -> JSONValue { try JSONValue.parse(Array(text.utf8)) }

    @Test func responsesPrintWithCamelCaseNamesEnumNamesAndInt64Strings() throws {
        var job = ImportsV1.ImportJob()
        job.id = "imp_1"
        job.state = .running
        job.fileName = "a \"b\".csv"
        job.subscriptionIDs = ["sub_1", "sub_2"]
        job.totalRows = 18_446_744_073_709_551_615
        job.processedRows = 0
        var at = GoogleProtobuf.Timestamp()
        at.seconds = 1_767_607_200
        at.nanos = 500_000_000
        job.createdAt = at
        let text = String(decoding: try codec.response(path: service + "GetImport", toJSON: job.serializedBytes()), as: UTF8.self)
        #expect(try json(text) == json("""
            {"id":"imp_1","state":"IMPORT_STATE_RUNNING","fileName":"a \\"b\\".csv","subscriptionIds":["sub_1","sub_2"],
             "totalRows":"18446744073709551615","createdAt":"2026-01-05T10:00:00.500Z"}
            """))
    }

    @Test func requestsReadEitherNameFormNumbersOrStringsAndMaps() throws {
        let bytes = try codec.request(path: service + "UploadContacts", fromJSON: Array("""
            {"options": {"file_name": "x.csv", "kind": "CONTACT_KIND_LEAD", "subscriptionIds": ["s1"],
             "columnMap": {"E-mail": "email"}, "onDuplicate": 2, "validateOnly": true, "unknownField": [1, 2]}}
            """.utf8))
        let request = try ImportsV1.UploadContactsRequest(serializedBytes: bytes)
        var expected = ImportsV1.UploadOptions()
        expected.fileName = "x.csv"
        expected.kind = .lead
        expected.subscriptionIDs = ["s1"]
        expected.columnMap = ["E-mail": "email"]
        expected.onDuplicate = .skip
        expected.validateOnly = true
        #expect(request.item == .options(expected))

        let page = try ImportsV1.ListImportsRequest(serializedBytes: codec.request(
            path: service + "ListImports", fromJSON: Array(#"{"pageSize": "25", "states": ["IMPORT_STATE_QUEUED", 3]}"#.utf8)))
        #expect(page.pageSize == 25)
        #expect(page.states == [.queued, .paused])
        // An empty body is the empty message.
        #expect(try codec.request(path: service + "ListImports", fromJSON: []) == [])
    }

    @Test func bytesAreBase64AndOneofMembersPrintEvenWhenEmpty() throws {
        var chunk = ImportsV1.UploadContactsRequest()
        chunk.item = .chunk(Array("email\n".utf8))
        let printed = try codec.json(path: service + "UploadContacts", payload: chunk.serializedBytes(), input: true)
        #expect(printed == .object([.init("chunk", .string("ZW1haWwK"))]))
        let back = try codec.request(path: service + "UploadContacts", fromJSON: Array(printed.text.utf8))
        #expect(try ImportsV1.UploadContactsRequest(serializedBytes: back) == chunk)
        // URL-safe base64 is accepted too.
        let urlSafe = try codec.request(path: service + "UploadContacts", fromJSON: Array(#"{"chunk": "-_8"}"#.utf8))
        #expect(try ImportsV1.UploadContactsRequest(serializedBytes: urlSafe).item == .chunk([0xFB, 0xFF]))
    }

    @Test func timestampsRoundTripWithOffsets() throws {
        #expect(ProtoJSONCodec.parseTimestamp("1970-01-01T00:00:00Z")! == (0, 0))
        #expect(ProtoJSONCodec.parseTimestamp("2026-01-05T12:00:00.25+02:00")! == (1_767_607_200, 250_000_000))
        #expect(ProtoJSONCodec.parseTimestamp("1969-12-31T23:59:59Z")! == (-1, 0))
        #expect(ProtoJSONCodec.parseTimestamp("2026-13-05T12:00:00Z") == nil)
        #expect(ProtoJSONCodec.parseTimestamp("2026-01-05 12:00:00") == nil)
    }

    @Test func badRequestsAreInvalidArgumentWithTheReason() throws {
        for (body, reason) in [
            (#"{"pageSize": "many"}"#, "pageSize must be an integer"),
            (#"{"pageSize": 3000000000}"#, "out of range"),
            (#"{"states": ["NOPE"]}"#, "NOPE is not a value"),
            (#"{"pageSize": 1"#, "not JSON"),
            (#"[1]"#, "must be a JSON object"),
            (String(repeating: "[", count: 100), "nested deeper"),
        ] {
            let error = #expect(throws: RPCError.self) { try codec.request(path: service + "ListImports", fromJSON: Array(body.utf8)) }
            #expect(error?.code == .invalidArgument, "\(body)")
            #expect(error?.message.contains(reason) == true, "\(body): \(error?.message ?? "")")
        }
        #expect(throws: RPCError.self) { try codec.request(path: "/nope.Service/Method", fromJSON: []) }
    }

    @Test func jsonParserKeepsIntegersExactAndDecodesEscapes() throws {
        #expect(try json(#"[9223372036854775807, 18446744073709551615, 1.5, -0, "\u00e9\ud83d\ude00\n"]"#)
            == .array([.int(Int64.max), .uint(UInt64.max), .double(1.5), .int(0), .string("é😀\n")]))
        for bad in [#"{"a" 1}"#, "01", #""\ud800""#, "tru", "[1,]", "\"\u{01}\""] {
            #expect(throws: JSONParseError.self) { try JSONValue.parse(Array(bad.utf8)) }
        }
    }

    @Test func errorDetailsCarryTheirTypeAndJSON() throws {
        var violation = GoogleRPC.BadRequest.FieldViolation()
        violation.field = "header"
        violation.description = "missing column email"
        var badRequest = GoogleRPC.BadRequest()
        badRequest.fieldViolations = [violation]
        var any = GoogleProtobuf.AnyMessage()
        any.typeURL = "type.googleapis.com/google.rpc.BadRequest"
        any.value = badRequest.serializedBytes()
        var status = GoogleRPC.Status()
        status.code = 3
        status.details = [any]
        let details = codec.errorDetails(statusDetails: status.serializedBytes())
        #expect(details.count == 1)
        #expect(details.first?.type == "google.rpc.BadRequest")
        #expect(details.first?.value == badRequest.serializedBytes())
        #expect(try details.first?.json.map { try json($0) } == json(#"{"fieldViolations":[{"field":"header","description":"missing column email"}]}"#))
    }
}
