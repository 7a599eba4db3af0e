import H2Transport
import RPCCore
import Testing

/// The web listener's framing as values: content types, envelopes, Connect's
/// error JSON and HTTP statuses, gRPC-Web's trailer frame, headers to metadata.
@Suite struct WebProtocolTests {
    @Test func contentTypesNameTheProtocol() {
        #expect(WebProtocol(contentType: "application/json; charset=utf-8") == .connectUnary(.json))
        #expect(WebProtocol(contentType: "Application/Proto") == .connectUnary(.proto))
        #expect(WebProtocol(contentType: "application/connect+json") == .connectStreaming(.json))
        #expect(WebProtocol(contentType: "application/grpc-web") == .grpcWeb(text: false))
        #expect(WebProtocol(contentType: "application/grpc-web-text+proto") == .grpcWeb(text: true))
        #expect(WebProtocol(contentType: "application/grpc") == nil)
        #expect(WebProtocol(contentType: "text/plain") == nil)
        #expect(WebProtocol.grpcWeb(text: true).responseContentType == "application/grpc-web-text+proto")
    }

    @Test func envelopesSplitAndRefuseWhatTheyMust() throws {
        let body = WebProtocol.envelope(flags: 0, [1, 2, 3]) + WebProtocol.envelope(flags: 0, [])
        #expect(try WebProtocol.connectStreaming(.proto).requestMessages(body: body, maxMessageSize: 10) == [[1, 2, 3], []])
        // Truncated, compressed, too large.
        #expect(throws: RPCError.self) { try WebProtocol.connectStreaming(.proto).requestMessages(body: Array(body.dropLast(9)), maxMessageSize: 10) }
        let compressed = WebProtocol.envelope(flags: 1, [1])
        let error = #expect(throws: RPCError.self) { try WebProtocol.grpcWeb(text: false).requestMessages(body: compressed, maxMessageSize: 10) }
        #expect(error?.code == .unimplemented)
        let large = #expect(throws: RPCError.self) { try WebProtocol.connectUnary(.json).requestMessages(body: [UInt8](repeating: 0, count: 11), maxMessageSize: 10) }
        #expect(large?.code == .resourceExhausted)
        // grpc-web-text: base64, possibly several padded pieces.
        let text = Array((Base64.encode(WebProtocol.envelope(flags: 0, [9]), padded: true) + Base64.encode(WebProtocol.envelope(flags: 0, [8, 7]), padded: true)).utf8)
        #expect(try WebProtocol.grpcWeb(text: true).requestMessages(body: text, maxMessageSize: 10) == [[9], [8, 7]])
    }

    @Test func connectErrorsHaveNamesStatusesAndDetails() {
        #expect(ConnectError.name(.cancelled) == "canceled")
        #expect(ConnectError.name(.invalidArgument) == "invalid_argument")
        #expect(ConnectError.httpStatus(.unauthenticated) == 401)
        #expect(ConnectError.httpStatus(.resourceExhausted) == 429)
        #expect(ConnectError.httpStatus(.failedPrecondition) == 400)
        #expect(ConnectError.httpStatus(.unimplemented) == 501)
        #expect(ConnectError.httpStatus(.dataLoss) == 500)
        let json = ConnectError.json(Status(code: .notFound, message: "no \"imp_9\" <here>"), details: [(type: "google.rpc.BadRequest", value: [1, 2], json: "{}")])
        #expect(json == #"{"code":"not_found","message":"no \"imp_9\" \u003chere\u003e","details":[{"type":"google.rpc.BadRequest","value":"AQI","debug":{}}]}"#)
        let end = ConnectError.endStream(.ok, details: [], trailers: ["x-request-id": .string("r-1"), "x-a": .string("1"), "x-A": .string("2")])
        #expect(end == #"{"metadata":{"x-request-id":["r-1"],"x-a":["1","2"]}}"#)
    }

    @Test func grpcWebTrailersAreAFrameOfHeaderLines() {
        let frame = GRPCWebTrailers.frame(Status(code: .notFound, message: "100% gone"), trailers: ["x-request-id": .string("r-1")])
        #expect(frame[0] == 0x80)
        #expect(String(decoding: frame.dropFirst(5), as: UTF8.self) == "grpc-status:5\r\ngrpc-message:100%25 gone\r\nx-request-id:r-1\r\n")
    }

    @Test func headersBecomeMetadataAndTimeouts() {
        let fields: [(name: String, value: String)] = [
            ("Authorization", "Bearer t"), ("Content-Type", "application/json"), ("Host", "x"), ("Sec-Fetch-Mode", "cors"),
            ("X-Trace-Bin", "AQI"), ("Connect-Timeout-Ms", "1500"), ("traceparent", "00-abc"),
        ]
        let metadata = WebHeaders.metadata(fields)
        #expect(metadata.first("authorization") == "Bearer t")
        #expect(metadata.firstBinary("x-trace-bin") == [1, 2])
        #expect(metadata.first("traceparent") == "00-abc")
        #expect(metadata.first("host") == nil && metadata.first("sec-fetch-mode") == nil && metadata.first("connect-timeout-ms") == nil)
        #expect(WebHeaders.timeout(fields) == .milliseconds(1500))
        #expect(WebHeaders.timeout([("grpc-timeout", "2S")]) == .seconds(2))
        #expect(WebHeaders.timeout([("connect-timeout-ms", "12345678901")]) == nil)
    }
}
