import Logging
import Platform
import Synchronization

/// How the importer runs.
public struct ImporterConfiguration: Sendable {
    /// Where uploads are spooled (inside the data directory).
    public var spoolDirectory: String
    /// How often the scheduler runs queued imports.
    public var importInterval: Duration = .seconds(15 * 60)
    /// Rows per batch (one transaction each; pause and cancel act between them).
    public var batchRows = 10_000
    /// A run's in-file duplicate keys held in memory (about 24 bytes each, and
    /// 13 bytes of table; fewer than 2^21); beyond it they go to scratch files
    /// beside the spool (see `InFileDuplicates`).
    public var inFileKeysInMemory = InFileDuplicates.Limits().memoryKeys
    /// Largest upload accepted, counted on the bytes stored (UTF-8, after
    /// converting from another encoding).
    public var maxUploadBytes: Int64 = 2 << 30
    /// What the spool directory may hold in all; 0: no quota (the disk is).
    public var maxSpoolBytes: Int64 = 0
    /// Uploads streaming at once at most.
    public var maxConcurrentUploads = 16
    /// An upload that sends nothing for this long is ended (its file dropped).
    public var uploadIdleTimeout: Duration = .seconds(300)
    /// How often an import paused by a full disk looks for free space.
    public var diskFullRetry: Duration = .seconds(10)
    /// With a store several processes share: how often this one looks for
    /// imports whose process stopped renewing its claim, to take them over.
    public var abandonedRunCheck: Duration = .seconds(2)
    /// How often a run renews its claim (a shared store's lease is longer).
    public var claimRenewal: Duration = .seconds(2)

    public init(spoolDirectory: String) {
        self.spoolDirectory = spoolDirectory
    }
}

/// The import domain's entry point: uploads, the scheduler, state changes,
/// queries and live updates. No RPC and no SQL: the service calls it, and it
/// keeps everything through an `ImportStore`.
public final class Importer: Sendable {
    public let store: any ImportStore
    public let clock: any WallClock
    public let configuration: ImporterConfiguration
    public let hub: ProgressHub
    let logger: Logger
    let spool: SpoolAccount
    private let coordinator: RunCoordinator
    private let scheduler: ImportScheduler
    private let processor: ImportProcessor
    /// Reads of an import on their way for watches (see `watch`).
    let watchReads = Mutex<[Int64: Task<ImportJob?, any Error>]>([:])
    /// Tasks that follow other processes sharing the store (none on SQLite).
    private let followers = Mutex<[Task<Void, Never>]>([])

    public init(store: any ImportStore, clock: any WallClock, configuration: ImporterConfiguration, logger: Logger) {
        self.store = store
        self.clock = clock
        self.configuration = configuration
        self.logger = logger
        self.spool = SpoolAccount(quota: configuration.maxSpoolBytes, maxUploads: configuration.maxConcurrentUploads)
        let hub = ProgressHub(clock: clock)
        self.hub = hub
        let coordinator = RunCoordinator(store: store, clock: clock, renewEvery: configuration.claimRenewal)
        self.coordinator = coordinator
        let waiter = DiskFullWaiter()
        let processor = ImportProcessor(
            store: store, clock: clock, spoolDirectory: configuration.spoolDirectory, batchRows: configuration.batchRows,
            inFileKeysInMemory: configuration.inFileKeysInMemory,
            logger: logger, publish: { job, stateChanged in
                Importer.announce(job, stateChanged: stateChanged, hub: hub, logger: logger)
            }, diskFull: { id in waiter.importer?.waitForSpace(id) })
        self.processor = processor
        self.scheduler = ImportScheduler(interval: configuration.importInterval, clock: clock, queued: {
            try await store.importIDs(in: .queued)
        }, run: { id in
            await coordinator.run(id, processor: processor) { job in
                Importer.announce(job, stateChanged: true, hub: hub, logger: logger)
            }
        })
        waiter.importer = self
    }

    /// An import stopped by a full disk: once there is room again (checked every
    /// `diskFullRetry`), it is resumed and run at once.
    func waitForSpace(_ id: Int64) {
        let clock = self.clock
        let retry = configuration.diskFullRetry
        let directory = configuration.spoolDirectory
        Task { [weak self] in
            while true {
                try? await clock.sleep(until: clock.now() + retry)
                guard let self else { return }
                guard (FileSystem.freeBytes(directory) ?? 0) >= Importer.spaceToResume else { continue }
                guard let job = try? await self.store.importJob(id: id) else { return }
                if job.state == .paused && job.error == ImportProcessor.diskFullNote {
                    guard let resumed = try? await self.store.transition(id: id, event: .resume, error: nil, at: clock.now()) else { continue }
                    self.announce(resumed.job)
                } else if job.state != .running {
                    return  // moved on meanwhile (cancelled, or paused by a user)
                }
                self.logger.info("import \(job.publicID): there is disk space again; it goes on")
                await self.coordinator.run(id, processor: self.processor) { [hub = self.hub, logger = self.logger] job in
                    Importer.announce(job, stateChanged: true, hub: hub, logger: logger)
                }
                return
            }
        }
    }

