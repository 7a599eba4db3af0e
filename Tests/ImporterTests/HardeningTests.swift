import Foundation
import ImportEngine
import Platform
import Testing

/// What careless or hostile files must not do (issue: hardening).
@Suite struct HardeningTests {
    func refusal(_ h: ImporterHarness, _ bytes: [UInt8], chunk: Int = 1 << 20) async -> ImportError? {
        do {
            _ = try await h.upload(bytes: bytes, chunkSize: chunk)
            return nil
        } catch {
            return error as? ImportError
        }
    }

    @Test func aHugeHeaderCellIsRefusedInMilliseconds() async throws {
        let h = try await ImporterHarness()
        defer { h.remove() }
        let started = ContinuousClock.now
        let cell = String(repeating: "x", count: 200_000)
        let error = await refusal(h, Array("first_name,last_name,email,\(cell)\nA,B,a@example.org,1\n".utf8))
        #expect(error?.description.hasPrefix("the header row is 200027 bytes long, more than the limit of 65536") == true)
        let longName = String(repeating: "Loyalty ", count: 5_000)  // 40 kB, under the line limit
        let named = await refusal(h, Array("first_name,last_name,email,\(longName)\nA,B,a@example.org,1\n".utf8))
        #expect(named?.description.contains("maps to no contact field; map it") == true)
        // Not a speed target (those are benchmarks): a guard against the quadratic
        // suggestion search this once ran into (minutes), loose enough for a busy machine.
        #expect(ContinuousClock.now - started < .seconds(20))
        await h.close()
    }

    @Test func tooManyColumnsAndTheirProblemsAreBounded() async throws {
        let h = try await ImporterHarness()
        defer { h.remove() }
        let wide = (0..<1001).map { "c\($0)" }.joined(separator: ",")
        let tooWide = await refusal(h, Array("first_name,last_name,email,\(wide)\nA,B,a@example.org\n".utf8))
        #expect(tooWide?.description == "the header row has 1004 columns, more than the limit of 1000")
        let unknown = (0..<900).map { "Unknown Column \($0)" }.joined(separator: ",")
        let many = await refusal(h, Array("first_name,last_name,email,\(unknown)\nA,B,a@example.org\n".utf8))
        let text = try #require(many?.description)
        #expect(text.hasSuffix("; and 880 more problems"))
        #expect(text.utf8.count < 4096)
        guard case .invalidArgument(_, let violations)? = many else { Issue.record("not INVALID_ARGUMENT"); return }
        #expect(violations.count == 900, "every problem is counted; the service sends the first 20")
        await h.close()
    }

    @Test func formulasAreNeutralizedInTheExportAndRestoredOnReupload() async throws {
        let h = try await ImporterHarness()
        defer { h.remove() }
        let formulas = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3", "\tTabbed"]
        var csv = "first_name,last_name,email\n"
        for (i, formula) in formulas.enumerated() {
            csv += "\(CSVWriter.escape(formula)),Last\(i),not-an-email-\(i)\n"
        }
        let job = try await h.upload(csv)
        try await h.tick()
        #expect(try await h.job(job.id).failed == 5)
        var exported: [UInt8] = []
        try await h.importer.exportErrors(job.publicID) { exported += $0 }
        let text = String(decoding: exported, as: UTF8.self)
        for formula in formulas {
            #expect(text.contains("'" + formula) || text.contains(CSVWriter.escape("'" + formula)), "\(formula) not neutralized")
        }
        #expect(!text.contains(",=") && !text.contains("\n=") && !text.contains("\n+") && !text.contains("\n@"))
        // Fix the emails and upload the export as it is (its error column is ignored).
        var fixed = text
        for i in 0..<formulas.count { fixed = fixed.replacingOccurrences(of: "not-an-email-\(i)", with: "fixed\(i)@example.org") }
        let again = try await h.upload(fixed)
        try await h.tick()
        #expect(try await h.job(again.id).created == 5)
        #expect(try await h.contact(email: "fixed0@example.org")?.fields[.firstName] == formulas[0])
        #expect(try await h.contact(email: "fixed1@example.org")?.fields[.firstName] == formulas[1])
        #expect(try await h.contact(email: "fixed3@example.org")?.fields[.firstName] == "-2+3")
        await h.close()
    }

    @Test func aGiantFieldIsARowErrorAndMemoryStaysBounded() async throws {
        let h = try await ImporterHarness()
        defer { h.remove() }
        let giant = String(repeating: "n", count: 3 << 20)
        let csv = "first_name,last_name,email,notes\nA,One,a1@example.org,ok\nB,Two,b2@example.org,\(giant)\nC,Three,c3@example.org,ok\n"
        let job = try await h.upload(csv, chunkSize: 64 << 10)
        #expect(job.totalRows == 3)
        try await h.tick()
        let done = try await h.job(job.id)
        #expect(done.created == 2 && done.failed == 1)
        let failed = try await h.importer.rows(job.publicID, outcome: .failed, pageSize: 0, pageToken: "").rows
        #expect(failed.first?.record.errors.first?.code == .malformedRow)
        #expect(failed.first?.record.errors.first?.message == "the row is longer than 1024 KiB; it was not read")
        #expect((failed.first?.values.first?.utf8.count ?? 0) <= 256)
        await h.close()
    }

