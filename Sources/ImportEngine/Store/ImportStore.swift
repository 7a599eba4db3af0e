/// Everything the import domain keeps. The SQLite implementation lives in
/// `ImportStoreSQLite`; a PostgreSQL one (several importd replicas on one
/// database) implements the same protocol. No SQL above this line.
///
/// Every method is atomic. `applyBatch` in particular writes a batch's contacts,
/// row results, counters and checkpoint in one transaction, so a crash at any
/// point loses nothing and applies nothing twice.
public protocol ImportStore: Sendable {
    // MARK: Campaigns and subscriptions

    /// Throws `StoreError.duplicate` when `code` is taken.
    func createTag(_ kind: TagKind, name: String, code: String?, at: WallTime) async throws -> AudienceTag
    func tag(_ kind: TagKind, id: Int64) async throws -> AudienceTag?
    /// The tag with this code (codes are unique per kind), if any.
    func tag(_ kind: TagKind, code: String) async throws -> AudienceTag?
    /// In id order, after `afterID`.
    func tags(_ kind: TagKind, afterID: Int64, limit: Int) async throws -> [AudienceTag]

    // MARK: Imports

    /// Creates a QUEUED import, durably (the upload's answer depends on it).
    func createImport(_ new: NewImport) async throws -> ImportJob
    func importJob(id: Int64) async throws -> ImportJob?
    /// Newest first, ids below `beforeID`, in `states` (empty: all).
    func importJobs(states: Set<ImportState>, beforeID: Int64, limit: Int) async throws -> [ImportJob]
    /// Ids of imports in `state`, oldest first.
    func importIDs(in state: ImportState) async throws -> [Int64]
    /// Applies `event` to the import as stored, in one transaction: the state
    /// `ImportLifecycle.next` gives for the stored state is written (with its
    /// timestamps, and `error` when given). Throws `InvalidTransition` when the
    /// lifecycle does not allow it, `StoreError.notFound` when there is no such
    /// import.
    func transition(id: Int64, event: ImportEvent, error: String?, at: WallTime) async throws -> Transition
    /// Applies prepared rows (see the protocol's note); returns the import with
    /// its new counters and checkpoint.
    func applyBatch(_ batch: RowBatch, job: ImportJob, at: WallTime) async throws -> ImportJob
    /// A run of the import is about to start, and has ended (completed, paused,
    /// cancelled, failed or stopped for shutdown). A store may keep derived data
    /// up to date here rather than row by row (the SQLite store adds the dedup
    /// keys of the contacts the run created).
    func beginRun(importID: Int64) async throws
    func endRun(importID: Int64) async throws
    /// At start-up: completes what runs cut short by a crash left undone.
    func recover() async throws
    /// Undoes a COMPLETED or CANCELLED import and marks it REVERTED.
    func revert(job: ImportJob, at: WallTime) async throws -> ImportJob
    /// Spool files that belong to an import.
    func spoolNames() async throws -> Set<String>

    // MARK: Rows and contacts

    /// Row results after `afterRow`, in row order; `outcome` nil means all.
    func rows(importID: Int64, outcome: RowOutcome?, afterRow: Int64, limit: Int) async throws -> [ImportRowRecord]
    func summary(importID: Int64, by grouping: RowGrouping) async throws -> [(key: String, count: Int64)]
    func contact(id: Int64) async throws -> ContactRecord?

    // MARK: API tokens

    func createToken(name: String, scope: TokenScope, hash: String, at: WallTime) async throws -> APIToken
    func tokens() async throws -> [APIToken]
    /// False when there is no such token.
    func revokeToken(id: Int64, at: WallTime) async throws -> Bool
    /// The live (not revoked) token with this hash.
    func token(hash: String) async throws -> APIToken?
}

/// What a transition did.
public struct Transition: Sendable, Hashable {
    /// The import after the event.
    public var job: ImportJob
    /// False when the lifecycle kept the state (pause a PAUSED import).
    public var changed: Bool

    public init(job: ImportJob, changed: Bool) {
        self.job = job
        self.changed = changed
    }
}

/// Storage errors the domain understands; anything else is internal.
/// `ImportError(StoreError)` turns them into what callers are told.
public enum StoreError: Error, Sendable, Hashable {
    /// A unique code is taken: what, as a phrase ("a campaign with code \"X\"").
    case duplicate(String)
    /// No import with this id.
    case notFound(Int64)
    /// The disk holding the database is full; nothing of the write was kept.
    case diskFull
}