    /// The path of the import's spooled file here; fetched from the store first
    /// when another process took the upload (a store several processes share).
    func localSpool(_ job: ImportJob) async throws -> String {
        try await Self.localSpool(job, store: store, directory: configuration.spoolDirectory)
    }

    static func localSpool(_ job: ImportJob, store: any ImportStore, directory: String) async throws -> String {
        let path = directory + "/" + job.spoolName
        if !FileSystem.exists(path) {
            _ = try await store.fetchSpool(name: job.spoolName, into: directory)
        }
        return path
    }

    /// Free bytes an import paused by a full disk waits for.
    static let spaceToResume: Int64 = 64 << 20

    /// A dry run (validate_only) writes no contact, so it need not wait for the
    /// scheduler, nor for a running import: it starts at once, in the background.
    func startDryRun(_ job: ImportJob) {
        guard job.validateOnly, job.state == .queued else { return }
        let coordinator = self.coordinator
        let processor = self.processor
        let hub = self.hub
        let logger = self.logger
        Task {
            await coordinator.run(job.id, processor: processor, exclusive: false) { job in
                Importer.announce(job, stateChanged: true, hub: hub, logger: logger)
            }
        }
    }

    /// Publishes a snapshot; state changes are also logged, one line each.
    static func announce(_ job: ImportJob, stateChanged: Bool, hub: ProgressHub, logger: Logger) {
        if stateChanged {
            var line = "import \(job.publicID) \(job.state) file=\(job.fileName.logQuoted) rows=\(job.processedRows)/\(job.totalRows)"
            line += " created=\(job.created) updated=\(job.updated) skipped=\(job.skipped) failed=\(job.failed)"
            if let error = job.error { line += " error=\(error.logQuoted)" }
            logger.info("\(line)")
        }
        hub.publish(job, stateChanged: stateChanged)
    }

    func announce(_ job: ImportJob) {
        Self.announce(job, stateChanged: true, hub: hub, logger: logger)
    }

    /// Cleans up after an unclean stop and starts the scheduler: spool files of
    /// no import are removed, imports left RUNNING resume at once.
    public func start() async throws {
        try FileSystem.createDirectory(configuration.spoolDirectory)
        let referenced = try await store.spoolNames()
        for name in try FileSystem.list(configuration.spoolDirectory) where !referenced.contains(name) {
            FileSystem.remove(configuration.spoolDirectory + "/" + name)
            logger.info("removed spool file \(name): no import refers to it")
        }
        spool.reset(used: FileSystem.directoryBytes(configuration.spoolDirectory))
        try await store.recover()
        let interrupted = try await store.importIDs(in: .running)
        for id in interrupted {
            logger.info("import \(ResourceKind.importJob.format(id)) was interrupted; resuming from its checkpoint")
        }
        await scheduler.start(resumeFirst: interrupted)
        for id in try await store.importIDs(in: .queued) {
            if let job = try await store.importJob(id: id) { startDryRun(job) }
        }
        startFollowingOtherProcesses()
    }

    /// With a store other processes share: their changes reach this process's
    /// watchers, and imports whose process died are taken over.
    private func startFollowingOtherProcesses() {
        guard let changes = store.changes() else { return }
        let store = self.store
        let hub = self.hub
        let logger = self.logger
        followers.withLock { tasks in
            tasks.append(Task {
                // The state each live import was last seen in: a change of it is
                // a state change for watchers, anything else progress.
                var seen: [Int64: ImportState] = [:]
                for await id in changes {
                    guard let job = try? await store.importJob(id: id) else { continue }
                    let changed = seen[id] != job.state
                    if job.state.isTerminal { seen[id] = nil } else { seen[id] = job.state }
                    hub.publish(job, stateChanged: changed)
                }
            })
            let interval = configuration.abandonedRunCheck
            let coordinator = self.coordinator
            let processor = self.processor
            tasks.append(Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    guard let ids = try? await store.abandonedRuns() else { continue }
                    for id in ids where !Task.isCancelled {
                        logger.info("import \(ResourceKind.importJob.format(id)): its server stopped renewing its claim; taking it over from its checkpoint")
                        await coordinator.run(id, processor: processor) { job in
                            Importer.announce(job, stateChanged: true, hub: hub, logger: logger)
                        }
                    }
                }
            })
        }
    }

    /// Stops: the running import stops at its next batch boundary (it stays
    /// RUNNING in storage and resumes on the next start); the scheduler stops;
    /// the store keeps what it would otherwise compute again at the next start.
    public func shutdown() async {
        for task in followers.withLock({ tasks in defer { tasks = [] }; return tasks }) { task.cancel() }
        await coordinator.shutdown()
        await scheduler.stop()
        await store.saveForNextStart()
    }

    /// When a QUEUED import will be picked up; nil for other states.
    public func nextRunAt(_ job: ImportJob) async -> WallTime? {
        nextRunAtNow(job)
    }

    /// `nextRunAt` without waiting: the scheduler's plan is readable from any thread.
    public func nextRunAtNow(_ job: ImportJob) -> WallTime? {
        guard job.state == .queued else { return nil }
        return scheduler.nextRun(for: job.id)
    }

    /// The scheduler's next tick.
    public var nextTick: WallTime {
        get async { scheduler.nextTick }
    }

    func coordinatorStop(_ id: Int64, _ request: StopRequest) async -> ImportJob? {
        await coordinator.stop(id, request)
    }

    func coordinatorTransitionIdle(_ id: Int64, event: ImportEvent) async throws -> Transition? {
        try await ImportError.storing { try await coordinator.transitionIdle(id, event: event) }
    }

    func coordinatorExclusively<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        try await coordinator.exclusively(body)
    }

    func parseImportID(_ text: String) throws(ImportError) -> Int64 {
        guard let id = ResourceKind.importJob.parse(text) else {
            throw text.isEmpty ? .invalidArgument("import_id is required", violations: [FieldViolation(field: "import_id", description: "required")])
                : .notFound("import \(text) does not exist")
        }
        return id
    }

    /// The import, or NOT_FOUND.
    func existingJob(_ publicID: String) async throws -> ImportJob {
        let id = try parseImportID(publicID)
        guard let job = try await store.importJob(id: id) else { throw ImportError.notFound("import \(publicID) does not exist") }
        return job
    }
}

