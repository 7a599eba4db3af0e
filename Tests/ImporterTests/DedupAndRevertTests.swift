import ImportEngine
import SQLiteDB
import Testing

@Suite struct DedupAndRevertTests {
    @Test(arguments: Backend.allCases) func updateMergesNonEmptyFieldsAndSkipLeavesContactsAlone(_ backend: Backend) async throws {
        let h = try await ImporterHarness(backend)
        defer { h.remove() }
        let first = try await h.upload("external_id,first_name,last_name,email,phone,city\nX1,Ana,Old,ana@example.org,,Lima\n,Bo,Keep,bo@example.org,,Oslo\n")
        try await h.tick()
        // UPDATE (default): matched by external_id and by email (case-insensitively).
        let second = try await h.upload("external_id,first_name,last_name,email,phone,city\nX1,Ana,New,,+51 1 234 5678,Cusco\n,Bo,Keep,BO@EXAMPLE.ORG,,\n,Cy,New,cy@example.org,,\n") {
            $0.kind = .lead
        }
        try await h.tick()
        let done = try await h.job(second.id)
        #expect(done.updated == 2 && done.created == 1)
        let ana = try #require(try await h.contact(email: "ana@example.org"))
        #expect(ana.fields[.firstName] == "Ana" && ana.fields[.lastName] == "New" && ana.fields[.city] == "Cusco")
        #expect(ana.kind == .contact, "an import of leads never turns a contact into a lead")
        #expect(ana.createdByImportID == first.id && ana.updatedByImportID == second.id)
        let bo = try #require(try await h.contact(email: "bo@example.org"))
        #expect(bo.fields[.email] == "bo@example.org" && bo.fields[.city] == "Oslo")
        // SKIP.
        let third = try await h.upload("first_name,last_name,email\nAna,Changed,ANA@example.org\n") { $0.onDuplicate = .skip }
        try await h.tick()
        let skipped = try await h.job(third.id)
        #expect(skipped.skipped == 1 && skipped.updated == 0)
        #expect(try await h.contact(email: "ana@example.org")?.fields[.lastName] == "New")
        let rows = try await h.importer.rows(third.publicID, outcome: .skipped, pageSize: 0, pageToken: "").rows
        #expect(rows.first?.record.contactID == ana.id)
        #expect(try await h.contactCount() == 3)
        await h.close()
    }

    @Test(arguments: Backend.allCases) func keysThatPointAtTwoContactsAreARowError(_ backend: Backend) async throws {
        let h = try await ImporterHarness(backend)
        defer { h.remove() }
        _ = try await h.upload("external_id,first_name,last_name,email\nA,Ann,One,one@example.org\nB,Ben,Two,two@example.org\n")
        try await h.tick()
        let clash = try await h.upload("external_id,first_name,last_name,email\nA,Ann,One,two@example.org\nC,Cat,Three,one@example.org\n")
        try await h.tick()
        let done = try await h.job(clash.id)
        #expect(done.failed == 2 && done.updated == 0)
        let rows = try await h.importer.rows(clash.publicID, outcome: .failed, pageSize: 0, pageToken: "").rows
        #expect(rows.allSatisfy { $0.record.errors.first?.code == .conflictingContact })
        #expect(try await h.contact(email: "one@example.org")?.fields[.externalID] == "A")
        await h.close()
    }

    @Test(arguments: Backend.allCases) func dryRunChecksEverythingAndWritesNoContact(_ backend: Backend) async throws {
        let h = try await ImporterHarness(backend)
        defer { h.remove() }
        _ = try await h.upload("first_name,last_name,email\nAna,One,ana@example.org\n")
        try await h.tick()
        let dry = try await h.upload("first_name,last_name,email\nAna,Two,ana@example.org\nNew,Person,new@example.org\nBad,,x@example.org\n") {
            $0.validateOnly = true
        }
        // A dry run starts at once: no tick.
        try await h.settle(until: { $0.state.isTerminal }, id: dry.id)
        let done = try await h.job(dry.id)
        #expect(done.state == .completed && done.validateOnly)
        #expect(done.updated == 1 && done.created == 1 && done.failed == 1)
        #expect(try await h.contactCount() == 1)
        #expect(try await h.contact(email: "ana@example.org")?.fields[.lastName] == "One")
        let rows = try await h.importer.rows(dry.publicID, outcome: nil, pageSize: 0, pageToken: "").rows
        #expect(rows[1].record.outcome == .created && rows[1].record.contactID == nil)
        await #expect(throws: ImportError.self) { _ = try await h.importer.revert(dry.publicID) }
        await h.close()
    }

