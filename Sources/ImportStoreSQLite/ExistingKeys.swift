import Dispatch
import ImportEngine
import SQLiteDB

/// A Bloom filter over every key in `contact_keys`, kept by the writer, so
/// that looking up a key no contact has (most rows of an import of new
/// contacts) costs no B-tree probe. Into a database of 5M contacts such a
/// probe reads a leaf page the cache does not hold: about 2.5 us a row, the
/// whole difference to an empty database.
///
/// Built by a scan on a connection of its own, off the writer, at start and
/// when a run begins without one or about to add more keys than it was sized
/// for: keys the writer adds meanwhile are logged and join it when it is
/// installed; until then every look-up probes (a run whose rows would probe
/// longer than the scan takes waits for it). A key deleted stays in the
/// filter (a probe then finds nothing, as before). 10 bits a key for 1.5
/// times the keys there are and the run will add, at most 16 MiB; past that
/// the filter answers "maybe" more often, never "no" wrongly.
///
/// Kept with the database (`key_filter`) when a big run ends and at a clean
/// stop, and used at start instead of a scan if no key was added since
/// (`KeyTiers.stamp`): a restart does not read every key again.
///
/// Only touched on the writer's queue (the scan touches none of it).
package final class ExistingKeys {
    private var filter: BloomFilter?
    /// Hashes of keys added while a build runs (nil when none runs).
    private var log: [UInt64]?
    /// Bumped by each build and by `invalidate`: a build installs only if it is the latest.
    private var generation = 0
    private var added = 0
    private var capacity = 0
    /// Called when the build under way ends, however it ends.
    private var whenBuilt: [() -> Void] = []

    package static let maxBytes = 16 << 20
    /// Keys logged while a build runs at most (8 MiB); past it the build is
    /// given up, and the next run begins another.
    package static let maxLogged = 1 << 20

    package init() {}

    /// The stamp (`KeyTiers.stamp`) of the filter saved with the database.
    private(set) var savedStamp: Int64?

    /// Whether a run beginning now, about to add up to `adding` keys, should
    /// start a build (none, or one too small for what it will hold).
    package func needsBuild(adding: Int = 0) -> Bool {
        log == nil && (filter == nil || added + adding > capacity)
    }
    package var isReady: Bool { filter != nil }
    /// `contact_keys` holds no key at all (the first import into a new
    /// database): every look-up can be skipped without probing.
    package var isCertainlyEmpty: Bool { filter != nil && added == 0 }
    package var isBuilding: Bool { log != nil }

    /// Calls `body` once no build is under way (at once if none is): after
    /// the build is installed, fails, or is given up.
    package func onBuilt(_ body: @escaping () -> Void) {
        if log == nil { body() } else { whenBuilt.append(body) }
    }

    private func buildEnded() {
        log = nil
        let waiting = whenBuilt
        whenBuilt = []
        for body in waiting { body() }
    }

    /// Starts a build: the filter in use is dropped (memory stays one
    /// filter's), keys added from now on are logged. Returns its generation.
    package func beginBuild() -> Int {
        filter = nil
        log = []
        generation += 1
        return generation
    }

    /// Forgets the filter and any build under way (keys were added without it).
    package func invalidate() {
        filter = nil
        generation += 1
        buildEnded()
    }

    /// A finished scan (nil: it failed): installed with the keys logged
    /// meanwhile, unless a later build or `invalidate` came since it began.
    package func install(_ scan: Scan?, generation: Int) {
        guard generation == self.generation, let log else { return }
        guard let scan else {
            buildEnded()  // the next run begins another build
            return
        }
        var built = scan.filter
        for hash in log { built.insert(hash) }
        filter = built
        added = scan.keys + log.count
        capacity = scan.capacity
        buildEnded()
    }

    package func insert(_ kind: UInt8, _ key: UnsafeRawBufferPointer) {
        var hash = KeyHash.of(kind, key)
        withUnsafeMutablePointer(to: &hash) { insert(hashes: UnsafeBufferPointer(start: $0, count: 1)) }
    }

    /// Adds keys by their hashes (`KeyHash.of`), many at once.
    func insert(hashes: UnsafeBufferPointer<UInt64>) {
        if filter != nil {
            filter!.insert(contentsOf: hashes)
            added += hashes.count
        } else if log != nil {
            if log!.count + hashes.count > Self.maxLogged {
                invalidate()
            } else {
                log!.append(contentsOf: hashes)
            }
        }
    }

    func insert(_ kind: Int64, _ bytes: [UInt8], _ range: Range<Int>) {
        bytes.withUnsafeBytes { insert(UInt8(truncatingIfNeeded: kind), UnsafeRawBufferPointer(rebasing: $0[range])) }
    }

    func insert(_ kind: Int64, _ key: String) {
        var key = key
        key.withUTF8 { insert(UInt8(truncatingIfNeeded: kind), UnsafeRawBufferPointer($0)) }
    }

    /// False only when the key is certainly not in `contact_keys`.
    package func mayContain(_ kind: UInt8, _ key: UnsafeRawBufferPointer) -> Bool {
        guard let filter else { return true }
        return filter.mayContain(KeyHash.of(kind, key))
    }

    /// `mayContain` for many keys by their hashes (`KeyHash.of`), answers in
    /// `answers` (replaced).
    func mayContain(hashes: [UInt64], into answers: inout [Bool]) {
        answers.removeAll(keepingCapacity: true)
        guard let filter else {
            answers.append(contentsOf: repeatElement(true, count: hashes.count))
            return
        }
        filter.mayContain(hashes, into: &answers)
    }

    func mayContain(_ kind: Int64, _ bytes: [UInt8], _ range: Range<Int>) -> Bool {
        bytes.withUnsafeBytes { mayContain(UInt8(truncatingIfNeeded: kind), UnsafeRawBufferPointer(rebasing: $0[range])) }
    }

    /// A filter of every key of the database at one moment.
    package struct Scan: Sendable {
        package var filter: BloomFilter
        package var keys: Int
        package var capacity: Int

        package init(capacity: Int) {
            self.capacity = capacity
            filter = BloomFilter(bytes: min(ExistingKeys.maxBytes, max(64 << 10, capacity * 10 / 8)))
            keys = 0
        }

        /// Reads every key of the database at `path` in one read transaction,
        /// on a connection of its own, into a filter sized for 1.5 times the
        /// keys stored and `adding` more.
        package static func read(path: String, adding: Int = 0) throws -> Scan {
            let db = try Connection(path: path)
            try Schema.configure(db, writer: false)
            // A read transaction (DEFERRED): one snapshot, and the writer never waits for it.
            return try db.transaction(.deferred) {
                let stored = Int(try KeyTiers.stamp(db))
                var scan = Scan(capacity: max(1 << 20, (stored + adding) * 3 / 2))
                try db.cached("SELECT kind, key FROM contact_keys").forEachRow { row in
                    let kind = UInt8(truncatingIfNeeded: row.int64(0))
                    row.withBytes(1) { scan.filter.insert(KeyHash.of(kind, $0)) }
                    scan.keys += 1
                }
                return scan
            }
        }
    }
}

