import Logging
import Platform

#if canImport(Glibc)
import Glibc
#endif

/// Runs one import: reads its spooled file from the checkpoint, prepares rows in
/// batches and has the store apply each batch in one transaction. The next
/// batch is parsed while the previous one is applied (two cores, two stages).
/// Stop requests are honoured at batch boundaries.
struct ImportProcessor: Sendable {
    let store: any ImportStore
    let clock: any WallClock
    let spoolDirectory: String
    let batchRows: Int
    let inFileKeysInMemory: Int
    let logger: Logger
    /// Called with every snapshot: `stateChanged` for transitions, else progress.
    let publish: @Sendable (ImportJob, _ stateChanged: Bool) -> Void
    /// Called when a run stopped because the disk is full (the import is PAUSED,
    /// or still RUNNING when even that could not be stored).
    let diskFull: @Sendable (Int64) -> Void

    /// Bytes of row data in one batch at most (three batches are in memory
    /// at once: one prepared, one applied, one waiting to be refilled).
    static let maxBatchBytes = 16 << 20

    static let diskFullNote = "paused: the server's disk is full; it goes on by itself once space is freed"

    static func isDiskFull(_ error: any Error) -> Bool {
        if case StoreError.diskFull? = error as? StoreError { return true }
        return (error as? FileError)?.isDiskFull ?? false
    }

    /// Runs `job` (already RUNNING in storage) until it completes, fails or is
    /// stopped; returns it as the run left it.
    func run(_ job: ImportJob, control: RunControl) async -> ImportJob {
        do {
            try await store.beginRun(importID: job.id)
            return try await process(job, control: control)
        } catch StoreError.claimLost {
            // Another process runs it now (this one stopped renewing in time):
            // nothing of this run's last batch was kept, and nothing is changed.
            logger.warning("import \(job.publicID): another server took it over; this one stops running it")
            return (try? await store.importJob(id: job.id)) ?? job
        } catch where Self.isDiskFull(error) {
            logger.warning("import \(job.publicID) paused: the disk is full")
            try? await store.endRun(importID: job.id)
            defer { diskFull(job.id) }
            if let paused = try? await store.transition(id: job.id, event: .pause, error: Self.diskFullNote, at: clock.now()) {
                if paused.changed { publish(paused.job, true) }
                return paused.job
            }
            return (try? await store.importJob(id: job.id)) ?? job
        } catch {
            logger.error("import \(job.publicID) failed: \(error)")
            do {
                try await store.endRun(importID: job.id)
            } catch {
                logger.error("import \(job.publicID): finishing its run failed too: \(error)")
            }
            // The message goes to API clients: the reason, never the server's paths.
            let reason = (error as? FileError).map { "the uploaded file could not be read (\(String(cString: strerror($0.errno))))" }
                ?? "an internal error stopped the import; rows applied before it stay applied"
            if let failed = try? await store.transition(id: job.id, event: .fail, error: reason, at: clock.now()) {
                if failed.changed { publish(failed.job, true) }
                return failed.job
            }
            return (try? await store.importJob(id: job.id)) ?? job
        }
    }

    private func process(_ job: ImportJob, control: RunControl) async throws -> ImportJob {
        let path = try await Importer.localSpool(job, store: store, directory: spoolDirectory)
        let mapping = try HeaderMapping.resolve(header: job.header, columnMap: job.columnMap, ignoreUnknownColumns: job.ignoreUnknownColumns)
        let preparer = RowPreparer(mapping: mapping)
        var duplicates = InFileDuplicates(
            spool: SpoolRows(path: path, delimiter: job.delimiter), preparer: preparer, scratchDirectory: spoolDirectory,
            expectedRows: job.totalRows, limits: .init(memoryKeys: inFileKeysInMemory))

        // Rows before the checkpoint were applied already; read them again (no
        // writes) only to know their keys.
        if job.checkpointRow > 0 {
            var reader = CSVReader(source: try FileReader(path: path, offset: job.dataOffset), delimiter: job.delimiter, offset: job.dataOffset)
            var scratch = RowBatch()
            var row = 0
            while try reader.next(), reader.recordOffset < job.checkpointOffset {
                if RowPreparer.isBlank(reader) { continue }
                row += 1
                if scratch.count >= batchRows { scratch.removeAll() }
                let index = preparer.append(reader, rowNumber: row, to: &scratch)
                if scratch.failures[index] == nil { _ = try duplicates.check(scratch, index) }
            }
        }

        var reader = CSVReader(source: try FileReader(path: path, offset: job.checkpointOffset), delimiter: job.delimiter, offset: job.checkpointOffset)
        var rowNumber = Int(job.checkpointRow)
        var current = job
        var applying: Task<(ImportJob, RowBatch), any Error>?
        // Batches take turns, one prepared while another is applied: their
        // buffers are refilled, not grown from nothing each time (every new
        // buffer's pages are faulted in and every growth copies). A batch
        // comes back to be refilled one turn after it was applied: right
        // after, the writer's queue may still hold it, and refilling a
        // shared buffer would allocate a new one.
        var spares: [RowBatch] = []
        var endOfFile = false
        while true {
            // Prepare the next batch (while the previous one is being applied).
            var batch = spares.count >= 2 ? spares.removeFirst() : RowBatch()
            batch.removeAll()
            batch.nextOffset = reader.nextOffset == 0 ? job.checkpointOffset : reader.nextOffset
            // A batch is bounded in bytes too (its ranges are 32-bit; records are ≤ 1 MiB).
            while !endOfFile && batch.count < batchRows && batch.bytes.count < Self.maxBatchBytes {
                guard try reader.next() else {
                    endOfFile = true
                    break
                }
                batch.nextOffset = reader.nextOffset
                if RowPreparer.isBlank(reader) { continue }
                rowNumber += 1
                let index = preparer.append(reader, rowNumber: rowNumber, to: &batch)
                if batch.failures[index] == nil, let duplicate = try duplicates.check(batch, index) {
                    batch.failures[index] = [duplicate]
                }
            }
            if let previous = applying {
                let applied: RowBatch
                (current, applied) = try await previous.value
                applying = nil
                spares.append(applied)
                publish(current, false)
                if let asked = current.stopRequested {
                    // Asked through the store by another process.
                    _ = control.request(asked == .cancel ? .cancel : .pause)
                }
                if let request = control.request {
                    duplicates.release()
                    return try await stop(current, request)
                }
            }
            if batch.isEmpty && endOfFile {
                // Its memory is free before the run's keys are merged.
                duplicates.release()
                break
            }
            let toApply = batch
            let snapshot = current
            applying = Task { [store, clock] in
                (try await store.applyBatch(toApply, job: snapshot, at: clock.now()), toApply)
            }
        }
        try await store.endRun(importID: job.id)
        let completed = try await store.transition(id: job.id, event: .complete, error: nil, at: clock.now())
        if completed.changed { publish(completed.job, true) }
        return completed.job
    }

    private func stop(_ job: ImportJob, _ request: StopRequest) async throws -> ImportJob {
        try await store.endRun(importID: job.id)
        switch request {
        case .shutdown:
            // Stays RUNNING in storage; the next start (or another process
            // sharing the store) resumes it from here.
            try? await store.releaseClaim(id: job.id)
            return job
        case .pause, .cancel:
            let stopped = try await store.transition(id: job.id, event: request == .pause ? .pause : .cancel, error: nil, at: clock.now())
            if stopped.changed { publish(stopped.job, true) }
            return stopped.job
        }
    }
}
