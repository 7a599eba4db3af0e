import Foundation
import ImportEngine
import ImportStoreSQLite
import Platform
import SQLiteDB
import Testing

/// What a new user met in their first hour (issue: fresh machine and first-hour bugs).
@Suite struct FirstHourTests {
    /// `importd token create` beside a running server: another connection
    /// commits while the server's writer connection idles after a run.
    @Test func writesWorkAfterAnotherProcessCommitted() async throws {
        let h = try await ImporterHarness()
        defer { h.remove() }
        let job = try await h.upload(contactsCSV(20))
        try await h.tick()
        #expect(try await h.job(job.id).state == .completed)
        // What `importd token create` does: its own connection, its own commit.
        let other = try SQLiteImportStore(path: h.directory + "/importd.sqlite")
        _ = try await other.createToken(name: "cli", scope: .write, hash: String(repeating: "a", count: 64), at: h.clock.now())
        // The server's writer must see past that commit.
        _ = try await h.importer.createTag(.campaign, name: "After", code: "")
        let second = try await h.upload(contactsCSV(5, start: 100))
        #expect(second.state == .queued)
        _ = try await other.revokeToken(id: 2, at: h.clock.now())
        try await h.tick()
        #expect(try await h.job(second.id).state == .completed)
        await h.close()
    }

