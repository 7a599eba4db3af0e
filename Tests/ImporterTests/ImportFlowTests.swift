import ImportEngine
import Platform
import Testing

@Suite struct ImportFlowTests {
    @Test(arguments: Backend.allCases) func uploadQueuesAndTheNextAlignedTickImports(_ backend: Backend) async throws {
        let h = try await ImporterHarness(backend)
        defer { h.remove() }
        let job = try await h.upload(contactsCSV(25))
        #expect(job.state == .queued)
        #expect(job.totalRows == 25)
        #expect(await h.importer.nextRunAt(job) == WallTime(seconds: 1_767_608_100))  // 10:15:00
        try await h.tick()
        let done = try await h.job(job.id)
        #expect(done.state == .completed)
        #expect(done.processedRows == 25 && done.created == 25 && done.failed == 0)
        #expect(done.startedAt == WallTime(seconds: 1_767_608_100))
        #expect(try await h.contactCount() == 25)
        let contact = try #require(try await h.contact(email: "person7@example.org"))
        #expect(contact.fields[.firstName] == "First7")
        #expect(contact.createdByImportID == job.id)
        #expect(await h.importer.nextTick == WallTime(seconds: 1_767_609_000))  // 10:30:00
        await h.close()
    }

    @Test(arguments: Backend.allCases) func schedulerTicksAlignToTheIntervalAndRunInUploadOrder(_ backend: Backend) async throws {
        let h = try await ImporterHarness(backend, interval: .seconds(120))
        defer { h.remove() }
        #expect(await h.importer.nextTick == WallTime(seconds: 1_767_607_680))  // 10:08:00, a multiple of 2 minutes
        let first = try await h.upload(contactsCSV(3))
        let second = try await h.upload(contactsCSV(3, start: 100))
        try await h.tick()
        let a = try await h.job(first.id)
        let b = try await h.job(second.id)
        #expect(a.state == .completed && b.state == .completed)
        #expect(a.finishedAt! <= b.startedAt!)
        await h.close()
    }

    @Test(arguments: Backend.allCases) func nothingRunsBeforeTheTick(_ backend: Backend) async throws {
        let h = try await ImporterHarness(backend)
        defer { h.remove() }
        let job = try await h.upload(contactsCSV(5))
        await h.clock.waitForSleeper()
        h.clock.advance(by: .seconds(60))  // 10:08: not yet
        // The scheduler sleeps on: 10:08 is not its tick, so it was not woken.
        #expect(h.clock.sleeperCount == 1)
        #expect(try await h.job(job.id).state == .queued)
        await h.close()
    }

