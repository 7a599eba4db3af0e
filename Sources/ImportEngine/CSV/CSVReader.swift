/// Why a record could not be read as RFC 4180 CSV. The record is still returned
/// (as a malformed row); reading goes on with the next one.
public enum CSVRecordProblem: Sendable, Hashable {
    /// A quoted field had no closing quote before the end of the file, or ran
    /// longer than any real field; reading resumed at the next line.
    case unterminatedQuote
    /// Text followed a closing quote before the delimiter (`"abc"def`).
    case textAfterClosingQuote
    /// The record ran past the reader's limit before its line ended; reading
    /// resumed at the next line, and only the record's first bytes were kept.
    case recordTooLong(limit: Int)

    public var message: String {
        switch self {
        case .unterminatedQuote: return "a quoted field is never closed"
        case .textAfterClosingQuote: return "text follows a closing quote before the next delimiter"
        case .recordTooLong(let limit): return "the row is longer than \(limit >> 10) KiB; it was not read"
        }
    }
}

/// A streaming RFC 4180 reader over bytes: quoted fields, doubled quotes,
/// delimiters and newlines inside quotes, CRLF, LF or CR line ends, a UTF-8 BOM
/// at the start. It never holds more than one chunk plus one record in memory.
///
/// Each record carries its byte offset, so reading can restart at a record
/// (checkpoints) and a single record can be read again later (row values).
/// Field bytes are views into the reader's buffer, valid until the next `next()`.
public struct CSVReader<Source: ByteSource> {
    public let delimiter: UInt8
    /// Longest a quoted field may grow before it counts as unterminated.
    public let maxQuotedFieldBytes: Int
    /// Longest a record may be: memory stays bounded whatever the file holds.
    public let maxRecordBytes: Int
    /// Bytes of an over-long record kept as its one field.
    static var keptOfLongRecord: Int { 256 }
    private var source: Source
    private var buffer: [UInt8] = []
    /// Where the current record starts in `buffer`, and the file offset of `buffer[0]`.
    private var position = 0
    private var bufferOffset: Int64
    private var sourceEnded = false
    private var bomChecked = false
    private let chunkSize: Int

    /// The current record: its file offset, fields (ranges into `buffer`), and
    /// whether each field had doubled quotes to undo.
    public private(set) var recordOffset: Int64 = 0
    public private(set) var recordLength = 0
    /// One array of fields, not three: a field is one append.
    private struct Field {
        var start: Int
        var end: Int
        var escaped: Bool
    }
    private var fieldRanges: [Field] = []
    public private(set) var problem: CSVRecordProblem?

    private static var quote: UInt8 { UInt8(ascii: "\"") }
    private static var cr: UInt8 { 13 }
    private static var lf: UInt8 { 10 }

    /// Reads `source` from `offset` (0, or a record offset from an earlier read).
    public init(source: Source, delimiter: UInt8, offset: Int64 = 0, chunkSize: Int = 1 << 20, maxQuotedFieldBytes: Int = 64 << 10,
                maxRecordBytes: Int = 1 << 20) {
        self.source = source
        self.delimiter = delimiter
        self.bufferOffset = offset
        self.chunkSize = chunkSize
        self.maxQuotedFieldBytes = maxQuotedFieldBytes
        self.maxRecordBytes = max(maxRecordBytes, maxQuotedFieldBytes + 2)
    }

    public var fieldCount: Int { fieldRanges.count }

    /// The raw bytes of field `i` (doubled quotes not yet undone; see `isEscaped`).
    public func rawField(_ i: Int) -> ArraySlice<UInt8> { buffer[fieldRanges[i].start..<fieldRanges[i].end] }

    /// Appends the record's bytes from its first field's start to its last
    /// field's end (as read: delimiters and quotes included, no line end) to
    /// `out` in one copy; returns what to add to `rawRange(i)` to find field
    /// `i` in `out`.
    public func appendRawFields(to out: inout [UInt8]) -> Int {
        guard let first = fieldRanges.first, let last = fieldRanges.last else { return 0 }
        let shift = out.count - first.start
        out.append(contentsOf: buffer[first.start..<last.end])
        return shift
    }

    /// Where field `i`'s raw bytes are in the reader's buffer (`appendRawFields`).
    public func rawRange(_ i: Int) -> Range<Int> { fieldRanges[i].start..<fieldRanges[i].end }

