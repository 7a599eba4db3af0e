import Foundation
import ImportEngine
import ImportStoreSQLite
import SQLiteDB
import Testing

/// The filter of existing keys while it is built off the writer.
@Suite struct ExistingKeysTests {
    func key(_ text: String, _ body: (UnsafeRawBufferPointer) -> Bool) -> Bool {
        var text = text
        return text.withUTF8 { body(UnsafeRawBufferPointer($0)) }
    }

    func insert(_ keys: ExistingKeys, _ text: String) {
        var text = text
        text.withUTF8 { keys.insert(1, UnsafeRawBufferPointer($0)) }
    }

    @Test func keysAddedWhileItIsBuiltAreInItOnceInstalled() {
        let keys = ExistingKeys()
        #expect(keys.needsBuild() && !keys.isReady)
        #expect(key("anyone@example.org") { keys.mayContain(1, $0) }, "without a filter, every key may be there")
        let generation = keys.beginBuild()
        #expect(!keys.needsBuild(), "one build at a time")
        insert(keys, "added@example.org")  // committed after the scan's snapshot began
        var scan = ExistingKeys.Scan(capacity: 1 << 20)
        var seen = "scanned@example.org"
        seen.withUTF8 { scan.filter.insert(KeyHash.of(1, UnsafeRawBufferPointer($0))) }
        scan.keys = 1
        keys.install(scan, generation: generation)
        #expect(keys.isReady && !keys.needsBuild())
        #expect(key("added@example.org") { keys.mayContain(1, $0) })
        #expect(key("scanned@example.org") { keys.mayContain(1, $0) })
        #expect(!key("never@example.org") { keys.mayContain(1, $0) })
        insert(keys, "later@example.org")
        #expect(key("later@example.org") { keys.mayContain(1, $0) })
        #expect(!keys.isCertainlyEmpty)
    }

    /// Only a filter built over no key, with none added since, lets a run
    /// skip its look-ups.
    @Test func onlyAFilterOfNoKeyIsCertainlyEmpty() {
        let keys = ExistingKeys()
        #expect(!keys.isCertainlyEmpty, "no filter: nothing is known")
        let generation = keys.beginBuild()
        #expect(!keys.isCertainlyEmpty, "a build under way: nothing is known")
        keys.install(ExistingKeys.Scan(capacity: 1 << 20), generation: generation)
        #expect(keys.isCertainlyEmpty)
        insert(keys, "first@example.org")
        #expect(!keys.isCertainlyEmpty)
        let logged = ExistingKeys()
        let again = logged.beginBuild()
        insert(logged, "logged@example.org")  // added while the scan ran
        logged.install(ExistingKeys.Scan(capacity: 1 << 20), generation: again)
        #expect(!logged.isCertainlyEmpty)
    }

    @Test func aScanOverTakenByAnInvalidationIsNotInstalled() {
        let keys = ExistingKeys()
        let generation = keys.beginBuild()
        keys.invalidate()  // a revert gave keys back without logging them
        keys.install(ExistingKeys.Scan(capacity: 1 << 20), generation: generation)
        #expect(!keys.isReady && keys.needsBuild())
        #expect(key("restored@example.org") { keys.mayContain(1, $0) })
    }

    @Test func aFailedScanOrAnOverlongLogLeavesItToTheNextRun() {
        let keys = ExistingKeys()
        keys.install(nil, generation: keys.beginBuild())
        #expect(keys.needsBuild() && !keys.isReady, "a failed scan: the next run builds again")
        let generation = keys.beginBuild()
        for i in 0...ExistingKeys.maxLogged { insert(keys, "k\(i)@example.org") }
        #expect(keys.needsBuild(), "the log is bounded: past it the build is given up")
        keys.install(ExistingKeys.Scan(capacity: 1 << 20), generation: generation)
        #expect(!keys.isReady)
    }

