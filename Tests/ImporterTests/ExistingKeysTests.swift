import ImportEngine
import ImportStoreSQLite
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
        #expect(keys.needsBuild && !keys.isReady)
        #expect(key("anyone@example.org") { keys.mayContain(1, $0) }, "without a filter, every key may be there")
        let generation = keys.beginBuild()
        #expect(!keys.needsBuild, "one build at a time")
        insert(keys, "added@example.org")  // committed after the scan's snapshot began
        var scan = ExistingKeys.Scan(capacity: 1 << 20)
        var seen = "scanned@example.org"
        seen.withUTF8 { scan.filter.insert(KeyHash.of(1, UnsafeRawBufferPointer($0))) }
        scan.keys = 1
        keys.install(scan, generation: generation)
        #expect(keys.isReady && !keys.needsBuild)
        #expect(key("added@example.org") { keys.mayContain(1, $0) })
        #expect(key("scanned@example.org") { keys.mayContain(1, $0) })
        #expect(!key("never@example.org") { keys.mayContain(1, $0) })
        insert(keys, "later@example.org")
        #expect(key("later@example.org") { keys.mayContain(1, $0) })
    }

    @Test func aScanOverTakenByAnInvalidationIsNotInstalled() {
        let keys = ExistingKeys()
        let generation = keys.beginBuild()
        keys.invalidate()  // a revert gave keys back without logging them
        keys.install(ExistingKeys.Scan(capacity: 1 << 20), generation: generation)
        #expect(!keys.isReady && keys.needsBuild)
        #expect(key("restored@example.org") { keys.mayContain(1, $0) })
    }

    @Test func aFailedScanOrAnOverlongLogLeavesItToTheNextRun() {
        let keys = ExistingKeys()
        keys.install(nil, generation: keys.beginBuild())
        #expect(keys.needsBuild && !keys.isReady, "a failed scan: the next run builds again")
        let generation = keys.beginBuild()
        for i in 0...ExistingKeys.maxLogged { insert(keys, "k\(i)@example.org") }
        #expect(keys.needsBuild, "the log is bounded: past it the build is given up")
        keys.install(ExistingKeys.Scan(capacity: 1 << 20), generation: generation)
        #expect(!keys.isReady)
    }
}