    /// Whether field `i` contains doubled quotes (`""`) that stand for one quote.
    public func isEscaped(_ i: Int) -> Bool { fieldRanges[i].escaped }

    /// Appends field `i`'s value (doubled quotes undone) to `out`.
    public func appendField(_ i: Int, to out: inout [UInt8]) {
        let field = fieldRanges[i]
        if !field.escaped {
            out.append(contentsOf: buffer[field.start..<field.end])
            return
        }
        var j = field.start
        let end = field.end
        while j < end {
            let byte = buffer[j]
            out.append(byte)
            j += byte == Self.quote ? 2 : 1
        }
    }

    /// The value of field `i` as a string (tests, headers).
    public func field(_ i: Int) -> String {
        var bytes: [UInt8] = []
        appendField(i, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Every field of the current record as strings.
    public var fields: [String] { (0..<fieldCount).map(field) }

    /// True when the record is a blank line (one empty, unquoted field).
    public var isBlankLine: Bool {
        fieldRanges.count == 1 && fieldRanges[0].start == fieldRanges[0].end && !fieldRanges[0].escaped && problem == nil
    }

    /// The file offset just past the current record.
    public var nextOffset: Int64 { recordOffset + Int64(recordLength) }

    /// Moves to the next record; false at the end of the input.
    public mutating func next() throws -> Bool {
        while true {
            if position >= buffer.count {
                if sourceEnded { return false }
                try refill()
                continue
            }
            if !bomChecked {
                if buffer.count < 3 && !sourceEnded && bufferOffset == 0 {
                    try refill()
                    continue
                }
                bomChecked = true
                if bufferOffset == 0 && buffer.count >= 3 && buffer[0] == 0xEF && buffer[1] == 0xBB && buffer[2] == 0xBF {
                    position = 3  // the UTF-8 BOM is not part of the first field
                }
            }
            switch parseRecord() {
            case .complete(let end):
                recordOffset = bufferOffset + Int64(position)
                recordLength = end - position
                position = end
                return true
            case .needMore:
                if sourceEnded {
                    // Cannot happen: at the end of input every record completes.
                    preconditionFailure("CSV record incomplete at end of input")
                }
                if buffer.count - position > maxRecordBytes {
                    try skipLongRecord()
                    return true
                }
                try refill()
            }
        }
    }

    private enum ParseResult {
        case complete(end: Int)
        case needMore
    }

    /// Keeps the unread part of the buffer and appends a chunk.
    private mutating func refill() throws {
        if position > 0 {
            buffer.removeFirst(position)
            bufferOffset += Int64(position)
            position = 0
        }
        let count = try source.read(into: &buffer, maxCount: max(chunkSize, buffer.count))
        if count == 0 { sourceEnded = true }
    }

    /// Parses the record at `position`; fields go to `fieldRanges`.
    private mutating func parseRecord() -> ParseResult {
        fieldRanges.removeAll(keepingCapacity: true)
        problem = nil
        let end = buffer.count
        let delimiter = self.delimiter
        var i = position
        while true {
            // One field.
            if i < end && buffer[i] == Self.quote {
                let open = i
                i += 1
                let contentStart = i
                var hasDoubled = false
                var closed = false
                while i < end {
                    let byte = buffer[i]
                    if byte == Self.quote {
                        if i + 1 < end && buffer[i + 1] == Self.quote {
                            hasDoubled = true
                            i += 2
                            continue
                        }
                        if i + 1 == end && !sourceEnded {
                            return .needMore  // a doubled quote may straddle the chunk
                        }
                        closed = true
                        break
                    }
                    i += 1
                    if i - contentStart > maxQuotedFieldBytes { break }
                }
                if !closed {
                    if i >= end && !sourceEnded && i - contentStart <= maxQuotedFieldBytes { return .needMore }
                    // Unterminated: the record ends at the first line end after the
                    // opening quote; reading resumes on the next line.
                    return resync(from: open, problem: .unterminatedQuote)
                }
                fieldRanges.append(Field(start: contentStart, end: i, escaped: hasDoubled))
                i += 1  // past the closing quote
                if i < end {
                    let byte = buffer[i]
                    if byte != delimiter && byte != Self.cr && byte != Self.lf {
                        // Take the rest of the field as it is and flag the record.
                        problem = .textAfterClosingQuote
                        while i < end && buffer[i] != delimiter && buffer[i] != Self.cr && buffer[i] != Self.lf { i += 1 }
                        if i == end && !sourceEnded { return .needMore }
                    }
                }
            } else {
                let start = i
                while i < end {
                    let byte = buffer[i]
                    if byte == delimiter || byte == Self.cr || byte == Self.lf { break }
                    i += 1
                }
                if i == end && !sourceEnded { return .needMore }
                fieldRanges.append(Field(start: start, end: i, escaped: false))
            }
            // What ends the field.
            if i >= end {
                if !sourceEnded { return .needMore }
                return .complete(end: i)  // end of input
            }
            let byte = buffer[i]
            if byte == delimiter {
                i += 1
                continue
            }
            if byte == Self.cr {
                if i + 1 == end && !sourceEnded { return .needMore }
                i += (i + 1 < end && buffer[i + 1] == Self.lf) ? 2 : 1
                return .complete(end: i)
            }
            // LF
            return .complete(end: i + 1)
        }
    }

    /// The record at `position` is longer than `maxRecordBytes`: reads on, a
    /// chunk at a time and without keeping it, to the first line end, and makes
    /// it a malformed record whose one field is its first bytes.
    private mutating func skipLongRecord() throws {
        let start = bufferOffset + Int64(position)
        let head = Array(buffer[position..<min(buffer.count, position + Self.keptOfLongRecord)])
        var i = position + maxRecordBytes
        while true {
            while i < buffer.count && buffer[i] != Self.lf && buffer[i] != Self.cr { i += 1 }
            if i < buffer.count || sourceEnded { break }
            // Drop what was scanned; keep reading.
            bufferOffset += Int64(buffer.count)
            buffer.removeAll(keepingCapacity: true)
            position = 0
            i = 0
            let count = try source.read(into: &buffer, maxCount: chunkSize)
            if count == 0 { sourceEnded = true }
        }
        if i < buffer.count {
            if buffer[i] == Self.cr && i + 1 == buffer.count && !sourceEnded {
                // CRLF may straddle the chunk: keep the CR and look again.
                bufferOffset += Int64(i)
                buffer.removeFirst(i)
                i = 0
                let count = try source.read(into: &buffer, maxCount: chunkSize)
                if count == 0 { sourceEnded = true }
            }
            i += (buffer[i] == Self.cr && i + 1 < buffer.count && buffer[i + 1] == Self.lf) ? 2 : 1
        }
        let end = bufferOffset + Int64(i)
        // The buffer becomes the kept head, then what follows the record.
        buffer = head + buffer[i...]
        bufferOffset = end - Int64(head.count)
        position = head.count
        recordOffset = start
        recordLength = Int(end - start)
        fieldRanges = [Field(start: 0, end: head.count, escaped: false)]
        problem = .recordTooLong(limit: maxRecordBytes)
    }

    /// Ends a malformed record at the first line end after `from` and keeps its
    /// text as one field.
    private mutating func resync(from: Int, problem: CSVRecordProblem) -> ParseResult {
        var i = from
        let end = buffer.count
        while i < end && buffer[i] != Self.lf && buffer[i] != Self.cr { i += 1 }
        if i == end && !sourceEnded { return .needMore }
        fieldRanges.removeAll(keepingCapacity: true)
        fieldRanges.append(Field(start: position, end: i, escaped: false))
        self.problem = problem
        if i < end {
            i += (buffer[i] == Self.cr && i + 1 < end && buffer[i + 1] == Self.lf) ? 2 : 1
        }
        return .complete(end: i)
    }
}

/// Picks the delimiter of a CSV file from its header line: comma, semicolon or
/// tab, whichever occurs most outside quotes (comma on a tie or when none does).
public enum DelimiterDetector {
    public static let candidates: [UInt8] = [UInt8(ascii: ","), UInt8(ascii: ";"), 9]

    public static func detect(headerBytes: ArraySlice<UInt8>) -> UInt8 {
        var counts = [0, 0, 0]
        var inQuotes = false
        for byte in headerBytes {
            if byte == UInt8(ascii: "\"") {
                inQuotes.toggle()
            } else if !inQuotes {
                if byte == 10 || byte == 13 { break }
                if let index = candidates.firstIndex(of: byte) { counts[index] += 1 }
            }
        }
        let best = counts.indices.max { counts[$0] < counts[$1] || (counts[$0] == counts[$1] && $0 > $1) }!
        return counts[best] == 0 ? candidates[0] : candidates[best]
    }
}
