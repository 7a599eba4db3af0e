import ImportEngine

/// libFuzzer target: the CSV reader, the encoding detection and the row
/// preparation, on any bytes. The first byte picks the chunk size and the
/// record limit, so chunk boundaries and long records are explored too.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCSV(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let first = bytes.first else { return 0 }
    let input = Array(bytes.dropFirst())
    let chunk = 1 + Int(first & 0x0F)
    var transcoder = UploadTranscoder(declared: first & 0x10 != 0 ? .windows1252 : nil)
    var utf8: [UInt8] = []
    var offset = 0
    while offset < input.count {
        transcoder.convert(Array(input[offset..<min(offset + chunk, input.count)]), into: &utf8)
        offset += chunk
    }
    transcoder.finish(into: &utf8)
    let delimiter = DelimiterDetector.detect(headerBytes: utf8[...])
    var reader = CSVReader(source: MemorySource(utf8), delimiter: delimiter, chunkSize: chunk,
                           maxQuotedFieldBytes: 64, maxRecordBytes: first & 0x20 != 0 ? 128 : 1 << 20)
    var header: [String]?
    var batch = RowBatch()
    var preparer: RowPreparer?
    var row = 0
    while (try? reader.next()) == true {
        precondition(reader.nextOffset <= Int64(utf8.count) + 3)
        if header == nil {
            header = reader.fields
            if let mapping = try? HeaderMapping.resolve(header: reader.fields, columnMap: [:], ignoreUnknownColumns: true) {
                preparer = RowPreparer(mapping: mapping)
            }
            continue
        }
        row += 1
        if let preparer { preparer.append(reader, rowNumber: row, to: &batch) }
    }
    return 0
}
