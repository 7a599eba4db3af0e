import Platform

extension FileReader: ByteSource {}

/// Reads single records of a spooled file again, by offset: the values of rows
/// in ListImportRows, the failed rows of an error export, and the earlier row
/// when a duplicate key needs confirming.
public struct SpoolRows: Sendable {
    public let path: String
    public let delimiter: UInt8

    public init(path: String, delimiter: UInt8) {
        self.path = path
        self.delimiter = delimiter
    }

    /// Opens a reader at a record offset (small chunks: one record is wanted).
    func reader(at offset: Int64) throws -> CSVReader<FileReader> {
        CSVReader(source: try FileReader(path: path, offset: offset), delimiter: delimiter, offset: offset, chunkSize: 16 << 10)
    }

    /// The fields of the record at `offset`, as read (doubled quotes undone).
    public func fields(at offset: Int64) throws -> [String] {
        var reader = try reader(at: offset)
        guard try reader.next() else { return [] }
        return reader.fields
    }

    /// The record at `offset` prepared as a row (for its keys).
    func prepared(at offset: Int64, preparer: RowPreparer) throws -> RowBatch? {
        var reader = try reader(at: offset)
        guard try reader.next() else { return nil }
        var batch = RowBatch()
        preparer.append(reader, rowNumber: 0, to: &batch)
        return batch
    }
}
