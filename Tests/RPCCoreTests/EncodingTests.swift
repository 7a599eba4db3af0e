import RPCCore
import Testing

@Suite struct TimeoutTests {
    @Test(arguments: [
        ("1H", Duration.seconds(3600)), ("2M", .seconds(120)), ("3S", .seconds(3)), ("4m", .milliseconds(4)),
        ("5u", .microseconds(5)), ("6n", .nanoseconds(6)), ("99999999S", .seconds(99_999_999)), ("0m", .zero),
    ])
    func parsesEveryUnit(header: String, expected: Duration) {
        #expect(GRPCTimeout.parse(Array(header.utf8)) == expected)
    }

    @Test(arguments: ["", "S", "1", "1x", "-1S", "123456789S", "1.5S", " 1S", "1 S"])
    func rejectsMalformed(header: String) {
        #expect(GRPCTimeout.parse(Array(header.utf8)) == nil)
    }

    @Test func encodesWithinEightDigitsAndNeverShorter() {
        for duration: Duration in [.nanoseconds(1), .milliseconds(1500), .seconds(5), .seconds(200_000_000), .microseconds(123_456_789)] {
            let header = GRPCTimeout.encode(duration)
            #expect(header.count <= 9)
            let parsed = GRPCTimeout.parse(Array(header.utf8))!
            #expect(parsed >= duration)
        }
        #expect(GRPCTimeout.encode(.milliseconds(250)) == "250000000n" || GRPCTimeout.encode(.milliseconds(250)) == "250000u")
    }
}

@Suite struct MetadataEncodingTests {
    @Test func base64RoundTripsEveryLength() {
        for length in 0..<40 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 * 37 + 11) }
            for padded in [true, false] {
                let encoded = Base64.encode(bytes, padded: padded)
                #expect(Base64.decode(Array(encoded.utf8)) == bytes)
            }
        }
    }

    @Test func base64KnownVectorsAndGarbage() {
        #expect(Base64.encode(Array("foobar".utf8), padded: true) == "Zm9vYmFy")
        #expect(Base64.encode(Array("fo".utf8), padded: true) == "Zm8=")
        #expect(Base64.encode(Array("fo".utf8), padded: false) == "Zm8")
        #expect(Base64.decode(Array("Zm8".utf8)) == Array("fo".utf8))
        #expect(Base64.decode(Array("Zm8=".utf8)) == Array("fo".utf8))
        #expect(Base64.decode(Array("Zm!8".utf8)) == nil)
        #expect(Base64.decode(Array("Z=m8".utf8)) == nil)
    }

    @Test func binaryHeadersGoOutUnpaddedAndComeBack() {
        var metadata = Metadata()
        metadata.add("X-Trace-Bin", binary: [0, 1, 2, 255])
        metadata.add("x-name", "value")
        metadata.add("content-type", "application/grpc")  // reserved: never sent as metadata
        let wire = metadata.wireHeaders()
        #expect(wire.map(\.name) == ["x-trace-bin", "x-name"])
        #expect(wire[0].value == "AAEC/w")
        var received = Metadata()
        for header in wire {
            let added = received.addWire(name: header.name, value: Array(header.value.utf8))
            #expect(added)
        }
        #expect(received.firstBinary("x-trace-bin") == [0, 1, 2, 255])
        #expect(received.first("x-name") == "value")
        let addedBad = received.addWire(name: "x-bad-bin", value: Array("***".utf8))
        #expect(!addedBad)
    }

    @Test func repeatedKeysKeepTheirOrder() {
        var metadata: Metadata = ["a": .string("1")]
        metadata.add("A", "2")
        metadata.add("b", "3")
        #expect(metadata["a"] == [.string("1"), .string("2")])
        metadata.replace("a", with: "4")
        #expect(metadata["a"] == [.string("4")])
    }

    @Test func grpcMessagePercentEncoding() {
        let message = "bad value: 100% ünïcødé\n日本"
        let encoded = PercentEncoding.encode(message)
        #expect(encoded.utf8.allSatisfy { $0 >= 0x20 && $0 <= 0x7E })
        #expect(encoded.hasPrefix("bad value: 100%25 %C3%BC"))
        #expect(PercentEncoding.decode(Array(encoded.utf8)) == message)
        // Lenient: a stray % stays.
        #expect(PercentEncoding.decode(Array("50%".utf8)) == "50%")
        #expect(PercentEncoding.decode(Array("%zz".utf8)) == "%zz")
    }

    @Test func statusCodeNames() {
        #expect(Status.Code.notFound.name == "NOT_FOUND")
        #expect(Status.Code(name: "FAILED_PRECONDITION") == .failedPrecondition)
        #expect(Status.Code(rawValue: 42).name == "CODE_42")
        #expect(RPCError(from: CancellationError()).code == .cancelled)
        struct Secret: Error {}
        let hidden = RPCError(from: Secret())
        #expect(hidden.code == .internal && hidden.message == "internal error")
    }
}