    @Test(arguments: Backend.allCases) func revertDeletesCreatedRestoresUpdatedKeepsLaterTouchedAndRemovesSubscriptions(_ backend: Backend) async throws {
        let h = try await ImporterHarness(backend)
        defer { h.remove() }
        let list = try await h.importer.createTag(.subscription, name: "Newsletter", code: "news")
        let base = try await h.upload("first_name,last_name,email,city\nOld,Timer,old@example.org,Rome\n")
        try await h.tick()
        let wrong = try await h.upload("first_name,last_name,email,city\nOld,Changed,old@example.org,Paris\nNew,One,new1@example.org,\nNew,Two,new2@example.org,\n") {
            $0.subscriptionIDs = [ResourceKind.subscription.format(list.id)]
        }
        try await h.tick()
        #expect(try await h.contact(email: "old@example.org")?.subscriptionIDs == [list.id])
        // A later import touches new2.
        let later = try await h.upload("first_name,last_name,email\nNew,Two-Touched,new2@example.org\n")
        try await h.tick()
        let reverted = try await h.importer.revert(wrong.publicID)
        #expect(reverted.state == .reverted)
        #expect(reverted.revertedRows == 2 && reverted.revertKeptRows == 1)
        #expect(reverted.error?.contains("1 row was left in place") == true)
        let old = try #require(try await h.contact(email: "old@example.org"))
        #expect(old.fields[.lastName] == "Timer" && old.fields[.city] == "Rome")
        #expect(old.updatedByImportID == nil && old.subscriptionIDs.isEmpty)
        #expect(try await h.contact(email: "new1@example.org") == nil)
        let kept = try #require(try await h.contact(email: "new2@example.org"))
        #expect(kept.fields[.lastName] == "Two-Touched" && kept.subscriptionIDs.isEmpty)
        let rows = try await h.importer.rows(wrong.publicID, outcome: nil, pageSize: 0, pageToken: "").rows
        #expect(rows.filter(\.record.revertKept).map(\.record.rowNumber) == [3])
        // Reverting twice, or a QUEUED import, is refused.
        await #expect(throws: ImportError.self) { _ = try await h.importer.revert(wrong.publicID) }
        let queued = try await h.upload(contactsCSV(1))
        await #expect(throws: ImportError.self) { _ = try await h.importer.revert(queued.publicID) }
        // Reverting the later import then the base restores in order.
        _ = try await h.importer.revert(later.publicID)
        _ = try await h.importer.revert(base.publicID)
        #expect(try await h.contact(email: "old@example.org") == nil)
        await h.close()
    }

    @Test(arguments: Backend.allCases) func inFileDuplicatesByExternalIDAndEmail(_ backend: Backend) async throws {
        let h = try await ImporterHarness(backend)
        defer { h.remove() }
        let job = try await h.upload("""
            external_id,first_name,last_name,email
            E1,A,One,a@example.org
            E1,B,Two,b@example.org
            ,C,Three,A@Example.org
            ,D,Four,
            E2,,Five,a@example.org
            E3,F,Six,a2@example.org

            """)
        try await h.tick()
        let rows = try await h.importer.rows(job.publicID, outcome: nil, pageSize: 0, pageToken: "").rows
        #expect(rows.map(\.record.outcome) == [.created, .failed, .failed, .failed, .failed, .created])
        #expect(rows[1].record.errors.first?.message == "same external_id as row 1")
        #expect(rows[2].record.errors.first?.message == "same email as row 1")
        #expect(rows[3].record.errors.first?.code == .missingRequired)
        // Row 5 failed validation, so it is no first occurrence for later rows either.
        #expect(rows[4].record.errors.first?.code == .missingRequired)
        await h.close()
    }