// MARK: Kept with the database

extension ExistingKeys {
    /// What a saved filter's bits mean: bumped whenever `KeyHash` or
    /// `BloomFilter` map keys to other bits; the byte order is part of it.
    static let savedFormat: Int64 = 1.littleEndian == 1 ? 1 : 1 | 1 << 32

    /// Saves the filter in `key_filter` if it is whole (no build under way,
    /// not past its capacity) and keys were added since the one saved.
    package func save(_ db: Connection) throws {
        guard let filter, log == nil, added <= capacity else { return }
        let stamp = try KeyTiers.stamp(db)
        guard stamp != savedStamp else { return }
        // The bits are written in place into a zeroed blob: binding them
        // would copy them twice (up to 16 MiB each) at a run's end, when
        // memory is at its highest.
        try db.transaction {
            try db.cached("INSERT OR REPLACE INTO key_filter (id, format, stamp, keys, capacity, bits) VALUES (1, ?, ?, ?, ?, zeroblob(?))").execute([
                .integer(Self.savedFormat), .integer(stamp), .integer(Int64(added)), .integer(Int64(capacity)), .integer(Int64(filter.byteCount)),
            ])
            try filter.withBits { try db.writeBlob(table: "key_filter", column: "bits", rowid: 1, from: $0) }
        }
        savedStamp = stamp
    }

    /// Installs the saved filter if there is one and no key was added since
    /// it was saved; false otherwise (a build is then needed).
    package func load(_ db: Connection) throws -> Bool {
        guard filter == nil, log == nil else { return false }
        let stamp = try KeyTiers.stamp(db)
        let saved = try db.cached("SELECT format, stamp, keys, capacity, length(bits) FROM key_filter WHERE id = 1").queryOne([]) { row in
            (format: row.int64(0), stamp: row.int64(1), keys: Int(row.int64(2)), capacity: Int(row.int64(3)), bytes: Int(row.int64(4)))
        }
        guard let saved, saved.format == Self.savedFormat, saved.stamp == stamp,
              saved.bytes >= 32, saved.bytes % 32 == 0, saved.bytes <= Self.maxBytes else { return false }
        var loaded = BloomFilter(bytes: saved.bytes)
        try loaded.withMutableBits { try db.readBlob(table: "key_filter", column: "bits", rowid: 1, into: $0) }
        filter = loaded
        added = saved.keys
        capacity = saved.capacity
        savedStamp = stamp
        generation += 1
        return true
    }
}

extension SQLiteImportStore {
    /// Whether the filter of existing keys is installed, and whether a build
    /// is under way (tests and diagnostics).
    package func existingKeysState() async throws -> (ready: Bool, building: Bool) {
        let state = writerState
        return try await writer.run { _ in (state.existingKeys.isReady, state.existingKeys.isBuilding) }
    }

    /// Starts building the filter of existing keys if a run should (called on
    /// the writer's queue when a run begins, `adding` up to so many keys):
    /// the scan runs on a thread of its own, then the filter is installed on
    /// the writer's queue.
    func buildExistingKeysIfNeeded(adding: Int = 0) {
        let state = writerState
        guard state.existingKeys.needsBuild(adding: adding) else { return }
        let generation = state.existingKeys.beginBuild()
        let path = self.path
        let writer = self.writer
        DispatchQueue.global(qos: .utility).async {
            // On failure the filter stays unbuilt (look-ups probe, as without
            // one) until the next run begins.
            let scan = try? ExistingKeys.Scan.read(path: path, adding: adding)
            Task { try? await writer.run { _ in state.existingKeys.install(scan, generation: generation) } }
        }
    }
}