    @Test func aRowsPageIsBoundedInBytes() async throws {
        let h = try await ImporterHarness()
        defer { h.remove() }
        let long = String(repeating: "v", count: 600 << 10)
        var csv = "first_name,last_name,email,notes\n"
        for i in 0..<6 { csv += "F\(i),L\(i),p\(i)@example.org,\(long)\n" }
        let job = try await h.upload(csv, chunkSize: 256 << 10)
        try await h.tick()
        var pages: [Int] = []
        var token = ""
        repeat {
            let page = try await h.importer.rows(job.publicID, outcome: nil, pageSize: 100, pageToken: token)
            let bytes = page.rows.reduce(0) { $0 + $1.values.reduce(0) { $0 + $1.utf8.count } }
            #expect(bytes <= Importer.maxRowPageBytes)
            pages.append(page.rows.count)
            token = page.nextPageToken
        } while !token.isEmpty
        #expect(pages.reduce(0, +) == 6 && pages.count >= 2)
        await h.close()
    }
}

@Suite struct SpoolLimitTests {
    @Test func concurrentUploadsAreCapped() async throws {
        let h = try await ImporterHarness(configure: { $0.maxConcurrentUploads = 2 })
        defer { h.remove() }
        var first: UploadSession? = try await h.importer.beginUpload(UploadRequest())
        let second = try await h.importer.beginUpload(UploadRequest())
        await #expect {
            _ = try await h.importer.beginUpload(UploadRequest())
        } throws: { error in
            (error as? ImportError)?.description.hasPrefix("2 uploads are streaming already") == true
        }
        first?.abort()
        first = nil
        // The aborted session's slot comes back once its queue lets go of it.
        var third: UploadSession?
        for _ in 0..<1000 where third == nil {
            third = try? await h.importer.beginUpload(UploadRequest())
            if third == nil { try await Task.sleep(for: .milliseconds(2)) }
        }
        #expect(third != nil)
        _ = second
        await h.close()
    }

    @Test func theSpoolQuotaRefusesAndFreesWhatARefusedUploadWrote() async throws {
        let h = try await ImporterHarness(configure: { $0.maxSpoolBytes = 4000 })
        defer { h.remove() }
        let small = try await h.upload(contactsCSV(20), chunkSize: 500)
        #expect(small.bytes < 4000)
        await #expect {
            _ = try await h.upload(contactsCSV(200, start: 100), chunkSize: 500)
        } throws: { error in
            (error as? ImportError)?.description.hasPrefix("the server's upload space is full") == true
        }
        #expect(try FileSystem.list(h.directory + "/spool").count == 1, "only the first upload's file")
        // What the refused upload wrote was given back: a file that fits the rest still goes in.
        _ = try await h.upload(contactsCSV(10, start: 1000), chunkSize: 500)
        await h.close()
    }

    @Test func theSizeLimitCountsTheBytesStored() async throws {
        let h = try await ImporterHarness(configure: { $0.maxUploadBytes = 1000 })
        defer { h.remove() }
        // 700 bytes of windows-1252 "é" become 1,400 bytes of UTF-8.
        let bytes = Array("first_name,last_name,email\nA,".utf8) + [UInt8](repeating: 0xE9, count: 700) + Array(",a@example.org\n".utf8)
        await #expect {
            _ = try await h.upload(bytes: bytes, chunkSize: 100) { $0.encoding = "windows-1252" }
        } throws: { error in
            (error as? ImportError)?.description == "the file is larger than the limit of 1000 bytes"
        }
        #expect(try FileSystem.list(h.directory + "/spool").isEmpty)
        await h.close()
    }

    @Test func everyCommitIsDurable() async throws {
        let h = try await ImporterHarness()
        defer { h.remove() }
        #expect(try await h.sqlite!.writerSynchronous() == 2, "synchronous=FULL")
        await h.close()
    }
}

@Suite struct FailureMessageTests {
    @Test func aFailedImportSaysWhyWithoutTheServersPaths() async throws {
        let h = try await ImporterHarness()
        defer { h.remove() }
        let job = try await h.upload(contactsCSV(3))
        FileSystem.remove(h.directory + "/spool/" + job.spoolName)
        try await h.tick()
        let failed = try await h.job(job.id)
        #expect(failed.state == .failed)
        #expect(failed.error == "the uploaded file could not be read (No such file or directory)")
        await h.close()
    }
}
