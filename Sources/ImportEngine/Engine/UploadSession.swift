import Dispatch
import Platform

/// What an upload asks for (the contract's UploadOptions, ids still public).
public struct UploadRequest: Sendable {
    public var fileName: String = ""
    /// nil: the upload did not say; new contacts are contacts, updates keep the kind.
    public var kind: ContactKind?
    public var originCampaignID: String = ""
    public var subscriptionIDs: [String] = []
    public var onDuplicate: DuplicatePolicy = .update
    public var columnMap: [String: String] = [:]
    public var ignoreUnknownColumns = false
    public var validateOnly = false
    public var sha256: String = ""
    public var encoding: String = ""

    public init() {}
}

/// One upload in progress: chunks are hashed, converted to UTF-8 and spooled to
/// a temporary file; the header row is checked as soon as it has arrived, so a
/// bad file is refused while the client is still sending. Nothing is created
/// until `finish`; `abort` (or an error) leaves nothing behind.
///
/// Used by one caller at a time (the upload's handler). File I/O runs on the
/// session's own queue, never on the caller's thread.
/// @unchecked: every mutable field is touched only on `queue` (see `onQueue`).
public final class UploadSession: @unchecked Sendable {
    private let engine: Importer
    private let options: ValidatedUpload
    private let queue = DispatchQueue(label: "upload")
    private let writer: DurableFileWriter
    private let spoolName: String
    private let hasher = Platform.SHA256()
    private var received: Int64 = 0
    /// The start of the file (UTF-8) until the header row is complete.
    private var prefix: [UInt8] = []
    private var header: (fields: [String], delimiter: UInt8, dataOffset: Int64)?
    private var scratch: [UInt8] = []
    private var transcoder: UploadTranscoder
    private var done = false
    /// Where the converted bytes also go, page by page, when the store keeps
    /// spooled files itself; the bytes of the page being filled; pages cut.
    private let pageSink: (any SpoolPageSink)?
    private var pageBuffer: [UInt8] = []
    private var pagesCut: Int64 = 0

    struct ValidatedUpload: Sendable {
        var request: UploadRequest
        var originCampaignID: Int64?
        var subscriptionIDs: [Int64]
        /// nil: detect it.
        var encoding: TextEncoding?
    }

    init(engine: Importer, options: ValidatedUpload) throws {
        self.engine = engine
        self.options = options
        self.transcoder = UploadTranscoder(declared: options.encoding)
        self.spoolName = "upload-\(Hex.encode(SecureRandom.bytes(12))).csv"
        self.writer = try DurableFileWriter(directory: engine.configuration.spoolDirectory, name: spoolName)
        self.pageSink = engine.store.spoolPages(name: spoolName)
    }

    deinit {
        if !done {
            engine.spool.remove(writer.bytesWritten)
            writer.abort()
        }
        engine.spool.endUpload()
    }

    /// Bytes received so far.
    public var bytesReceived: Int64 { queue.sync { received } }

