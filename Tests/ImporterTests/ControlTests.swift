import ImportEngine
import Testing

@Suite struct ControlTests {
    /// 500 rows in batches of 20, each batch taking 30 ms: RUNNING for ~0.75 s.
    private func slowHarness(_ backend: Backend) async throws -> ImporterHarness {
        try await ImporterHarness(backend, batchRows: 20, store: { SlowStore($0, delay: .milliseconds(30)) })
    }

    @Test(arguments: Backend.allCases) func pauseStopsAtABatchBoundaryAndResumeContinuesFromTheCheckpoint(_ backend: Backend) async throws {
        let h = try await slowHarness(backend)
        defer { h.remove() }
        let job = try await h.upload(contactsCSV(500))
        try await h.tick(until: { $0.processedRows >= 40 }, id: job.id)
        let start = ContinuousClock.now
        let paused = try await h.importer.pause(job.publicID)
        #expect(ContinuousClock.now - start < .seconds(5), "pause waits for one batch, not for the import")
        #expect(paused.state == .paused)
        #expect(paused.processedRows % 20 == 0 && paused.processedRows < 500)
        #expect(paused.checkpointRow == paused.processedRows)
        #expect(try await h.importer.pause(job.publicID).state == .paused, "pausing again is a no-op")
        // pause returned once the run had ended: nothing moves after it.
        #expect(try await h.job(job.id).processedRows == paused.processedRows)
        let resumed = try await h.importer.resume(job.publicID)
        #expect(resumed.state == .queued)
        #expect(await h.importer.nextRunAt(resumed) != nil)
        try await h.tick(until: { $0.state == .completed }, id: job.id)
        let done = try await h.job(job.id)
        #expect(done.processedRows == 500 && done.created == 500 && done.failed == 0)
        #expect(try await h.contactCount() == 500)
        await h.close()
    }

    @Test(arguments: Backend.allCases) func cancelKeepsAppliedRowsAndTerminalStatesRefuseControl(_ backend: Backend) async throws {
        let h = try await slowHarness(backend)
        defer { h.remove() }
        let job = try await h.upload(contactsCSV(500))
        try await h.tick(until: { $0.processedRows >= 20 }, id: job.id)
        let cancelled = try await h.importer.cancel(job.publicID)
        #expect(cancelled.state == .cancelled)
        #expect(cancelled.finishedAt != nil)
        #expect(try await h.contactCount() == cancelled.created)
        for operation in [h.importer.pause, h.importer.resume, h.importer.cancel] {
            await #expect(throws: ImportError.self) { _ = try await operation(job.publicID) }
        }
        await h.close()
    }

    @Test(arguments: Backend.allCases) func queuedImportsPauseAndCancelAtOnce(_ backend: Backend) async throws {
        let h = try await ImporterHarness(backend)
        defer { h.remove() }
        let a = try await h.upload(contactsCSV(5))
        let b = try await h.upload(contactsCSV(5, start: 10))
        #expect(try await h.importer.pause(a.publicID).state == .paused)
        #expect(try await h.importer.cancel(b.publicID).state == .cancelled)
        #expect(try await h.importer.cancel(a.publicID).state == .cancelled)
        try await h.tick()
        #expect(try await h.contactCount() == 0)
        await #expect(throws: ImportError.notFound("import imp_999 does not exist")) { _ = try await h.importer.pause("imp_999") }
        await #expect(throws: ImportError.notFound("import ct_1 does not exist")) { _ = try await h.importer.pause("ct_1") }
        await h.close()
    }

    @Test(arguments: Backend.allCases) func shutdownMidRunResumesAfterRestartWithExactCounts(_ backend: Backend) async throws {
        let h = try await slowHarness(backend)
        defer { h.remove() }
        let job = try await h.upload("first_name,last_name,email\n" + (0..<500).map { "F\($0),L\($0),p\($0 % 450)@example.org" }.joined(separator: "\n") + "\n")
        try await h.tick(until: { $0.processedRows >= 100 }, id: job.id)
        await h.close()
        let interrupted = try await h.job(job.id)
        #expect(interrupted.state == .running && interrupted.processedRows < 500)
        try await h.restart()
        try await h.settle(until: { $0.state == .completed }, id: job.id)
        let done = try await h.job(job.id)
        #expect(done.processedRows == 500)
        #expect(done.created == 450 && done.failed == 50, "duplicates after the checkpoint still point at rows before it")
        #expect(try await h.contactCount() == 450)
        await h.close()
    }

    @Test(arguments: Backend.allCases) func watchersGetTheSnapshotThenEveryStateChangeTerminalLast(_ backend: Backend) async throws {
        let h = try await slowHarness(backend)
        defer { h.remove() }
        let job = try await h.upload(contactsCSV(200))
        let (snapshot, updates) = try await h.importer.watch(job.publicID)
        #expect(snapshot.state == .queued)
        let collector = Task {
            var seen: [ImportJob] = []
            while let update = await updates.next() {
                seen.append(update)
                if update.state.isTerminal { break }
            }
            return seen
        }
        try await h.tick(until: { $0.state == .completed }, id: job.id)
        let seen = await collector.value
        #expect(seen.first?.state == .running)
        #expect(seen.last?.state == .completed && seen.last?.processedRows == 200)
        #expect(seen.map(\.version) == seen.map(\.version).sorted())
        #expect(seen.contains { $0.state == .running && $0.processedRows > 0 && $0.processedRows < 200 })
        updates.cancel()
        #expect(h.importer.hub.subscriberCount == 0)
        await h.close()
    }
}
