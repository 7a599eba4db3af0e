import ImportEngine
import ImportStorePostgres
import PostgresTestSupport
import Testing

/// What several replicas on one PostgreSQL database rely on, with two stores
/// as two replicas: claims, leases, fencing, requested stops, notifications.
/// A lease of zero has expired as soon as it is written, so takeover needs no
/// waiting.
@Suite struct PostgresReplicaTests {
    static let at = WallTime(seconds: 1_767_607_620)

    /// Two replicas on one new database; the first creates a QUEUED import.
    private func twoReplicas(leaseA: Duration = .seconds(60), leaseB: Duration = .seconds(60)) async throws
        -> (a: PostgresImportStore, b: PostgresImportStore, id: Int64)
    {
        let a = try await postgresStore { $0.lease = leaseA; $0.replica = "replica-a" }
        let conninfo = a.conninfo
        var configuration = PostgresStoreConfiguration(conninfo: conninfo)
        configuration.lease = leaseB
        configuration.replica = "replica-b"
        configuration.connections = 2
        let b = try await openStore(configuration)
        let job = try await a.createImport(NewImport(
            fileName: "f.csv", kind: .contact, subscriptionIDs: [], onDuplicate: .update, columnMap: [:], ignoreUnknownColumns: false,
            validateOnly: false, encoding: .utf8, sha256: "00", bytes: 10, totalRows: 1, spoolName: "s.csv", header: ["email"],
            delimiter: 44, dataOffset: 6, createdAt: Self.at))
        return (a, b, job.id)
    }

    private func emptyBatch(at offset: Int64) -> RowBatch {
        var batch = RowBatch()
        batch.nextOffset = offset
        return batch
    }

    @Test func aQueuedImportIsClaimedByOneReplicaOnly() async throws {
        let (a, b, id) = try await twoReplicas()
        defer { a.close(); b.close() }
        async let first = a.claim(id: id, at: Self.at)
        async let second = b.claim(id: id, at: Self.at)
        let claims = try await [first, second]
        #expect(claims.compactMap { $0 }.count == 1, "exactly one claim wins")
        #expect(claims.compactMap { $0 }.first?.state == .running)
        #expect(try await a.abandonedRuns().isEmpty, "a live lease is nobody's to take")
    }

    @Test func anExpiredLeaseIsTakenOverAndTheOldRunnerIsFencedOff() async throws {
        let (a, b, id) = try await twoReplicas(leaseA: .zero)
        defer { a.close(); b.close() }
        let claimed = try #require(try await a.claim(id: id, at: Self.at))
        #expect(try await b.abandonedRuns() == [id])
        let taken = try #require(try await b.claim(id: id, at: Self.at), "an expired lease is taken over")
        #expect(taken.state == .running)
        // A's next batch, and its completion, are refused: the run is B's now.
        await #expect(throws: StoreError.claimLost(id)) { try await a.applyBatch(emptyBatch(at: 6), job: claimed, at: Self.at) }
        await #expect(throws: StoreError.claimLost(id)) { try await a.transition(id: id, event: .complete, error: nil, at: Self.at) }
        #expect(try await a.renewClaim(id: id) == false)
        let applied = try await b.applyBatch(emptyBatch(at: 10), job: taken, at: Self.at)
        #expect(applied.checkpointOffset == 10)
        #expect(try await b.renewClaim(id: id))
    }

    @Test func aStopAskedThroughAnotherReplicaReachesTheRunnerAtItsNextBatch() async throws {
        let (a, b, id) = try await twoReplicas()
        defer { a.close(); b.close() }
        let running = try #require(try await a.claim(id: id, at: Self.at))
        #expect(try await a.requestStop(id: id, event: .pause) == false, "the runner stops its own run directly")
        // B may not move a run A holds; it asks.
        await #expect(throws: StoreError.claimLost(id)) { try await b.transition(id: id, event: .pause, error: nil, at: Self.at) }
        #expect(try await b.requestStop(id: id, event: .pause))
        #expect(try await b.requestStop(id: id, event: .cancel))
        #expect(try await b.requestStop(id: id, event: .pause), "cancel, once asked, is not weakened to pause")
        let next = try await a.applyBatch(emptyBatch(at: 8), job: running, at: Self.at)
        #expect(next.stopRequested == .cancel)
        let cancelled = try await a.transition(id: id, event: .cancel, error: nil, at: Self.at)
        #expect(cancelled.job.state == .cancelled && cancelled.job.stopRequested == nil)
        #expect(try await b.requestStop(id: id, event: .pause) == false, "nothing runs any more")
    }