    private func onQueue<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }

    /// Takes the next chunk of the file.
    public func append(_ chunk: [UInt8]) async throws {
        let pages: [(Int64, [UInt8])]
        do {
            pages = try await onQueue { () throws -> [(Int64, [UInt8])] in
                try self.appendOnQueue(chunk)
                return self.cutPages(final: false)
            }
        } catch {
            await pageSink?.discard()
            throw error
        }
        try await store(pages)
    }

    /// Whole pages of what was converted so far (and the rest, at the end).
    private func cutPages(final: Bool) -> [(Int64, [UInt8])] {
        guard let pageSink else { return [] }
        var pages: [(Int64, [UInt8])] = []
        var start = 0
        while pageBuffer.count - start >= pageSink.pageBytes || (final && start < pageBuffer.count) {
            let end = min(start + pageSink.pageBytes, pageBuffer.count)
            pages.append((pagesCut, Array(pageBuffer[start..<end])))
            pagesCut += 1
            start = end
        }
        pageBuffer.removeSubrange(0..<start)
        return pages
    }

    /// Hands pages to the store; a failure ends the upload (nothing is kept).
    private func store(_ pages: [(Int64, [UInt8])]) async throws {
        guard let pageSink, !pages.isEmpty else { return }
        do {
            for (number, bytes) in pages {
                try await pageSink.write(page: number, bytes: bytes)
            }
        } catch {
            try? await onQueue { self.abortOnQueue() }
            await pageSink.discard()
            throw error
        }
    }

    private func appendOnQueue(_ chunk: [UInt8]) throws {
        guard !done else { throw ImportError.failedPrecondition("the upload has ended") }
        do {
            received += Int64(chunk.count)
            if received > engine.configuration.maxUploadBytes {
                throw tooLarge
            }
            if received == Int64(chunk.count), chunk.starts(with: [0xFF, 0xFE]) || chunk.starts(with: [0xFE, 0xFF]) {
                throw ImportError.invalidArgument(
                    "the file is UTF-16 (Excel's \"Unicode Text\"); save it as \"CSV UTF-8\" or \"CSV\" and upload it again",
                    violations: [FieldViolation(field: "chunk", description: "UTF-16 is not supported")])
            }
            hasher.update(chunk)
            try write(converting: chunk, final: false)
        } catch let error {
            abortOnQueue()
            throw error
        }
    }

    /// Spools `chunk` as UTF-8 and looks for the header row while it is incomplete.
    private func write(converting chunk: [UInt8], final: Bool) throws {
        scratch.removeAll(keepingCapacity: true)
        transcoder.convert(chunk, into: &scratch)
        if final { transcoder.finish(into: &scratch) }
        // The limit holds for what is stored: converting can triple the bytes.
        if writer.bytesWritten + Int64(scratch.count) > engine.configuration.maxUploadBytes { throw tooLarge }
        try engine.spool.add(Int64(scratch.count))
        do {
            try writer.write(scratch)
        } catch let error as FileError where error.isDiskFull {
            throw ImportError.diskFull
        }
        if pageSink != nil { pageBuffer.append(contentsOf: scratch) }
        if header == nil {
            prefix.append(contentsOf: scratch)
            try findHeader(final: final)
        }
    }

    /// The longest header row accepted, in bytes, and the most columns: a real
    /// export has a few dozen columns of a few dozen bytes.
    public static let maxHeaderBytes = 64 << 10
    public static let maxColumns = 1000

    /// Looks for a complete header record in `prefix` and checks it.
    private func findHeader(final: Bool) throws {
        var start = 0
        if prefix.starts(with: [0xEF, 0xBB, 0xBF]) { start = 3 }
        while start < prefix.count && (prefix[start] == 10 || prefix[start] == 13) { start += 1 }
        // The first line end outside quotes.
        var inQuotes = false
        var end: Int?
        var i = start
        while i < prefix.count {
            let byte = prefix[i]
            if byte == UInt8(ascii: "\"") {
                inQuotes.toggle()
            } else if !inQuotes && (byte == 10 || byte == 13) {
                if byte == 13 && i + 1 == prefix.count && !final { return }  // CRLF may straddle chunks
                end = byte == 13 && i + 1 < prefix.count && prefix[i + 1] == 10 ? i + 2 : i + 1
                break
            }
            i += 1
        }
        if end == nil {
            if final && start < prefix.count {
                end = prefix.count
            } else if prefix.count > Self.maxHeaderBytes {
                throw ImportError.invalidArgument("no header row in the first 64 KiB: is this a CSV file?",
                    violations: [FieldViolation(field: "chunk", description: "no header row found")])
            } else {
                return
            }
        }
        var lineEnd = end!
        while lineEnd > start && (prefix[lineEnd - 1] == 10 || prefix[lineEnd - 1] == 13) { lineEnd -= 1 }
        if lineEnd - start > Self.maxHeaderBytes {
            throw ImportError.invalidArgument(
                "the header row is \(lineEnd - start) bytes long, more than the limit of \(Self.maxHeaderBytes); is this a CSV file with a header row?",
                violations: [FieldViolation(field: "chunk", description: "header row longer than \(Self.maxHeaderBytes) bytes")])
        }
        let headerBytes = prefix[start..<end!]
        if !FieldRules.isValidUTF8(headerBytes) {
            // Only a file declared UTF-8 gets here: anything else was converted.
            throw ImportError.invalidArgument(
                "the header row is not valid UTF-8, but options.encoding says utf-8; declare the file's encoding (windows-1252 or iso-8859-1) or leave options.encoding empty to detect it",
                violations: [FieldViolation(field: "options.encoding", description: "the file is not UTF-8")])
        }
        let delimiter = DelimiterDetector.detect(headerBytes: headerBytes)
        var reader = CSVReader(source: MemorySource(Array(prefix[0..<end!])), delimiter: delimiter)
        var fields: [String] = []
        var dataOffset: Int64 = 0
        while try reader.next() {
            if RowPreparer.isBlank(reader) { continue }
            guard reader.fieldCount <= Self.maxColumns else {
                throw ImportError.invalidArgument("the header row has \(reader.fieldCount) columns, more than the limit of \(Self.maxColumns)",
                    violations: [FieldViolation(field: "chunk", description: "more than \(Self.maxColumns) columns")])
            }
            fields = reader.fields
            dataOffset = reader.nextOffset
            break
        }
        do {
            _ = try HeaderMapping.resolve(header: fields, columnMap: options.request.columnMap, ignoreUnknownColumns: options.request.ignoreUnknownColumns)
        } catch {
            throw ImportError.header(error)
        }
        header = (fields, delimiter, dataOffset)
        prefix = []
    }

    /// Ends the upload: checks the digest, stores the file durably, counts its
    /// rows and creates the QUEUED import.
    public func finish() async throws -> ImportJob {
        typealias Spooled = (fields: [String], delimiter: UInt8, dataOffset: Int64, digest: String, bytes: Int64, rows: Int64, encoding: TextEncoding, bytesStored: Int64)
        let spooled: Spooled
        do {
            spooled = try await onQueue { () throws -> Spooled in
                guard !self.done else { throw ImportError.failedPrecondition("the upload has ended") }
                do {
                    try self.write(converting: [], final: true)
                    guard let header = self.header else {
                        throw ImportError.invalidArgument("the file is empty: it has no header row",
                            violations: [FieldViolation(field: "chunk", description: "no data was sent")])
                    }
                    let digest = Hex.encode(self.hasher.finalize())
                    let expected = self.options.request.sha256.lowercased()
                    if !expected.isEmpty && expected != digest {
                        throw ImportError.invalidArgument("sha256 mismatch: the file received has digest \(digest), options.sha256 says \(expected)",
                            violations: [FieldViolation(field: "sha256", description: "does not match the file")])
                    }
                    do {
                        try self.writer.commit(as: self.spoolName)
                    } catch let error as FileError where error.isDiskFull {
                        throw ImportError.diskFull
                    }
                    self.done = true
                    let rows = try self.countRows(delimiter: header.delimiter, from: header.dataOffset)
                    if rows == 0 {
                        FileSystem.remove(self.engine.configuration.spoolDirectory + "/" + self.spoolName)
                        self.engine.spool.remove(self.writer.bytesWritten)
                        throw ImportError.invalidArgument("the file has a header row but no data rows",
                            violations: [FieldViolation(field: "chunk", description: "no data rows after the header")])
                    }
                    return (header.fields, header.delimiter, header.dataOffset, digest, self.received, rows, self.transcoder.used,
                            self.writer.bytesWritten)
                } catch {
                    self.abortOnQueue()
                    throw error
                }
            }
        } catch {
            // Refused at the end (digest, no rows): the pages sent so far go too.
            await pageSink?.discard()
            throw error
        }
        do {
            let (pages, count) = try await onQueue { (self.cutPages(final: true), self.pagesCut) }
            try await store(pages)
            pageSink?.complete(pages: count)
        } catch {
            FileSystem.remove(engine.configuration.spoolDirectory + "/" + spoolName)
            engine.spool.remove(spooled.bytesStored)
            throw error
        }
        let request = options.request
        let new = NewImport(
            fileName: request.fileName.isEmpty ? "upload.csv" : request.fileName, kind: request.kind ?? .contact, kindExplicit: request.kind != nil,
            originCampaignID: options.originCampaignID, subscriptionIDs: options.subscriptionIDs, onDuplicate: request.onDuplicate,
            columnMap: request.columnMap, ignoreUnknownColumns: request.ignoreUnknownColumns, validateOnly: request.validateOnly,
            encoding: spooled.encoding, sha256: spooled.digest, bytes: spooled.bytes, totalRows: spooled.rows, spoolName: spoolName,
            header: spooled.fields, delimiter: spooled.delimiter, dataOffset: spooled.dataOffset, createdAt: engine.clock.now())
        do {
            return try await ImportError.storing { try await engine.created(new) }
        } catch {
            FileSystem.remove(engine.configuration.spoolDirectory + "/" + spoolName)
            engine.spool.remove(spooled.bytesStored)
            await pageSink?.discard()
            throw error
        }
    }

    private func countRows(delimiter: UInt8, from offset: Int64) throws -> Int64 {
        let path = engine.configuration.spoolDirectory + "/" + spoolName
        var reader = CSVReader(source: try FileReader(path: path, offset: offset), delimiter: delimiter, offset: offset)
        var rows: Int64 = 0
        while try reader.next() {
            if !RowPreparer.isBlank(reader) { rows += 1 }
        }
        return rows
    }

    /// Drops the upload: nothing is created and the partial file is removed
    /// (and its pages, in a store that keeps them).
    public func abort() {
        queue.async { self.abortOnQueue() }
        if let pageSink { Task { await pageSink.discard() } }
    }

    private func abortOnQueue() {
        if !done {
            done = true
            engine.spool.remove(writer.bytesWritten)
            writer.abort()
        }
    }

    private var tooLarge: ImportError {
        .resourceExhausted("the file is larger than the limit of \(engine.configuration.maxUploadBytes) bytes")
    }
}
