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
    func createCampaign(name: String, code: String?, at: WallTime) async throws -> Campaign
    func campaign(id: Int64) async throws -> Campaign?
    /// The campaign with this code (codes are unique), if any.
    func campaign(code: String) async throws -> Campaign?
    /// In id order, after `afterID`.
    func campaigns(afterID: Int64, limit: Int) async throws -> [Campaign]
    func createSubscription(name: String, code: String?, at: WallTime) async throws -> Subscription
    func subscription(id: Int64) async throws -> Subscription?
    func subscription(code: String) async throws -> Subscription?
    func subscriptions(afterID: Int64, limit: Int) async throws -> [Subscription]

    // MARK: Imports

    /// Creates a QUEUED import, durably (the upload's answer depends on it).
    func createImport(_ new: NewImport) async throws -> ImportJob
    func importJob(id: Int64) async throws -> ImportJob?
    /// Newest first, ids below `beforeID`, in `states` (empty: all).
    func importJobs(states: Set<ImportState>, beforeID: Int64, limit: Int) async throws -> [ImportJob]
    /// Ids of imports in `state`, oldest first.
    func importIDs(in state: ImportState) async throws -> [Int64]
    /// Moves an import from one of `from` to `to` (with timestamps and `error`);
    /// nil when its state is not in `from` (someone else moved it first).
    func transition(id: Int64, from: Set<ImportState>, to: ImportState, error: String?, at: WallTime) async throws -> ImportJob?
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

/// Storage errors the domain understands; anything else is internal.
public enum StoreError: Error, Sendable, Hashable {
    /// A unique name or code is taken.
    case duplicate(String)
}
