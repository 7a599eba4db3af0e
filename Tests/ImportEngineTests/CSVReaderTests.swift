import ImportEngine
import Testing

@Suite struct CSVReaderTests {
    /// Every record as fields, read with the given chunk size (1 byte exercises
    /// every refill boundary).
    private func records(_ text: String, delimiter: Character = ",", chunk: Int = 1 << 20) throws -> [[String]] {
        var reader = CSVReader(source: MemorySource(text), delimiter: delimiter.asciiValue!, chunkSize: chunk)
        var all: [[String]] = []
        while try reader.next() { all.append(reader.fields) }
        return all
    }

    private func allChunkSizes(_ text: String, delimiter: Character = ",", expected: [[String]]) throws {
        for chunk in [1, 2, 3, 7, 64, 1 << 20] {
            #expect(try records(text, delimiter: delimiter, chunk: chunk) == expected, "chunk size \(chunk)")
        }
    }

    @Test func plainRecordsWithLFAndCRLFAndCR() throws {
        try allChunkSizes("a,b,c\n1,2,3\r\n4,5,6\r7,8,9", expected: [["a", "b", "c"], ["1", "2", "3"], ["4", "5", "6"], ["7", "8", "9"]])
    }

    @Test func quotedFieldsWithDelimitersNewlinesAndDoubledQuotes() throws {
        let text = "name,notes\n\"Smith, John\",\"line one\nline two\"\n\"O\"\"Brien\",\"say \"\"hi\"\"\"\n\"\",x\n"
        try allChunkSizes(text, expected: [
            ["name", "notes"], ["Smith, John", "line one\nline two"], ["O\"Brien", "say \"hi\""], ["", "x"],
        ])
    }

    @Test func emptyFieldsAndTrailingDelimiter() throws {
        try allChunkSizes("a,,c,\n,,,\n", expected: [["a", "", "c", ""], ["", "", "", ""]])
    }

    @Test func bomIsSkippedAndBlankLinesAreRecords() throws {
        var reader = CSVReader(source: MemorySource("\u{FEFF}email\n\nx@y.z\n"), delimiter: UInt8(ascii: ","), chunkSize: 1)
        #expect(try reader.next())
        #expect(reader.fields == ["email"])
        #expect(reader.recordOffset == 3)
        #expect(try reader.next())
        #expect(reader.isBlankLine)
        #expect(try reader.next())
        #expect(reader.fields == ["x@y.z"])
        #expect(try !reader.next())
    }

    @Test func semicolonAndTabDelimiters() throws {
        try allChunkSizes("a;b\n\"1;2\";3\n", delimiter: ";", expected: [["a", "b"], ["1;2", "3"]])
        try allChunkSizes("a\tb\n1\t2\n", delimiter: "\t", expected: [["a", "b"], ["1", "2"]])
    }

    @Test func quoteInsideUnquotedFieldIsLiteral() throws {
        try allChunkSizes("a,b\nab\"c,d\n", expected: [["a", "b"], ["ab\"c", "d"]])
    }

    @Test func textAfterClosingQuoteIsFlagged() throws {
        var reader = CSVReader(source: MemorySource("\"abc\"def,x\nnext,row\n"), delimiter: UInt8(ascii: ","))
        #expect(try reader.next())
        #expect(reader.problem == .textAfterClosingQuote)
        #expect(try reader.next())
        #expect(reader.problem == nil)
        #expect(reader.fields == ["next", "row"])
    }

    @Test func unterminatedQuoteCostsOneLineNotTheFile() throws {
        for chunk in [1, 5, 1 << 20] {
            let text = "a,b\n1,\"broken\n2,ok\n3,ok\n"
            var reader = CSVReader(source: MemorySource(text), delimiter: UInt8(ascii: ","), chunkSize: chunk)
            var seen: [([String], CSVRecordProblem?)] = []
            while try reader.next() { seen.append((reader.fields, reader.problem)) }
            #expect(seen.count == 4)
            #expect(seen[1].1 == .unterminatedQuote)
            #expect(seen[2].0 == ["2", "ok"] && seen[2].1 == nil)
            #expect(seen[3].0 == ["3", "ok"])
        }
    }

    @Test func overlongQuotedFieldIsCutAtItsLine() throws {
        let long = String(repeating: "x\n", count: 100)
        let text = "a\n\"\(long)\nz\n"
        var reader = CSVReader(source: MemorySource(text), delimiter: UInt8(ascii: ","), maxQuotedFieldBytes: 50)
        var problems = 0
        var last: [String] = []
        while try reader.next() {
            if reader.problem != nil { problems += 1 }
            last = reader.fields
        }
        #expect(problems == 1)
        #expect(last == ["z"])
    }

    @Test func offsetsRestartReadingAtARecord() throws {
        let text = "h1,h2\n\"multi\nline\",1\nplain,2\n"
        var reader = CSVReader(source: MemorySource(text), delimiter: UInt8(ascii: ","))
        var offsets: [Int64] = []
        while try reader.next() { offsets.append(reader.recordOffset) }
        #expect(offsets == [0, 6, 21])
        var again = CSVReader(source: MemorySource(Array(text.utf8), from: 21), delimiter: UInt8(ascii: ","), offset: 21)
        #expect(try again.next())
        #expect(again.fields == ["plain", "2"])
        #expect(again.recordOffset == 21)
        #expect(again.nextOffset == Int64(text.utf8.count))
    }

    @Test func delimiterDetection() {
        func detect(_ s: String) -> Character { Character(UnicodeScalar(DelimiterDetector.detect(headerBytes: ArraySlice(s.utf8)))) }
        #expect(detect("a,b,c\n1;2;3;4;5") == ",")
        #expect(detect("a;b;c\n") == ";")
        #expect(detect("a\tb\tc") == "\t")
        #expect(detect("\"x;y;z\",b") == ",")
        #expect(detect("single") == ",")
    }

    @Test func windows1252AndLatin1BecomeUTF8() {
        var out: [UInt8] = []
        TextEncoding.windows1252.appendUTF8([0x4D, 0xFC, 0x6C, 0x6C, 0x65, 0x72, 0x80, 0x93], to: &out)
        #expect(String(decoding: out, as: UTF8.self) == "Müller€“")
        out = []
        TextEncoding.iso88591.appendUTF8([0xE9, 0x80], to: &out)
        #expect(String(decoding: out, as: UTF8.self) == "é\u{80}")
        #expect(TextEncoding(name: "Windows-1252") == .windows1252)
        #expect(TextEncoding(name: "latin1") == .iso88591)
        #expect(TextEncoding(name: "") == .utf8)
        #expect(TextEncoding(name: "ebcdic") == nil)
    }
}