/// Serializes the claims of the scheduler with the stop requests of users, so a
/// pause never races an import's start; and runs with reverts, which must not
/// overlap (a revert may give a contact back an email that a running import,
/// whose keys are not stored yet, has just given to a new contact).
actor RunCoordinator {
    private let store: any ImportStore
    private let clock: any WallClock
    private var running: [Int64: RunControl] = [:]
    /// Claimed or being claimed: an import is never run twice at once.
    private var active: Set<Int64> = []
    private var stopping = false
    private var exclusive = false
    private var exclusiveWaiters: [CheckedContinuation<Void, Never>] = []

    /// Runs `body` while no import runs and no other revert does.
    func exclusively<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        await acquire()
        defer { release() }
        return try await body()
    }

    private func acquire() async {
        if !exclusive {
            exclusive = true
            return
        }
        await withCheckedContinuation { exclusiveWaiters.append($0) }
    }

    private func release() {
        if exclusiveWaiters.isEmpty {
            exclusive = false
        } else {
            exclusiveWaiters.removeFirst().resume()
        }
    }

    private let renewEvery: Duration

    init(store: any ImportStore, clock: any WallClock, renewEvery: Duration) {
        self.store = store
        self.clock = clock
        self.renewEvery = renewEvery
    }

    /// Runs one import if it is still QUEUED (or RUNNING, when resuming).
    /// `exclusive`: not beside another run or a revert (dry runs need not be).
    func run(_ id: Int64, processor: ImportProcessor, exclusive: Bool = true, announce: @Sendable (ImportJob) -> Void) async {
        guard !stopping else { return }
        if exclusive { await acquire() }
        defer { if exclusive { release() } }
        guard !stopping, !active.contains(id) else { return }
        active.insert(id)
        defer { active.remove(id) }
        // Only this actor claims here, and `active` keeps one claim per import;
        // the store decides between processes.
        guard let job = try? await store.claim(id: id, at: clock.now()) else { return }
        if job.state == .running && job.startedAt != nil && job.version > 0 { announce(job) }
        let control = RunControl()
        running[id] = control
        let renewal = Task { [store, renewEvery] in
            // The claim outlives slow batches; a lost claim stops the run (its
            // writes are refused by the store anyway).
            while !Task.isCancelled {
                try? await Task.sleep(for: renewEvery)
                if Task.isCancelled { return }
                if (try? await store.renewClaim(id: id)) == false {
                    _ = await control.stop(.shutdown)
                    return
                }
            }
        }
        let final = await processor.run(job, control: control)
        renewal.cancel()
        running[id] = nil
        control.finish(final)
    }

    /// Asks a running import to stop; nil when none with this id is running
    /// (it may be RUNNING in storage but waiting to resume).
    func stop(_ id: Int64, _ request: StopRequest) async -> ImportJob? {
        guard let control = running[id] else { return nil }
        return await control.stop(request)
    }

    /// Moves an import that is not being run (QUEUED, PAUSED, or RUNNING but
    /// waiting to resume) from `from` to `to`.
    /// Applies `event` to an import no run holds (QUEUED, PAUSED, or RUNNING
    /// but waiting to resume); nil when a run holds it or is claiming it.
    func transitionIdle(_ id: Int64, event: ImportEvent) async throws -> Transition? {
        guard running[id] == nil, !active.contains(id) else { return nil }
        active.insert(id)
        defer { active.remove(id) }
        return try await store.transition(id: id, event: event, error: nil, at: clock.now())
    }

    func isRunning(_ id: Int64) -> Bool { running[id] != nil }

    func shutdown() async {
        stopping = true
        for control in running.values {
            _ = await control.stop(.shutdown)
        }
    }
}

/// Lets the processor, made before the importer, reach it once it exists.
final class DiskFullWaiter: @unchecked Sendable {
    /// @unchecked: set once in `Importer.init`, before any run starts; read only after.
    weak var importer: Importer?
}
