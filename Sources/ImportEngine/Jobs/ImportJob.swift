/// An import and everything about it: what its upload made it (`upload`, whose
/// fields read as the job's own: `job.fileName`), and what happened since.
@dynamicMemberLookup
public struct ImportJob: Sendable, Hashable {
    public var id: Int64
    public var state: ImportState
    /// What the upload made: file, options, header, encoding, digest, size.
    public var upload: NewImport
    /// The latest earlier import of a file with the same SHA-256.
    public var sameFileAs: Int64?
    public var processedRows: Int64 = 0
    public var created: Int64 = 0
    public var updated: Int64 = 0
    public var skipped: Int64 = 0
    public var failed: Int64 = 0
    /// Why it FAILED; after a revert, what the revert left in place.
    public var error: String?
    public var startedAt: WallTime?
    public var finishedAt: WallTime?
    public var updatedAt: WallTime
    public var revertedRows: Int64 = 0
    public var revertKeptRows: Int64 = 0
    /// Grows with every stored change: a watcher drops snapshots not newer
    /// than the last it sent.
    public var version: Int64 = 0
    /// Where processing goes on, and the rows done before it.
    public var checkpointOffset: Int64
    public var checkpointRow: Int64
    /// A pause or cancel asked of the process running it, through a store
    /// several processes share; the run honours it at its next batch.
    public var stopRequested: ImportEvent?

    public var publicID: String { ResourceKind.importJob.format(id) }

    /// The upload's fields, as the job's own.
    public subscript<Value>(dynamicMember keyPath: WritableKeyPath<NewImport, Value>) -> Value {
        get { upload[keyPath: keyPath] }
        set { upload[keyPath: keyPath] = newValue }
    }

    /// A job as `upload` creates it: queued, nothing processed yet.
    public init(id: Int64, state: ImportState = .queued, _ upload: NewImport) {
        self.id = id
        self.state = state
        self.upload = upload
        updatedAt = upload.createdAt
        checkpointOffset = upload.dataOffset
        checkpointRow = 0
    }
}

extension ImportJob {
    /// Rows by outcome, from the counters (committed with the rows they count):
    /// SummarizeImport's grouping by outcome, without reading a row.
    public var outcomeCounts: [(key: String, count: Int64)] {
        [("CREATED", created), ("UPDATED", updated), ("SKIPPED", skipped), ("FAILED", failed)]
            .filter { $0.1 > 0 }.map { (key: $0.0, count: $0.1) }
    }

    /// What a finished revert says it left in place, if anything.
    public var revertNote: String? {
        revertKeptRows > 0
            ? "reverted; \(revertKeptRows) row\(revertKeptRows == 1 ? " was" : "s were") left in place because a later import changed the contact"
            : nil
    }
}
