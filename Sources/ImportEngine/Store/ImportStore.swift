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
    /// At a clean stop, once no run is left: keeps what the next start would
    /// otherwise compute again (the SQLite store saves its filter of existing
    /// keys). The store may still be used after it.
    func saveForNextStart() async
    /// Undoes a COMPLETED or CANCELLED import and marks it REVERTED.
    func revert(job: ImportJob, at: WallTime) async throws -> ImportJob
    /// Spool files that belong to an import.
    func spoolNames() async throws -> Set<String>

    // MARK: Runs, when several processes share the store
    //
    // SQLite has one process: a claim always holds, nothing is abandoned, and no
    // other process changes anything. PostgreSQL replicas claim imports with a
    // lease, ask each other to stop through the store, and hear each other's
    // changes.

    /// Claims `id` for a run here: QUEUED becomes RUNNING; a RUNNING import is
    /// taken over when no live process holds it (a stop or a crash cut its run
    /// short). nil when it is not to run (paused, cancelled, or run elsewhere).
    func claim(id: Int64, at: WallTime) async throws -> ImportJob?
    /// Keeps this process's claim on a running import; false when it was lost.
    func renewClaim(id: Int64) async throws -> Bool
    /// A run here stopped for a shutdown: let another process take it at once.
    func releaseClaim(id: Int64) async throws
    /// RUNNING imports whose process stopped renewing its claim: to take over.
    func abandonedRuns() async throws -> [Int64]
    /// Asks another live process that runs `id` to pause or cancel it at its
    /// next batch; false when no other process runs it.
    func requestStop(id: Int64, event: ImportEvent) async throws -> Bool
    /// Ids of imports other processes change, as they change; nil when no other
    /// process shares the store.
    func changes() -> AsyncStream<Int64>?
    /// Where an upload's bytes go as they arrive, in a store that keeps
    /// spooled files itself (several processes share it); nil: it keeps none.
    /// `createImport` then finds the file's pages written.
    func spoolPages(name: String) -> (any SpoolPageSink)?
    /// Writes the spooled file `name` (kept through `spoolPages`)
    /// into `directory` under that name, whole or not at all; false when the
    /// store keeps no spooled files.
    func fetchSpool(name: String, into directory: String) async throws -> Bool

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

    // MARK: Metrics

    /// Counts by state and outcome (the admin endpoint's metrics and readiness).
    func statistics() async throws -> StoreStatistics
}


extension ImportStore {
    /// The only process: a RUNNING import here was interrupted, and resumes.
    public func claim(id: Int64, at: WallTime) async throws -> ImportJob? {
        guard let job = try await importJob(id: id) else { return nil }
        if job.state == .running { return job }
        guard let started = try? await transition(id: id, event: .start, error: nil, at: at), started.changed else { return nil }
        return started.job
    }

    public func renewClaim(id: Int64) async throws -> Bool { true }
    public func releaseClaim(id: Int64) async throws {}
    public func abandonedRuns() async throws -> [Int64] { [] }
    public func requestStop(id: Int64, event: ImportEvent) async throws -> Bool { false }
    public func changes() -> AsyncStream<Int64>? { nil }
    public func fetchSpool(name: String, into directory: String) async throws -> Bool { false }
    public func spoolPages(name: String) -> (any SpoolPageSink)? { nil }
    public func saveForNextStart() async {}
}

/// An upload's spooled bytes, stored page by page as they arrive (see
/// `ImportStore.spoolPages`). Pages are numbered from 0, in file order.
public protocol SpoolPageSink: Sendable {
    /// The size pages are cut to (the last page may be shorter).
    var pageBytes: Int { get }
    func write(page: Int64, bytes: [UInt8]) async throws
    /// Every page is written: the import may be created.
    func complete(pages: Int64)
    /// The upload ended without an import: its pages go.
    func discard() async
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
    /// This process no longer holds the import's run: another took it over
    /// after this one stopped renewing its claim. Nothing of the write was kept.
    case claimLost(Int64)
}

/// What the imports add up to, for metrics.
public struct StoreStatistics: Sendable {
    /// Imports by state.
    public var importsByState: [ImportState: Int64]
    /// Rows processed over every import, by outcome ("created", "updated", "skipped", "failed").
    public var rowsByOutcome: [String: Int64]
    /// The running import's id and rows done, if one runs.
    public var running: (id: Int64, processedRows: Int64)?

    public init(importsByState: [ImportState: Int64], rowsByOutcome: [String: Int64], running: (id: Int64, processedRows: Int64)?) {
        self.importsByState = importsByState
        self.rowsByOutcome = rowsByOutcome
        self.running = running
    }
}

