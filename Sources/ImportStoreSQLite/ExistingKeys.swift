import Dispatch
import ImportEngine
import SQLiteDB

/// A Bloom filter over every key in `contact_keys`, kept by the writer, so
/// that looking up a key no contact has (most rows of an import of new
/// contacts) costs no B-tree probe. Into a database of 5M contacts such a
/// probe reads a leaf page the cache does not hold: about 2.5 us a row, the
/// whole difference to an empty database.
///
/// Built by a scan on a connection of its own, off the writer, when a run
/// begins and there is none (or more keys were added than it was sized for):
/// keys the writer adds meanwhile are logged and join it when it is
/// installed; until then every look-up probes. A key deleted stays in the
/// filter (a probe then finds nothing, as before). 10 bits a key for twice
/// the keys there are, at most 16 MiB; past that the filter answers "maybe"
/// more often, never "no" wrongly.
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

    package static let maxBytes = 16 << 20
    /// Keys logged while a build runs at most (8 MiB); past it the build is
    /// given up, and the next run begins another.
    package static let maxLogged = 1 << 20

    package init() {}

    /// Whether a run beginning now should start a build.
    package var needsBuild: Bool { log == nil && (filter == nil || added > capacity) }
    package var isReady: Bool { filter != nil }

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
        log = nil
        generation += 1
    }

    /// A finished scan (nil: it failed): installed with the keys logged
    /// meanwhile, unless a later build or `invalidate` came since it began.
    package func install(_ scan: Scan?, generation: Int) {
        guard generation == self.generation, let log else { return }
        guard let scan else {
            self.log = nil  // the next run begins another build
            return
        }
        var built = scan.filter
        for hash in log { built.insert(hash) }
        filter = built
        added = scan.keys + log.count
        capacity = scan.capacity
        self.log = nil
    }

    package func insert(_ kind: UInt8, _ key: UnsafeRawBufferPointer) {
        let hash = KeyHash.of(kind, key)
        if filter != nil {
            filter!.insert(hash)
            added += 1
        } else if log != nil {
            if log!.count >= Self.maxLogged {
                invalidate()
            } else {
                log!.append(hash)
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
        /// on a connection of its own.
        package static func read(path: String) throws -> Scan {
            let db = try Connection(path: path)
            try Schema.configure(db, writer: false)
            // A read transaction (DEFERRED): one snapshot, and the writer never waits for it.
            return try db.transaction(.deferred) {
                let stored = try db.scalar("SELECT sum(keys) FROM key_tiers") ?? 0
                var scan = Scan(capacity: max(1 << 20, Int(stored) * 2))
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

extension SQLiteImportStore {
    /// Starts building the filter of existing keys if a run should (called on
    /// the writer's queue when a run begins): the scan runs on a thread of
    /// its own, then the filter is installed on the writer's queue.
    func buildExistingKeysIfNeeded() {
        let state = writerState
        guard state.existingKeys.needsBuild else { return }
        let generation = state.existingKeys.beginBuild()
        let path = self.path
        let writer = self.writer
        DispatchQueue.global(qos: .utility).async {
            // On failure the filter stays unbuilt (look-ups probe, as without
            // one) until the next run begins.
            let scan = try? ExistingKeys.Scan.read(path: path)
            Task { try? await writer.run { _ in state.existingKeys.install(scan, generation: generation) } }
        }
    }
}