    @Test func changesOnOneReplicaReachTheOthersListenersOnly() async throws {
        let (a, b, id) = try await twoReplicas()
        defer { a.close(); b.close() }
        let heardByB = try #require(b.changes())
        let heardByA = try #require(a.changes())
        // The listeners connect in the background: keep changing until B hears.
        let deadline = ContinuousClock.now + .seconds(20)
        var received: Int64?
        var iterator = heardByB.makeAsyncIterator()
        let changer = Task {
            var event = ImportEvent.pause
            while !Task.isCancelled && ContinuousClock.now < deadline {
                _ = try? await a.transition(id: id, event: event, error: nil, at: Self.at)
                event = event == .pause ? .resume : .pause
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
        received = await iterator.next()
        changer.cancel()
        #expect(received == id)
        // A's own changes are not echoed back to A; B's are.
        var fromA = heardByA.makeAsyncIterator()
        let echo = Task { await fromA.next() }
        _ = try await b.transition(id: id, event: .cancel, error: nil, at: Self.at)
        let heard = await withTaskGroup(of: Int64?.self) { group in
            group.addTask { await echo.value }
            group.addTask {
                try? await Task.sleep(for: .seconds(20))
                return nil
            }
            defer { group.cancelAll() }
            return await group.next() ?? nil
        }
        #expect(heard == id)
    }
}

/// Uploads on PostgreSQL: pages stored as the bytes arrive, readable by any
/// replica, and gone with an upload that ends without an import.
@Suite struct PostgresSpoolTests {
    /// Rows enough for `bytes` of CSV.
    private func csv(bytes: Int) -> [UInt8] {
        var text = "first_name,last_name,email\n"
        var i = 0
        while text.utf8.count < bytes {
            text += "First\(i),Last\(i),spool\(i)@example.org\n"
            i += 1
        }
        return Array(text.utf8)
    }

    @Test func pagesAreStoredAsTheUploadArrivesAndAnotherReplicaReadsTheFile() async throws {
        let a = try await ImporterHarness(.postgres)
        defer { a.remove() }
        let bytes = csv(bytes: 2_600_000)
        var request = UploadRequest()
        request.fileName = "big.csv"
        let session = try await a.importer.beginUpload(request)
        for start in stride(from: 0, to: 2_200_000, by: 100_000) {
            try await session.append(Array(bytes[start..<min(start + 100_000, bytes.count)]))
        }
        #expect(try await a.count("spool_pages") == 2, "two whole pages before the upload ends")
        try await session.append(Array(bytes[2_200_000...]))
        let job = try await session.finish()
        #expect(try await a.count("spool_pages") == 3)
        // A second replica, with an empty spool directory, reads rows back.
        var configuration = PostgresStoreConfiguration(conninfo: a.postgres!.conninfo)
        configuration.replica = "replica-b"
        configuration.connections = 2
        let b = try await ImporterHarness(.postgres, postgres: try await openStore(configuration))
        defer { b.remove() }
        try await b.tick()
        let done = try await b.job(job.id)
        #expect(done.state == .completed && done.created == done.totalRows)
        let rows = try await b.importer.rows(job.publicID, outcome: nil, pageSize: 2, pageToken: "").rows
        #expect(rows.first?.values == ["First0", "Last0", "spool0@example.org"])
        await b.close()
        await a.close()
    }

    @Test func anUploadRefusedAtItsEndLeavesNoPages() async throws {
        let h = try await ImporterHarness(.postgres)
        defer { h.remove() }
        let bytes = csv(bytes: 1_500_000)
        await #expect(throws: ImportError.self) {
            _ = try await h.upload(bytes: bytes, chunkSize: 200_000) { $0.sha256 = String(repeating: "0", count: 64) }
        }
        #expect(try await h.count("spool_pages") == 0)
        #expect(try await h.count("imports") == 0)
        await h.close()
    }
}