    @Test(arguments: Backend.allCases) func rowResultsCarryValuesErrorsAndContacts(_ backend: Backend) async throws {
        let h = try await ImporterHarness(backend)
        defer { h.remove() }
        let job = try await h.upload("""
            First Name,Surname,E-mail,Phone,DOB
            Ana,Pérez,ana@example.es,+34 600 111 222,1990-05-01
            Bob,,bob@example.com,,
            Cy,Lee,not-an-email,,
            Dee,Ray,DEE@example.com,,1990-02-30
            Eve,Moss,ana@EXAMPLE.es,,
            "Fay, Jr",O'Hara,fay@example.com,12,

            """)
        try await h.tick()
        let done = try await h.job(job.id)
        #expect(done.totalRows == 6 && done.processedRows == 6)
        #expect(done.created == 1 && done.failed == 5)
        let (header, rows, next) = try await h.importer.rows(job.publicID, outcome: nil, pageSize: 0, pageToken: "")
        #expect(header == ["First Name", "Surname", "E-mail", "Phone", "DOB"])
        #expect(next.isEmpty)
        #expect(rows.map(\.record.rowNumber) == [1, 2, 3, 4, 5, 6])
        #expect(rows[0].record.outcome == .created && rows[0].record.contactID != nil)
        #expect(rows[1].record.errors.map(\.code) == [.missingRequired])
        #expect(rows[1].record.errors.first?.column == "Surname")
        #expect(rows[2].record.errors.map(\.code) == [.invalidEmail])
        #expect(rows[3].record.errors.map(\.code) == [.invalidDate])
        #expect(rows[4].record.errors.map(\.code) == [.duplicateInFile])
        #expect(rows[4].record.errors.first?.message == "same email as row 1")
        #expect(rows[5].values == ["Fay, Jr", "O'Hara", "fay@example.com", "12", ""])
        #expect(rows[5].record.errors.map(\.code) == [.invalidPhone])
        let failedOnly = try await h.importer.rows(job.publicID, outcome: .failed, pageSize: 2, pageToken: "")
        #expect(failedOnly.rows.map(\.record.rowNumber) == [2, 3])
        let page2 = try await h.importer.rows(job.publicID, outcome: .failed, pageSize: 2, pageToken: failedOnly.nextPageToken)
        #expect(page2.rows.map(\.record.rowNumber) == [4, 5])
        await #expect(throws: ImportError.self) {
            _ = try await h.importer.rows(job.publicID, outcome: .created, pageSize: 2, pageToken: failedOnly.nextPageToken)
        }
        let byCode = try await h.importer.summary(job.publicID, by: .errorCode)
        #expect(Dictionary(uniqueKeysWithValues: byCode.map { ($0.key, $0.count) }) == [
            "MISSING_REQUIRED": 1, "INVALID_EMAIL": 1, "INVALID_DATE": 1, "DUPLICATE_IN_FILE": 1, "INVALID_PHONE": 1,
        ])
        let byOutcome = try await h.importer.summary(job.publicID, by: .outcome)
        #expect(byOutcome.map(\.key) == ["CREATED", "FAILED"] && byOutcome.map(\.count) == [1, 5])
        let byColumn = try await h.importer.summary(job.publicID, by: .column)
        #expect(byColumn.first(where: { $0.key == "E-mail" })?.count == 2)
        await h.close()
    }

    @Test(arguments: Backend.allCases) func errorExportIsTheFailedRowsWithAnErrorColumn(_ backend: Backend) async throws {
        let h = try await ImporterHarness(backend)
        defer { h.remove() }
        let job = try await h.upload("first_name,last_name,email\nAna,Ok,ana@example.org\n\"Multi\nLine\",X,bad@\nBo,,bo@example.org\n")
        try await h.tick()
        var csv: [UInt8] = []
        try await h.importer.exportErrors(job.publicID) { csv += $0 }
        let text = String(decoding: csv, as: UTF8.self)
        #expect(text == """
            first_name,last_name,email,error\r
            "Multi
            Line",X,bad@,INVALID_EMAIL (email): ""bad@"" is not a valid email address\r
            Bo,,bo@example.org,MISSING_REQUIRED (last_name): last_name is required\r

            """.replacingOccurrences(of: ",INVALID_EMAIL (email): \"\"bad@\"\" is not a valid email address", with: ",\"INVALID_EMAIL (email): \"\"bad@\"\" is not a valid email address\""))
        await h.close()
    }

    @Test(arguments: Backend.allCases) func windows1252UploadIsStoredAsUTF8(_ backend: Backend) async throws {
        let h = try await ImporterHarness(backend)
        defer { h.remove() }
        var bytes = Array("first_name;last_name;email\n".utf8)
        bytes += [0x4A, 0xFC, 0x72, 0x67, 0x65, 0x6E] + Array(";M".utf8) + [0xFC] + Array("ller;jurgen@example.de\n".utf8)
        let job = try await h.upload(bytes: bytes, chunkSize: 5) { $0.encoding = "windows-1252" }
        #expect(job.delimiter == UInt8(ascii: ";"))
        #expect(job.encoding == .windows1252)
        #expect(job.sha256 == SHA256.hex(bytes))
        try await h.tick()
        let contact = try #require(try await h.contact(email: "jurgen@example.de"))
        #expect(contact.fields[.firstName] == "Jürgen" && contact.fields[.lastName] == "Müller")
        await h.close()
    }

    @Test(arguments: Backend.allCases) func invalidUTF8RowsAreRowErrorsNotTheEndOfTheFile(_ backend: Backend) async throws {
        let h = try await ImporterHarness(backend)
        defer { h.remove() }
        var bytes = Array("first_name,last_name,email\n".utf8)
        bytes += Array("J".utf8) + [0xFC] + Array("rgen,M,j@example.de\nAna,B,ana@example.org\n".utf8)
        // Declared UTF-8 (undeclared, this file would be read as windows-1252).
        let job = try await h.upload(bytes: bytes) { $0.encoding = "utf-8" }
        try await h.tick()
        let done = try await h.job(job.id)
        #expect(done.created == 1 && done.failed == 1, "\(done.state) \(done.error ?? "")")
        let rows = try await h.importer.rows(job.publicID, outcome: .failed, pageSize: 0, pageToken: "").rows
        #expect(rows.first?.record.errors.first?.code == .invalidEncoding)
        await h.close()
    }

    @Test(arguments: Backend.allCases) func blankLinesAreNotDataRows(_ backend: Backend) async throws {
        let h = try await ImporterHarness(backend)
        defer { h.remove() }
        await #expect(throws: ImportError.invalidArgument("the file has a header row but no data rows",
                                                          violations: [FieldViolation(field: "chunk", description: "no data rows after the header")])) {
            _ = try await h.upload("\u{FEFF}first_name,last_name,email\r\n\r\n,,\r\n")
        }
        let job = try await h.upload("\u{FEFF}first_name,last_name,email\r\n\r\n,,\r\nA,B,a@example.org\r\n\r\n")
        #expect(job.totalRows == 1)
        await h.close()
    }
}