    /// A file far larger than the memory the run may use for its keys: in-file
    /// keys spill to scratch runs (every 50 keys) and the new contacts' keys
    /// too (SQLite: a run every two batches, the last batch left in memory),
    /// with the same outcomes as in memory.
    @Test(arguments: Backend.allCases) func inFileDuplicatesAndNewKeysSpillToDiskWithTheSameOutcomes(_ backend: Backend) async throws {
        let h = try await ImporterHarness(backend, batchRows: 100, sqliteRunKeyMemory: 16 << 10) { $0.inFileKeysInMemory = 50 }
        defer { h.remove() }
        // Every 7th row repeats the email of row i-5 (other letter case), every
        // 11th the external_id of row i-10, every 13th lacks a last name.
        var csv = "external_id,first_name,last_name,email\n"
        var expected: [(outcome: RowOutcome, message: String?)] = []
        var externalIDs: [String: Int] = [:]
        var emails: [String: Int] = [:]
        for i in 1...3_050 {
            let externalID = i % 11 == 0 ? "X\(i - 10)" : "X\(i)"
            let email = i % 7 == 0 ? "P\(i - 5)@Example.org" : "p\(i)@example.org"
            let lastName = i % 13 == 0 ? "" : "Last\(i)"
            csv += "\(externalID),First\(i),\(lastName),\(email)\n"
            if lastName.isEmpty {
                expected.append((.failed, nil))
            } else if let row = externalIDs[externalID] {
                expected.append((.failed, "same external_id as row \(row)"))
            } else if let row = emails[email.lowercased()] {
                expected.append((.failed, "same email as row \(row)"))
            } else {
                externalIDs[externalID] = i
                emails[email.lowercased()] = i
                expected.append((.created, nil))
            }
        }
        let created = expected.filter { $0.outcome == .created }.count
        let job = try await h.upload(csv, chunkSize: 64 << 10)
        try await h.tick()
        let done = try await h.job(job.id)
        #expect(done.state == .completed && done.created == Int64(created) && done.failed == Int64(3_050 - created))
        var rows: [Importer.RowView] = []
        var token = ""
        repeat {
            let page = try await h.importer.rows(job.publicID, outcome: nil, pageSize: 1_000, pageToken: token)
            rows += page.rows
            token = page.nextPageToken
        } while !token.isEmpty
        #expect(rows.count == 3_050)
        for (row, want) in zip(rows, expected) where row.record.outcome != want.outcome
            || (want.message != nil && row.record.errors.first?.message != want.message) {
            let message = row.record.errors.first?.message ?? ""
            Issue.record("row \(row.record.rowNumber): \(row.record.outcome) \(message) instead of \(want.outcome) \(want.message ?? "")")
        }
        if backend == .sqlite {
            // Every new contact's two keys, written once (the key is unique).
            #expect(try await h.count("contact_keys") == Int64(2 * created))
        }
        // The same file again: every first occurrence finds its contact.
        let again = try await h.upload(csv, chunkSize: 64 << 10)
        try await h.tick()
        let second = try await h.job(again.id)
        #expect(second.created == 0 && second.updated == Int64(created))
        #expect(try await h.contactCount() == Int64(created))
        await h.close()
    }

    /// Keys an update gives a contact (a new email, a first external_id) are
    /// found by the next import of the same process: SQLite skips look-ups its
    /// filter of existing keys rules out, and that filter must hold them.
    @Test(arguments: Backend.allCases) func keysGivenByAnUpdateAreFoundByTheNextImport(_ backend: Backend) async throws {
        let h = try await ImporterHarness(backend)
        defer { h.remove() }
        _ = try await h.upload("external_id,first_name,last_name,email\nE1,Ann,One,old@example.org\n,Bo,Two,bo@example.org\n")
        try await h.tick()
        let update = try await h.upload("external_id,first_name,last_name,email\nE1,Ann,One,new@example.org\nX9,Bo,Two,bo@example.org\n")
        try await h.tick()
        #expect(try await h.job(update.id).updated == 2)
        let third = try await h.upload("external_id,first_name,last_name,email\n,Ann,Three,NEW@example.org\nX9,Bo,Three,other@example.org\n")
        try await h.tick()
        let done = try await h.job(third.id)
        #expect(done.updated == 2 && done.created == 0)
        #expect(try await h.contactCount() == 2)
        #expect(try await h.contact(email: "new@example.org")?.fields[.lastName] == "Three")
        await h.close()
    }

    /// A revert gives a contact its old email back: after a restart the filter
    /// of existing keys was built without it, so the revert must drop it.
    @Test func aKeyARevertGivesBackIsFoundAfterARestart() async throws {
        let first = try await ImporterHarness(.sqlite)
        defer { first.remove() }
        _ = try await first.upload("external_id,first_name,last_name,email\nC1,Cy,One,cy@example.org\n")
        try await first.tick()
        let change = try await first.upload("external_id,first_name,last_name,email\nC1,Cy,One,cy2@example.org\n")
        try await first.tick()
        await first.close()
        // A new process on the same data; its first run builds the filter (without cy@).
        let h = try await ImporterHarness(.sqlite, directory: first.directory, clock: first.clock)
        _ = try await h.upload("first_name,last_name,email\nDee,Two,dee@example.org\n")
        try await h.tick()
        _ = try await h.importer.revert(change.publicID)
        #expect(try await h.contact(email: "cy@example.org")?.fields[.externalID] == "C1")
        let again = try await h.upload("first_name,last_name,email\nCy,Three,CY@example.org\n")
        try await h.tick()
        let done = try await h.job(again.id)
        #expect(done.state == .completed && done.updated == 1 && done.created == 0)
        #expect(try await h.contactCount() == 2)
        await h.close()
    }

