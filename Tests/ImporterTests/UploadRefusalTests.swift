import ImportEngine
import Platform
import Testing

/// A refused upload creates nothing: no import, no spool file.
@Suite struct UploadRefusalTests {
    private func expectNothingCreated(_ h: ImporterHarness) async throws {
        #expect(try await h.store.importJobs(states: [], beforeID: .max, limit: 10).isEmpty)
        #expect(try FileSystem.list(h.directory + "/spool").isEmpty)
    }

    @Test func badHeaderIsRefusedWhileStreamingWithViolations() async throws {
        let h = try await ImporterHarness()
        defer { h.remove() }
        var request = UploadRequest()
        request.fileName = "bad.csv"
        let session = try await h.importer.beginUpload(request)
        do {
            try await session.append(Array("first_name,emial,Frequent Flyer\n".utf8))
            Issue.record("the header should have been refused at its first chunk")
        } catch let error as ImportError {
            guard case .invalidArgument(let message, let violations) = error else { Issue.record("wrong error \(error)"); return }
            #expect(message.contains("emial"))
            #expect(violations.map(\.field).contains("emial"))
            #expect(violations.contains { $0.field == "emial" && $0.description.contains("did you mean email?") })
            #expect(violations.contains { $0.field == "last_name" })
        }
        await #expect(throws: ImportError.self) { try await session.append(Array("more\n".utf8)) }
        try await expectNothingCreated(h)
        await h.close()
    }

    @Test func shaMismatchUnknownCampaignEncodingAndSize() async throws {
        let h = try await ImporterHarness()
        defer { h.remove() }
        await #expect(throws: ImportError.self) {
            _ = try await h.upload(contactsCSV(3)) { $0.sha256 = String(repeating: "0", count: 64) }
        }
        await #expect(throws: ImportError.notFound("campaign cmp_404 does not exist")) {
            _ = try await h.upload(contactsCSV(3)) { $0.originCampaignID = "cmp_404" }
        }
        await #expect(throws: ImportError.notFound("subscription nope does not exist")) {
            _ = try await h.upload(contactsCSV(3)) { $0.subscriptionIDs = ["nope"] }
        }
        await #expect(throws: ImportError.self) {
            _ = try await h.upload(contactsCSV(3)) { $0.encoding = "ebcdic" }
        }
        do {
            let big = Array("first_name,last_name,email\n".utf8) + [UInt8](repeating: 0x61, count: 11 << 20)
            _ = try await h.upload(bytes: big, chunkSize: 1 << 20)
            Issue.record("expected RESOURCE_EXHAUSTED")
        } catch ImportError.resourceExhausted(let message) {
            #expect(message.contains("larger than the limit"))
        }
        await #expect(throws: ImportError.self) { _ = try await h.upload("") }
        try await expectNothingCreated(h)
        await h.close()
    }

    @Test func matchingShaIsAccepted() async throws {
        let h = try await ImporterHarness()
        defer { h.remove() }
        let csv = contactsCSV(3)
        let job = try await h.upload(csv) { $0.sha256 = SHA256.hex(Array(csv.utf8)).uppercased() }
        #expect(job.sha256 == SHA256.hex(Array(csv.utf8)))
        await h.close()
    }

    @Test func abortedUploadLeavesNoFile() async throws {
        let h = try await ImporterHarness()
        defer { h.remove() }
        let session = try await h.importer.beginUpload(UploadRequest())
        try await session.append(Array(contactsCSV(100).utf8))
        session.abort()
        // The abort runs on the session's queue: wait for its file to go.
        for _ in 0..<1000 where !(try FileSystem.list(h.directory + "/spool").isEmpty) {
            try await Task.sleep(for: .milliseconds(1))
        }
        try await expectNothingCreated(h)
        await h.close()
    }

    @Test func orphanSpoolFilesAreRemovedAtStart() async throws {
        let h = try await ImporterHarness()
        defer { h.remove() }
        let job = try await h.upload(contactsCSV(2))
        try FileSystem.writeFile(h.directory + "/spool/upload-orphan.csv", contents: "x")
        try FileSystem.writeFile(h.directory + "/spool/.upload-x.csv.partial", contents: "x")
        await h.close()
        try await h.restart()
        #expect(try FileSystem.list(h.directory + "/spool") == [job.spoolName])
        await h.close()
    }
}