    @Test func aQueueJobLeavesNoStatementStepping() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("stepping-\(UUID().uuidString).sqlite").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let queue = try DatabaseQueue(path: path, label: "t") { try $0.execute("PRAGMA journal_mode=WAL; CREATE TABLE t (x)") }
        let active = queue.runSync { db -> Bool in
            // A statement stepped once and left: as a careless caller would.
            let statement = try! db.cached("SELECT 1 UNION ALL SELECT 2")
            _ = try! statement.step()
            return db.hasActiveStatements
        }
        #expect(active)
        #expect(queue.runSync { $0.hasActiveStatements } == false)
        #expect(queue.runSync { db in (try? db.scalar("SELECT count(*) FROM t")).flatMap { $0 } } == 0)
        #expect(queue.runSync { $0.hasActiveStatements } == false)
    }

    @Test func contactIDsAreNotReusedAfterARevert() async throws {
        let h = try await ImporterHarness()
        defer { h.remove() }
        let first = try await h.upload(contactsCSV(10))
        try await h.tick()
        let last = try #require(try await h.contact(email: "person9@example.org")).id
        _ = try await h.importer.revert(first.publicID)
        #expect(try await h.contactCount() == 0)
        let second = try await h.upload(contactsCSV(3, start: 500))
        try await h.tick()
        #expect(try await h.job(second.id).created == 3)
        let fresh = try #require(try await h.contact(email: "person500@example.org")).id
        #expect(fresh > last, "contact \(fresh) reuses an id the reverted import's rows still name")
        let rows = try await h.store.rows(importID: first.id, outcome: nil, afterRow: 0, limit: 100)
        #expect(Set(rows.compactMap(\.contactID)).isDisjoint(with: [fresh]))
        await h.close()
    }

    @Test func anOlderDatabaseKeepsItsIDsAndNeverReusesThemAfterUpgrade() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("upgrade-\(UUID().uuidString)").path
        try FileSystem.createDirectory(directory)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/importd.sqlite"
        // A database of the first schema: contact 7 was created, then deleted by a revert.
        let old = try Connection(path: path)
        try Migrator.migrate(old, Array(Schema.migrations.prefix(1)))
        try old.execute("""
            INSERT INTO contacts (id, kind, first_name, created_at, updated_at) VALUES (5, 1, 'Kept', 0, 0);
            INSERT INTO import_rows (import_id, row_number, outcome, contact_id, offset) VALUES (1, 1, 1, 5, 0), (1, 2, 1, 7, 10);
            INSERT INTO campaigns (id, name, created_at) VALUES (3, 'Old', 0);
            INSERT INTO contact_keys (kind, key, contact_id) VALUES (1, 'kept@example.org', 5);
            """)
        _ = old  // closed when it goes out of scope
        let store = try SQLiteImportStore(path: path)
        #expect(try await store.contact(id: 5)?.fields[.firstName] == "Kept")
        #expect(try await store.tag(.campaign, id: 3)?.name == "Old")
        let next = try await store.createTag(.campaign, name: "New", code: nil, at: WallTime(seconds: 0))
        #expect(next.id == 4)
        let check = try Connection(path: path)
        #expect(try check.scalar("SELECT seq FROM sqlite_sequence WHERE name = 'contacts'") == 7)
        #expect(try check.scalar("SELECT count(*) FROM sqlite_master WHERE sql LIKE '%AUTOINCREMENT%'") == 5)
        // Its dedup keys are the main tier of the two.
        #expect(try await store.contactIDs(emailKey: "kept@example.org") == [5])
        #expect(try check.scalar("SELECT tier FROM contact_keys WHERE key = 'kept@example.org'") == 0)
        #expect(try check.scalar("SELECT keys FROM key_tiers WHERE tier = 0") == 1)
    }

    /// A new database gets 8 KiB pages; one made with another page size keeps it.
    @Test func aNewDatabaseHasLargerPagesAnOlderOneKeepsItsOwn() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pages-\(UUID().uuidString)").path
        try FileSystem.createDirectory(directory)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try SQLiteImportStore(path: directory + "/new.sqlite")
        #expect(try Connection(path: directory + "/new.sqlite").scalar("PRAGMA page_size") == 8192)
        do {
            let old = try Connection(path: directory + "/old.sqlite")
            try old.execute("PRAGMA page_size=4096; PRAGMA journal_mode=WAL; CREATE TABLE t (x)")
        }
        _ = try SQLiteImportStore(path: directory + "/old.sqlite")
        let check = try Connection(path: directory + "/old.sqlite")
        #expect(try check.scalar("PRAGMA page_size") == 4096)
        #expect(try check.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'import_created_rows'") == 1)
    }

    @Test func aDryRunStartsAtOnceWithoutTheScheduler() async throws {
        let h = try await ImporterHarness()
        defer { h.remove() }
        let job = try await h.upload(contactsCSV(30)) { $0.validateOnly = true }
        // The clock never moves: the 15-minute tick never comes.
        try await h.settle(until: { $0.state == .completed }, id: job.id)
        let done = try await h.job(job.id)
        #expect(done.created == 30 && done.processedRows == 30)
        #expect(try await h.contactCount() == 0)
        await h.close()
    }

    @Test func aDryRunDoesNotWaitForARunningImport() async throws {
        let h = try await ImporterHarness(batchRows: 10, store: { SlowStore($0, delay: .milliseconds(200)) })
        defer { h.remove() }
        let slow = try await h.upload(contactsCSV(200))
        try await h.tick(until: { $0.state == .running }, id: slow.id)
        let dry = try await h.upload(contactsCSV(5, start: 1000)) { $0.validateOnly = true }
        try await h.settle(until: { $0.state == .completed }, id: dry.id, timeout: .seconds(10))
        #expect(try await h.job(slow.id).state == .running, "the dry run finished while the real import still ran")
        _ = try await h.importer.cancel(slow.publicID)
        await h.close()
    }

    @Test func aHeaderOnlyFileIsRefusedAndLeavesNothing() async throws {
        let h = try await ImporterHarness()
        defer { h.remove() }
        for csv in ["first_name,last_name,email\n", "first_name,last_name,email", "first_name,last_name,email\r\n\r\n,,\n"] {
            await #expect {
                _ = try await h.upload(csv)
            } throws: { error in
                (error as? ImportError)?.description == "the file has a header row but no data rows"
            }
        }
        #expect(try FileSystem.list(h.directory + "/spool").isEmpty)
        #expect(try await h.store.importJobs(states: [], beforeID: .max, limit: 10).isEmpty)
        await h.close()
    }

    @Test(arguments: [1, 2, 3, 7, 4096])
    func anExcelFileInWindows1252IsDetectedAndLandsAsWritten(chunkSize: Int) async throws {
        let h = try await ImporterHarness()
        defer { h.remove() }
        // "Jürgen;Müßig;jm@example.de;Köln" as Excel saves it on a Western Windows.
        let text = "first_name;last_name;email;city\r\nJürgen;Müßig;jm@example.de;Köln\r\nZoë;Dœuf;zd@example.fr;Besançon\r\n"
        var bytes: [UInt8] = []
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0..<0x80, 0xA0..<0x100: bytes.append(UInt8(scalar.value))
            case 0x153: bytes.append(0x9C)  // œ
            default: Issue.record("not in windows-1252: \(scalar)")
            }
        }
        let job = try await h.upload(bytes: bytes, chunkSize: chunkSize)
        #expect(job.encoding == .windows1252)
        try await h.tick()
        #expect(try await h.job(job.id).created == 2)
        let jurgen = try #require(try await h.contact(email: "jm@example.de"))
        #expect(jurgen.fields[.firstName] == "Jürgen" && jurgen.fields[.lastName] == "Müßig" && jurgen.fields[.city] == "Köln")
        #expect(try await h.contact(email: "zd@example.fr")?.fields[.lastName] == "Dœuf")
        await h.close()
    }

    @Test func utf8WithOrWithoutABOMIsDetectedAsUTF8() async throws {
        let h = try await ImporterHarness()
        defer { h.remove() }
        let text = "first_name,last_name,email\nSøren,Núñez,sn@example.dk\n"
        let plain = try await h.upload(bytes: Array(text.utf8), chunkSize: 1)
        let bom = try await h.upload(bytes: [0xEF, 0xBB, 0xBF] + Array(text.utf8), chunkSize: 2)
        let ascii = try await h.upload(contactsCSV(2, start: 50))
        #expect(plain.encoding == .utf8 && bom.encoding == .utf8 && ascii.encoding == .utf8)
        try await h.tick()
        #expect(try await h.contact(email: "sn@example.dk")?.fields[.lastName] == "Núñez")
        await h.close()
    }

    @Test func aDeclaredEncodingStillWins() async throws {
        let h = try await ImporterHarness()
        defer { h.remove() }
        let latin1: [UInt8] = Array("first_name,last_name,email\nJ".utf8) + [0xFC] + Array("rgen,X,j@example.de\n".utf8)
        let declared = try await h.upload(bytes: latin1) { $0.encoding = "iso-8859-1" }
        #expect(declared.encoding == .iso88591)
        let header: [UInt8] = Array("first_name,last_name,e".utf8) + [0xFC] + Array("mail\nA,B,a@b.de\n".utf8)
        await #expect {
            _ = try await h.upload(bytes: header) { $0.encoding = "utf-8" }
        } throws: { error in
            (error as? ImportError)?.description.contains("options.encoding says utf-8") == true
        }
        let utf16: [UInt8] = [0xFF, 0xFE] + Array("f\0i\0".utf8)
        await #expect {
            _ = try await h.upload(bytes: utf16)
        } throws: { error in
            (error as? ImportError)?.description.contains("UTF-16") == true
        }
        await h.close()
    }

    @Test func campaignsAndSubscriptionsAreFoundByCodeToo() async throws {
        let h = try await ImporterHarness()
        defer { h.remove() }
        let summer = try await h.importer.createTag(.campaign, name: "Summer 2026", code: "SUMMER26")
        let news = try await h.importer.createTag(.subscription, name: "Newsletter", code: "NEWS")
        let job = try await h.upload(contactsCSV(2)) {
            $0.originCampaignID = "SUMMER26"
            $0.subscriptionIDs = ["NEWS", ResourceKind.subscription.format(news.id)]
        }
        #expect(job.originCampaignID == summer.id && job.subscriptionIDs == [news.id])
        await #expect {
            _ = try await h.upload(contactsCSV(2)) { $0.originCampaignID = "WINTER99" }
        } throws: { error in
            guard case .notFound(let message) = error as? ImportError else { return false }
            return message.hasPrefix("campaign WINTER99 does not exist")
        }
        await h.close()
    }

    @Test func theSameFileTwiceSaysSo() async throws {
        let h = try await ImporterHarness()
        defer { h.remove() }
        let first = try await h.upload(contactsCSV(4))
        let other = try await h.upload(contactsCSV(4, start: 10))
        let again = try await h.upload(contactsCSV(4))
        #expect(first.sameFileAs == nil && other.sameFileAs == nil)
        #expect(again.sameFileAs == first.id)
        #expect(try await h.job(again.id).sameFileAs == first.id)
        await h.close()
    }

    @Test func anUpdateKeepsTheKindUnlessTheUploadSaysOtherwise() async throws {
        let h = try await ImporterHarness()
        defer { h.remove() }
        let leads = try await h.upload(contactsCSV(3)) { $0.kind = .lead }
        #expect(leads.kind == .lead && leads.kindExplicit)
        try await h.tick()
        // No kind given: the update keeps them leads, new rows are contacts.
        let unsaid = try await h.upload("first_name,last_name,email\nNew0,Last0,person0@example.org\nNew,Person,new@example.org\n")
        #expect(!unsaid.kindExplicit)
        try await h.tick()
        #expect(try await h.job(unsaid.id).updated == 1)
        #expect(try await h.contact(email: "person0@example.org")?.kind == .lead)
        #expect(try await h.contact(email: "person0@example.org")?.fields[.firstName] == "New0")
        #expect(try await h.contact(email: "new@example.org")?.kind == .contact)
        // Saying contact turns the lead into a contact.
        _ = try await h.upload("first_name,last_name,email\nA,B,person1@example.org\n") { $0.kind = .contact }
        try await h.tick()
        #expect(try await h.contact(email: "person1@example.org")?.kind == .contact)
        #expect(try await h.contact(email: "person2@example.org")?.kind == .lead)
        await h.close()
    }
}