    /// A database whose empty recent tier comes before the main one in the
    /// key B-tree (as merges left it before) has it moved past the main one
    /// when a run adds keys; both tiers' keys are found.
    @Test func anEmptyRecentTierBeforeTheMainOneMovesPastIt() async throws {
        let h = try await ImporterHarness(.sqlite)
        defer { h.remove() }
        _ = try await h.upload(contactsCSV(50))
        try await h.tick()
        let db = try Connection(path: h.directory + "/importd.sqlite")
        // Main tier 1 holding the 50 keys, recent tier 0 empty.
        try db.execute("UPDATE contact_keys SET tier = 1; UPDATE key_tiers SET tier = tier + 10; UPDATE key_tiers SET tier = 1 WHERE main = 1; UPDATE key_tiers SET tier = 0 WHERE main = 0")
        _ = try await h.upload(contactsCSV(20, start: 40))
        try await h.tick()
        #expect(try db.scalar("SELECT tier FROM key_tiers WHERE main = 0") == 2)
        #expect(try db.scalar("SELECT count(*) FROM contact_keys WHERE tier = 2") == 10, "the 10 new keys, after the main tier")
        let again = try await h.upload(contactsCSV(60))
        try await h.tick()
        let done = try await h.job(again.id)
        #expect(done.updated == 60 && done.created == 0)
        await h.close()
    }

    /// Keys in the main tier and in the recent one are both found; the tiers
    /// merge (the smaller into the larger, which becomes the main one) once the
    /// recent tier holds the floor's keys and a quarter of the main tier's,
    /// and not before.
    @Test func keysInBothTiersAreFoundAndTheRecentTierMergesWhenDue() async throws {
        let h = try await ImporterHarness(.sqlite, sqliteKeyTierMergeFloor: 100)
        defer { h.remove() }
        let db = try Connection(path: h.directory + "/importd.sqlite")
        /// Keys in the main tier, then in the recent one.
        func tiers() throws -> [Int64] {
            let main = try db.scalar("SELECT tier FROM key_tiers WHERE main = 1") ?? -1
            let recent = try db.scalar("SELECT tier FROM key_tiers WHERE main = 0") ?? -1
            #expect(recent > main, "the recent tier's keys go to the end of the B-tree")
            return try [main, recent].map { try db.scalar("SELECT count(*) FROM contact_keys WHERE tier = ?", [.integer($0)]) ?? -1 }
        }
        _ = try await h.upload(contactsCSV(400))
        try await h.tick()
        #expect(try tiers() == [400, 0], "400 recent keys against an empty main tier: they are the main tier now")
        #expect(try db.scalar("SELECT tier FROM key_tiers WHERE main = 1") == 1, "the tiers swapped roles: nothing was copied")
        #expect(try db.scalar("SELECT tier FROM key_tiers WHERE main = 0") == 2, "the emptied tier is the recent one, after the main one")
        _ = try await h.upload(contactsCSV(50, start: 1000))
        try await h.tick()
        #expect(try tiers() == [400, 50], "50 recent keys: below the floor")
        // Ten keys from each tier, five new.
        let mixed = try await h.upload(contactsCSV(10, start: 390) + contactsCSV(15, start: 1045, header: "").dropFirst())
        try await h.tick()
        let done = try await h.job(mixed.id)
        #expect(done.updated == 15 && done.created == 10, "\(done.updated) updated, \(done.created) created")
        #expect(try tiers() == [400, 60])
        _ = try await h.upload(contactsCSV(100, start: 2000))
        try await h.tick()
        #expect(try tiers() == [560, 0], "160 recent keys: over the floor and a quarter of 400")
        let all = try await h.upload(contactsCSV(5, start: 0) + contactsCSV(5, start: 1000, header: "").dropFirst() + contactsCSV(5, start: 2095, header: "").dropFirst())
        try await h.tick()
        #expect(try await h.job(all.id).updated == 15)
        #expect(try await h.contactCount() == 560)
        await h.close()
    }
}
