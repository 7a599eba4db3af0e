import Foundation
import ImportEngine
import ImportStorePostgres
import ImportStoreSQLite
import Logging
import Platform
import PostgresTestSupport
import Testing

/// The stores the contract tests run against: every test that takes a
/// `Backend` runs once on each.
enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgres

    var testDescription: String { rawValue }
}

/// A fresh PostgreSQL database in the tests' cluster.
/// (Connecting and migrating block: off the cooperative pool, as the cluster's set-up.)
func postgresStore(configure: (inout PostgresStoreConfiguration) -> Void = { _ in }) async throws -> PostgresImportStore {
    let cluster = try await PostgresCluster.start()
    let name = "importer_\(UInt64.random(in: 0...UInt64.max))"
    try await cluster.makeDatabase(name)
    var configuration = PostgresStoreConfiguration(conninfo: cluster.conninfo(database: name))
    configuration.connections = 4
    configure(&configuration)
    return try await openStore(configuration)
}

/// A store on an existing database (a second replica), opened off the cooperative pool.
func openStore(_ configuration: PostgresStoreConfiguration) async throws -> PostgresImportStore {
    try await PostgresCluster.offPool { try PostgresImportStore(configuration) }
}

/// An importer on real SQLite in a temporary directory, on a manual clock that
/// starts at 2026-01-05 10:07:00 UTC (the 15-minute ticks are :00 :15 :30 :45).
final class ImporterHarness: @unchecked Sendable {
    static let start = WallTime(seconds: 1_767_607_620)  // 2026-01-05T10:07:00Z

    let directory: String
    let clock: ManualClock
    let store: any ImportStore
    let backend: Backend
    /// The SQLite store (nil on PostgreSQL), for tests of SQLite itself.
    let sqlite: SQLiteImportStore?
    let postgres: PostgresImportStore?
    private(set) var importer: Importer
    let interval: Duration
    let batchRows: Int

    init(_ backend: Backend = .sqlite, batchRows: Int = 10_000, interval: Duration = .seconds(900),
         store wrap: ((any ImportStore) -> any ImportStore)? = nil, postgres shared: PostgresImportStore? = nil,
         directory: String? = nil, clock: ManualClock? = nil, sqliteRunKeyMemory: Int = SQLiteImportStore.defaultRunKeyMemoryBytes,
         sqliteKeyTierMergeFloor: Int64 = 2_000_000, configure: (inout ImporterConfiguration) -> Void = { _ in }) async throws {
        self.directory = directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("importer-\(UUID().uuidString)").path
        try FileSystem.createDirectory(self.directory)
        self.clock = clock ?? ManualClock(now: Self.start)
        self.backend = backend
        let base: any ImportStore
        switch backend {
        case .sqlite:
            sqlite = try SQLiteImportStore(
                path: self.directory + "/importd.sqlite", runKeyMemoryBytes: sqliteRunKeyMemory, keyTierMergeFloor: sqliteKeyTierMergeFloor)
            postgres = nil
            base = sqlite!
        case .postgres:
            sqlite = nil
            if let shared {
                postgres = shared
            } else {
                postgres = try await postgresStore()
            }
            base = postgres!
        }
        self.store = wrap?(base) ?? base
        self.interval = interval
        self.batchRows = batchRows
        var configuration = ImporterConfiguration(spoolDirectory: self.directory + "/spool")
        configuration.importInterval = interval
        configuration.batchRows = batchRows
        configuration.maxUploadBytes = 10 << 20
        configure(&configuration)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        importer = Importer(store: self.store, clock: self.clock, configuration: configuration, logger: logger)
        try await importer.start()
    }

