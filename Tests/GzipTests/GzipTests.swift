import Gzip
import Testing

@Suite struct GzipTests {
    @Test func roundTrips() throws {
        let text = Array(String(repeating: "email,first_name,last_name\nana@example.com,Ana,Silva\n", count: 2000).utf8)
        let compressed = Gzip.compress(text)
        #expect(compressed.count < text.count / 10)
        #expect(compressed.prefix(2) == [0x1F, 0x8B], "a gzip header, not zlib's")
        #expect(try Gzip.decompress(compressed, limit: text.count) == text)
    }

    @Test func emptyAndIncompressibleInputsRoundTrip() throws {
        #expect(try Gzip.decompress(Gzip.compress([]), limit: 0) == [])
        var state: UInt64 = 42
        let noise = (0..<100_000).map { _ -> UInt8 in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
        #expect(try Gzip.decompress(Gzip.compress(noise), limit: noise.count) == noise)
    }

    @Test func aZipBombStopsAtTheLimit() {
        // 64 MiB of zeros is about 64 KiB compressed; with a 4 MiB limit inflation stops there.
        let bomb = Gzip.compress([UInt8](repeating: 0, count: 64 << 20))
        #expect(bomb.count < 100_000)
        #expect(throws: GzipError.tooLarge(limit: 4 << 20)) { try Gzip.decompress(bomb, limit: 4 << 20) }
    }

    @Test func exactlyTheLimitIsAllowed() throws {
        let bytes = [UInt8](repeating: 7, count: 1000)
        #expect(try Gzip.decompress(Gzip.compress(bytes), limit: 1000).count == 1000)
        #expect(throws: GzipError.tooLarge(limit: 999)) { try Gzip.decompress(Gzip.compress(bytes), limit: 999) }
    }

    @Test func corruptAndTruncatedDataAreRefused() {
        let good = Gzip.compress(Array("hello, hello, hello".utf8))
        #expect(throws: GzipError.self) { try Gzip.decompress(Array("not gzip at all".utf8), limit: 1000) }
        #expect(throws: GzipError.self) { try Gzip.decompress(Array(good.dropLast(4)), limit: 1000) }
        #expect(throws: GzipError.self) { try Gzip.decompress([], limit: 1000) }
        var flipped = good
        flipped[good.count - 6] ^= 0xFF  // the CRC no longer matches
        #expect(throws: GzipError.self) { try Gzip.decompress(flipped, limit: 1000) }
    }
}
