import ImportEngine
import Testing

@Suite struct UploadTranscoderTests {
    /// Feeds `bytes` in chunks of `size`; returns the UTF-8 and the encoding used.
    func convert(_ bytes: [UInt8], chunk size: Int, declared: TextEncoding? = nil) -> (String, TextEncoding) {
        var transcoder = UploadTranscoder(declared: declared)
        var out: [UInt8] = []
        var offset = 0
        while offset < bytes.count {
            transcoder.convert(Array(bytes[offset..<min(offset + size, bytes.count)]), into: &out)
            offset += size
        }
        transcoder.finish(into: &out)
        return (String(decoding: out, as: UTF8.self), transcoder.used)
    }

    @Test(arguments: 1...6)
    func utf8SplitAnywhereStaysUTF8(size: Int) {
        let text = "a,b\nÅsa,Ødegaard 😀,x\n"
        #expect(convert(Array(text.utf8), chunk: size) == (text, .utf8))
    }

    @Test(arguments: 1...4)
    func windows1252IsDetectedWhereverTheFirstHighByteFalls(size: Int) {
        let bytes: [UInt8] = Array("name\nM".utf8) + [0xFC, 0xDF] + Array("ig \u{80}".utf8).dropLast(0)
        let (text, used) = convert(bytes, chunk: size)
        #expect(used == .windows1252)
        #expect(text.hasPrefix("name\nMüß"))
    }

    @Test func aSequenceCutOffByTheEndOfTheFileIsNotUTF8() {
        let (text, used) = convert(Array("x\n".utf8) + [0xC3], chunk: 100)
        #expect(used == .windows1252 && text == "x\nÃ")
    }

    @Test func asciiOnlyIsUTF8AndUntouched() {
        #expect(convert(Array("a,b\n1,2\n".utf8), chunk: 3) == ("a,b\n1,2\n", .utf8))
    }

    @Test func strictValidation() {
        #expect(UTF8Check.scan([0xC0, 0x80][...]) == .invalid)          // overlong
        #expect(UTF8Check.scan([0xED, 0xA0, 0x80][...]) == .invalid)    // surrogate
        #expect(UTF8Check.scan([0xF4, 0x90, 0x80, 0x80][...]) == .invalid)  // past U+10FFFF
        #expect(UTF8Check.scan([0x41, 0xE2, 0x82][...]) == .incomplete(at: 1))
        #expect(UTF8Check.scan(Array("€".utf8)[...]) == .valid)
    }
}