    func close() async {
        await importer.shutdown()
        postgres?.close()
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Uploads `csv` in chunks of `chunkSize` bytes.
    func upload(_ csv: String, chunkSize: Int = 7, configure: (inout UploadRequest) -> Void = { _ in }) async throws -> ImportJob {
        try await upload(bytes: Array(csv.utf8), chunkSize: chunkSize, configure: configure)
    }

    func upload(bytes: [UInt8], chunkSize: Int = 4096, configure: (inout UploadRequest) -> Void = { _ in }) async throws -> ImportJob {
        var request = UploadRequest()
        request.fileName = "contacts.csv"
        configure(&request)
        let session = try await importer.beginUpload(request)
        var offset = 0
        while offset < bytes.count {
            let end = min(offset + chunkSize, bytes.count)
            try await session.append(Array(bytes[offset..<end]))
            offset = end
        }
        return try await session.finish()
    }

    /// Moves the clock to the next tick and waits until nothing is QUEUED or
    /// RUNNING (or `until` holds).
    func tick(until condition: (@Sendable (ImportJob) -> Bool)? = nil, id: Int64? = nil) async throws {
        await clock.waitForSleeper()
        clock.advance(to: await importer.nextTick)
        try await settle(until: condition, id: id)
    }

    /// Waits until no import is QUEUED or RUNNING with work left (or `until` holds for `id`).
    func settle(until condition: (@Sendable (ImportJob) -> Bool)? = nil, id: Int64? = nil, timeout: Duration = .seconds(20)) async throws {
        let end = ContinuousClock.now + timeout
        while ContinuousClock.now < end {
            if let condition, let id, let job = try await store.importJob(id: id), condition(job) { return }
            if condition == nil {
                let busy = try await store.importIDs(in: .running).count
                if busy == 0 && clock.sleeperCount > 0 { return }
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        struct Timeout: Error {}
        throw Timeout()
    }

    func job(_ id: Int64) async throws -> ImportJob {
        try await store.importJob(id: id)!
    }

    func contact(email: String) async throws -> ContactRecord? {
        let key = email.lowercased()
        let ids = if let sqlite { try await sqlite.contactIDs(emailKey: key) } else { try await postgres!.contactIDs(emailKey: key) }
        guard let id = ids.first else { return nil }
        return try await store.contact(id: id)
    }

    func contactCount() async throws -> Int64 {
        try await count("contacts")
    }

    func count(_ table: String) async throws -> Int64 {
        if let sqlite { return try await sqlite.count(table) }
        return try await postgres!.count(table)
    }

    /// Restarts the importer on the same data (as after a crash or stop).
    func restart() async throws {
        var configuration = ImporterConfiguration(spoolDirectory: directory + "/spool")
        configuration.importInterval = interval
        configuration.batchRows = batchRows
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        importer = Importer(store: store, clock: clock, configuration: configuration, logger: logger)
        try await importer.start()
    }
}

/// A store that makes every batch take `delay` (real time), so a test can act
/// while an import is RUNNING.
final class SlowStore: ImportStore, @unchecked Sendable {
    let base: any ImportStore
    let delay: Duration

    init(_ base: any ImportStore, delay: Duration) {
        self.base = base
        self.delay = delay
    }

    func applyBatch(_ batch: RowBatch, job: ImportJob, at: WallTime) async throws -> ImportJob {
        try await Task.sleep(for: delay)
        return try await base.applyBatch(batch, job: job, at: at)
    }

    func createTag(_ kind: TagKind, name: String, code: String?, at: WallTime) async throws -> AudienceTag {
        try await base.createTag(kind, name: name, code: code, at: at)
    }
    func tag(_ kind: TagKind, id: Int64) async throws -> AudienceTag? { try await base.tag(kind, id: id) }
    func tag(_ kind: TagKind, code: String) async throws -> AudienceTag? { try await base.tag(kind, code: code) }
    func tags(_ kind: TagKind, afterID: Int64, limit: Int) async throws -> [AudienceTag] { try await base.tags(kind, afterID: afterID, limit: limit) }
    func createImport(_ new: NewImport) async throws -> ImportJob { try await base.createImport(new) }
    func importJob(id: Int64) async throws -> ImportJob? { try await base.importJob(id: id) }
    func importJobs(states: Set<ImportState>, beforeID: Int64, limit: Int) async throws -> [ImportJob] { try await base.importJobs(states: states, beforeID: beforeID, limit: limit) }
    func importIDs(in state: ImportState) async throws -> [Int64] { try await base.importIDs(in: state) }
    func transition(id: Int64, event: ImportEvent, error: String?, at: WallTime) async throws -> Transition {
        try await base.transition(id: id, event: event, error: error, at: at)
    }
    func revert(job: ImportJob, at: WallTime) async throws -> ImportJob { try await base.revert(job: job, at: at) }
    func beginRun(importID: Int64) async throws { try await base.beginRun(importID: importID) }
    func endRun(importID: Int64) async throws { try await base.endRun(importID: importID) }
    func recover() async throws { try await base.recover() }
    func spoolNames() async throws -> Set<String> { try await base.spoolNames() }
    func rows(importID: Int64, outcome: RowOutcome?, afterRow: Int64, limit: Int) async throws -> [ImportRowRecord] {
        try await base.rows(importID: importID, outcome: outcome, afterRow: afterRow, limit: limit)
    }
    func summary(importID: Int64, by grouping: RowGrouping) async throws -> [(key: String, count: Int64)] { try await base.summary(importID: importID, by: grouping) }
    func contact(id: Int64) async throws -> ContactRecord? { try await base.contact(id: id) }
    func createToken(name: String, scope: TokenScope, hash: String, at: WallTime) async throws -> APIToken { try await base.createToken(name: name, scope: scope, hash: hash, at: at) }
    func tokens() async throws -> [APIToken] { try await base.tokens() }
    func revokeToken(id: Int64, at: WallTime) async throws -> Bool { try await base.revokeToken(id: id, at: at) }
    func token(hash: String) async throws -> APIToken? { try await base.token(hash: hash) }
    func spoolPages(name: String) -> (any SpoolPageSink)? { base.spoolPages(name: name) }
    func claim(id: Int64, at: WallTime) async throws -> ImportJob? { try await base.claim(id: id, at: at) }
    func renewClaim(id: Int64) async throws -> Bool { try await base.renewClaim(id: id) }
    func releaseClaim(id: Int64) async throws { try await base.releaseClaim(id: id) }
    func abandonedRuns() async throws -> [Int64] { try await base.abandonedRuns() }
    func requestStop(id: Int64, event: ImportEvent) async throws -> Bool { try await base.requestStop(id: id, event: event) }
    func changes() -> AsyncStream<Int64>? { base.changes() }
    func fetchSpool(name: String, into directory: String) async throws -> Bool { try await base.fetchSpool(name: name, into: directory) }
    func statistics() async throws -> StoreStatistics { try await base.statistics() }
}

/// A CSV of `count` valid contacts: first,last,email.
func contactsCSV(_ count: Int, start: Int = 0, header: String = "first_name,last_name,email") -> String {
    var text = header + "\n"
    for i in start..<(start + count) {
        text += "First\(i),Last\(i),person\(i)@example.org\n"
    }
    return text
}