    /// A filter holding `names` (as email keys), installed.
    func readyFilter(_ names: [String]) -> ExistingKeys {
        let keys = ExistingKeys()
        let generation = keys.beginBuild()
        var scan = ExistingKeys.Scan(capacity: 1 << 20)
        for name in names {
            var text = name
            text.withUTF8 { scan.filter.insert(KeyHash.of(1, UnsafeRawBufferPointer($0))) }
        }
        scan.keys = names.count
        keys.install(scan, generation: generation)
        return keys
    }

    /// Saved with the database, a filter comes back bit for bit, but only
    /// while no key was added since (the key tiers' counts say) and in the
    /// format this build writes.
    @Test func aSavedFilterLoadsOnlyWhileNoKeyWasAddedSince() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("keys-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try SQLiteImportStore(path: directory + "/importd.sqlite")  // the schema
        let db = try Connection(path: directory + "/importd.sqlite")
        try db.execute("UPDATE key_tiers SET keys = 2 WHERE main = 1")

        #expect(try !ExistingKeys().load(db), "nothing saved yet")
        try readyFilter(["a@example.org", "b@example.org"]).save(db)
        let loaded = ExistingKeys()
        #expect(try loaded.load(db) && loaded.isReady && !loaded.needsBuild())
        #expect(key("a@example.org") { loaded.mayContain(1, $0) } && key("b@example.org") { loaded.mayContain(1, $0) })
        #expect(!key("c@example.org") { loaded.mayContain(1, $0) })

        try db.execute("UPDATE key_tiers SET keys = keys + 1 WHERE main = 0")  // a key added, the filter not saved
        #expect(try !ExistingKeys().load(db), "a key was added since it was saved")
        try db.execute("UPDATE key_tiers SET keys = keys - 1 WHERE main = 0")
        try db.execute("UPDATE key_filter SET format = format + 1")
        #expect(try !ExistingKeys().load(db), "another format")

        let building = ExistingKeys()
        _ = building.beginBuild()
        try building.save(db)
        #expect(try db.scalar("SELECT format FROM key_filter") != 1, "a filter being built is not saved")
    }

    /// A clean stop saves the filter and the next start uses it, without a
    /// scan; keys added by a process that then stopped without saving it make
    /// it unusable, and the next start finds them (by a scan).
    @Test func aRestartUsesTheSavedFilterUnlessKeysWereAddedSince() async throws {
        let first = try await ImporterHarness(.sqlite)
        defer { first.remove() }
        _ = try await first.upload(contactsCSV(300))
        try await first.tick()
        await first.close()
        let db = try Connection(path: first.directory + "/importd.sqlite")
        #expect(try db.scalar("SELECT keys FROM key_filter") == 300)

        let second = try await ImporterHarness(.sqlite, directory: first.directory, clock: first.clock)
        let state = try await second.sqlite!.existingKeysState()
        #expect(state.ready && !state.building, "installed at start, no scan")
        let same = try await second.upload(contactsCSV(300))
        try await second.tick()
        let updated = try await second.job(same.id)
        #expect(updated.updated == 300 && updated.created == 0)
        _ = try await second.upload(contactsCSV(1, start: 5000))  // one key more; then no clean stop
        try await second.tick()
        #expect(try db.scalar("SELECT stamp FROM key_filter") == 300)

        // A clock of its own: `second` (not stopped) must not take the next tick's import.
        let third = try await ImporterHarness(.sqlite, directory: first.directory, clock: ManualClock(now: second.clock.now()))
        let again = try await third.upload(contactsCSV(1, start: 5000))
        try await third.tick()
        let done = try await third.job(again.id)
        #expect(done.updated == 1 && done.created == 0, "the key added after the filter was saved is found")
        #expect(try await third.contactCount() == 301)
        await third.close()
        #expect(try db.scalar("SELECT stamp FROM key_filter") == 301, "saved again at the clean stop")
    }
}
