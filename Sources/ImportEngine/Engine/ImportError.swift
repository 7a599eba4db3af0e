/// What the engine refuses, in terms a caller can act on. The service maps each
/// case to one gRPC status, in one place.
public enum ImportError: Error, Sendable, Hashable, CustomStringConvertible {
    /// No such import, contact, campaign, subscription or token.
    case notFound(String)
    /// A request field is wrong; `violations` name the fields (or CSV columns).
    case invalidArgument(String, violations: [FieldViolation] = [])
    /// The thing is in the wrong state for this.
    case failedPrecondition(String)
    /// Too large.
    case resourceExhausted(String)
    /// A unique name or code is taken.
    case alreadyExists(String)
    /// The engine is stopping.
    case unavailable(String)

    public var description: String {
        switch self {
        case .notFound(let m), .invalidArgument(let m, _), .failedPrecondition(let m), .resourceExhausted(let m),
            .alreadyExists(let m), .unavailable(let m):
            return m
        }
    }
}

/// One wrong field (google.rpc.BadRequest.FieldViolation).
public struct FieldViolation: Sendable, Hashable {
    public var field: String
    public var description: String

    public init(field: String, description: String) {
        self.field = field
        self.description = description
    }
}

extension ImportError {
    /// The disk under the spool is full.
    static let diskFull = ImportError.resourceExhausted("the server's disk is full; the upload was not stored; try again once space is freed")

    /// A refused header row, with one violation per problem.
    static func header(_ problems: HeaderProblems) -> ImportError {
        .invalidArgument(problems.description, violations: problems.problems.map { FieldViolation(field: $0.subject, description: $0.message) })
    }
}

extension ImportError {
    /// What the store's errors and the lifecycle's refusals mean to a caller;
    /// the one place they are converted.
    public init(_ error: StoreError) {
        switch error {
        case .duplicate(let what): self = .alreadyExists("\(what) exists already")
        case .notFound(let id): self = .notFound("import \(ResourceKind.importJob.format(id)) does not exist")
        case .diskFull: self = .resourceExhausted("the server's disk is full; nothing was stored; try again once space is freed")
        case .claimLost(let id): self = .unavailable("import \(ResourceKind.importJob.format(id)) is run by another server now; try again")
        }
    }

    public init(_ error: InvalidTransition) {
        self = .failedPrecondition(error.description)
    }

    /// Runs `body`, converting what the store or the lifecycle throws.
    static func storing<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as StoreError {
            throw ImportError(error)
        } catch let error as InvalidTransition {
            throw ImportError(error)
        }
    }

    /// Asks the lifecycle what `event` does to `state`; a refusal is FAILED_PRECONDITION.
    static func next(_ state: ImportState, on event: ImportEvent) throws(ImportError) -> ImportState {
        do {
            return try ImportLifecycle.next(state, on: event)
        } catch {
            throw ImportError(error)
        }
    }
}
