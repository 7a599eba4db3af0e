/// Pause, resume, cancel, revert.
extension Importer {
    /// RUNNING stops at the next batch boundary (within a second); QUEUED
    /// pauses at once; PAUSED stays. Terminal: FAILED_PRECONDITION.
    public func pause(_ publicID: String) async throws -> ImportJob {
        try await stop(publicID, .pause)
    }

    /// QUEUED, PAUSED or RUNNING becomes CANCELLED (RUNNING at the next batch
    /// boundary); rows already applied stay.
    public func cancel(_ publicID: String) async throws -> ImportJob {
        try await stop(publicID, .cancel)
    }

    private func stop(_ publicID: String, _ request: StopRequest) async throws -> ImportJob {
        let event: ImportEvent = request == .pause ? .pause : .cancel
        // A few rounds at most: each lost race means the import moved on.
        for _ in 0..<100 {
            let job = try await existingJob(publicID)
            // The lifecycle decides; the caller acts on what it says.
            let next = try ImportError.next(job.state, on: event)
            if next == job.state { return job }
            if job.state == .running, let stopped = await coordinatorStop(job.id, request) {
                guard stopped.state == next else {
                    throw ImportError.failedPrecondition("the import became \(stopped.state) before it could be \(request == .pause ? "paused" : "cancelled")")
                }
                return stopped
            }
            if job.state == .running, try await ImportError.storing({ try await store.requestStop(id: job.id, event: event) }) {
                return try await awaitStop(job.id, becoming: next)
            }
            if let moved = try await coordinatorTransitionIdle(job.id, event: event) {
                if moved.changed { announce(moved.job) }
                return moved.job
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw ImportError.unavailable("the import kept changing state; try again")
    }

    /// Another process runs the import and was asked to stop it: its next batch
    /// boundary honours that (well within a second); the import as it stopped.
    private func awaitStop(_ id: Int64, becoming next: ImportState) async throws -> ImportJob {
        let deadline = ContinuousClock.now + Self.remoteStopWait
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
            guard let job = try await store.importJob(id: id) else { throw ImportError.notFound("import \(ResourceKind.importJob.format(id)) does not exist") }
            if job.state == .running { continue }
            guard job.state == next else {
                throw ImportError.failedPrecondition("the import became \(job.state) before it could be \(next == .paused ? "paused" : "cancelled")")
            }
            return job
        }
        throw ImportError.unavailable("the server running the import has not stopped it yet; it will at its next batch")
    }

    /// How long a pause or cancel waits for another process to stop the run.
    static let remoteStopWait: Duration = .seconds(10)

    /// PAUSED goes back to the queue and continues from its checkpoint at the
    /// next tick (a dry run at once). QUEUED or RUNNING: nothing to do.
    /// Terminal: FAILED_PRECONDITION.
    public func resume(_ publicID: String) async throws -> ImportJob {
        let job = try await existingJob(publicID)
        let resumed = try await ImportError.storing { try await store.transition(id: job.id, event: .resume, error: nil, at: clock.now()) }
        if resumed.changed {
            announce(resumed.job)
            startDryRun(resumed.job)
        }
        return resumed.job
    }

    /// Undoes a COMPLETED or CANCELLED import: contacts it created are deleted
    /// and fields it overwrote restored, unless a later import changed them
    /// (those rows are kept and reported); subscriptions it added are removed.
    public func revert(_ publicID: String) async throws -> ImportJob {
        let job = try await existingJob(publicID)
        _ = try ImportError.next(job.state, on: .revert)
        if job.validateOnly {
            throw ImportError.failedPrecondition("a dry run (validate_only) changed nothing; there is nothing to revert")
        }
        let store = self.store
        let at = clock.now()
        // Not while an import runs (see RunCoordinator).
        let reverted = try await ImportError.storing { try await self.coordinatorExclusively { try await store.revert(job: job, at: at) } }
        announce(reverted)
        return reverted
    }
}
