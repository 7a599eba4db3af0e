import ImportEngine
import ProtoMessages
import RPCCore

/// Domain values <-> wire messages. Ids go out as public ids (`imp_12`).
enum Wire {
    static func timestamp(_ time: WallTime?) -> GoogleProtobuf.Timestamp? {
        guard let time else { return nil }
        var stamp = GoogleProtobuf.Timestamp()
        stamp.seconds = time.seconds
        stamp.nanos = time.nanosecondsPart
        return stamp
    }

    static func state(_ state: ImportState) -> ImportsV1.ImportState {
        switch state {
        case .queued: return .queued
        case .running: return .running
        case .paused: return .paused
        case .completed: return .completed
        case .failed: return .failed
        case .cancelled: return .cancelled
        case .reverted: return .reverted
        }
    }

    /// States of a filter; UNSPECIFIED (alone or among others) means all.
    static func states(_ states: [ImportsV1.ImportState]) throws -> Set<ImportState> {
        var result = Set<ImportState>()
        for state in states {
            switch state {
            case .unspecified: return []
            case .unrecognized(let value):
                throw ImportError.invalidArgument("unknown import state \(value)", violations: [FieldViolation(field: "states", description: "unknown value \(value)")])
            default:
                if let domain = ImportState(rawValue: Int(state.rawValue)) { result.insert(domain) }
            }
        }
        return result
    }

    static func kind(_ kind: ContactKind) -> ImportsV1.ContactKind {
        kind == .lead ? .lead : .contact
    }

    /// nil: the upload did not say.
    static func kind(_ kind: ImportsV1.ContactKind) throws -> ContactKind? {
        switch kind {
        case .unspecified: return nil
        case .contact: return .contact
        case .lead: return .lead
        case .unrecognized(let v):
            throw ImportError.invalidArgument("unknown contact kind \(v)", violations: [FieldViolation(field: "options.kind", description: "unknown value \(v)")])
        }
    }

    static func policy(_ policy: DuplicatePolicy) -> ImportsV1.DuplicatePolicy {
        policy == .skip ? .skip : .update
    }

    static func policy(_ policy: ImportsV1.DuplicatePolicy) throws -> DuplicatePolicy {
        switch policy {
        case .unspecified, .update: return .update
        case .skip: return .skip
        case .unrecognized(let v):
            throw ImportError.invalidArgument("unknown duplicate policy \(v)", violations: [FieldViolation(field: "options.on_duplicate", description: "unknown value \(v)")])
        }
    }

    static func outcome(_ outcome: RowOutcome) -> ImportsV1.RowOutcome {
        switch outcome {
        case .created: return .created
        case .updated: return .updated
        case .skipped: return .skipped
        case .failed: return .failed
        }
    }

    static func outcome(_ outcome: ImportsV1.RowOutcome) throws -> RowOutcome? {
        switch outcome {
        case .unspecified: return nil
        case .created: return .created
        case .updated: return .updated
        case .skipped: return .skipped
        case .failed: return .failed
        case .unrecognized(let v):
            throw ImportError.invalidArgument("unknown row outcome \(v)", violations: [FieldViolation(field: "outcome", description: "unknown value \(v)")])
        }
    }

    static func grouping(_ group: ImportsV1.GroupBy) throws -> RowGrouping {
        switch group {
        case .unspecified, .outcome: return .outcome
        case .errorCode: return .errorCode
        case .column: return .column
        case .unrecognized(let v):
            throw ImportError.invalidArgument("unknown group_by \(v)", violations: [FieldViolation(field: "group_by", description: "unknown value \(v)")])
        }
    }

    static func job(_ job: ImportJob, nextRunAt: WallTime?) -> ImportsV1.ImportJob {
        var out = ImportsV1.ImportJob()
        out.id = job.publicID
        out.state = state(job.state)
        out.fileName = job.fileName
        out.kind = job.kindExplicit ? kind(job.kind) : .unspecified
        out.originCampaignID = job.originCampaignID.map(ResourceKind.campaign.format) ?? ""
        out.subscriptionIDs = job.subscriptionIDs.map(ResourceKind.subscription.format)
        out.bytes = UInt64(job.bytes)
        out.totalRows = UInt64(job.totalRows)
        out.processedRows = UInt64(job.processedRows)
        out.created = UInt64(job.created)
        out.updated = UInt64(job.updated)
        out.skipped = UInt64(job.skipped)
        out.failed = UInt64(job.failed)
        out.error = job.error ?? ""
        out.validateOnly = job.validateOnly
        out.createdAt = timestamp(job.createdAt)
        out.startedAt = timestamp(job.startedAt)
        out.finishedAt = timestamp(job.finishedAt)
        out.nextRunAt = timestamp(nextRunAt)
        out.onDuplicate = policy(job.onDuplicate)
        out.sha256 = job.sha256
        out.encoding = job.encoding.rawValue
        out.updatedAt = timestamp(job.updatedAt)
        out.revertedRows = UInt64(job.revertedRows)
        out.revertKeptRows = UInt64(job.revertKeptRows)
        out.sameFileAs = job.sameFileAs.map(ResourceKind.importJob.format) ?? ""
        return out
    }

    static func upload(_ options: ImportsV1.UploadOptions) throws -> UploadRequest {
        var request = UploadRequest()
        request.fileName = options.fileName
        request.kind = try kind(options.kind)
        request.originCampaignID = options.originCampaignID
        request.subscriptionIDs = options.subscriptionIDs
        request.onDuplicate = try policy(options.onDuplicate)
        request.columnMap = options.columnMap
        request.ignoreUnknownColumns = options.ignoreUnknownColumns
        request.validateOnly = options.validateOnly
        request.sha256 = options.sha256
        request.encoding = options.encoding
        return request
    }

    static func row(_ view: Importer.RowView) -> ImportsV1.ImportRow {
        var row = ImportsV1.ImportRow()
        row.rowNumber = UInt64(view.record.rowNumber)
        row.outcome = outcome(view.record.outcome)
        row.contactID = view.record.contactID.map(ResourceKind.contact.format) ?? ""
        row.errors = view.record.errors.map {
            var error = ImportsV1.RowError()
            error.code = $0.code.rawValue
            error.column = $0.column
            error.message = $0.message
            return error
        }
        // A NUL would cut a C string short on its way out: shown as U+FFFD.
        row.values = view.values.map { $0.utf8.contains(0) ? String($0.map { $0 == "\0" ? "\u{FFFD}" : $0 }) : $0 }
        row.revertKept = view.record.revertKept
        return row
    }

    static func contact(_ record: ContactRecord) -> ImportsV1.Contact {
        var contact = ImportsV1.Contact()
        contact.id = ResourceKind.contact.format(record.id)
        contact.kind = kind(record.kind)
        let f = record.fields
        contact.externalID = f[.externalID] ?? ""
        contact.title = f[.title] ?? ""
        contact.firstName = f[.firstName] ?? ""
        contact.lastName = f[.lastName] ?? ""
        contact.email = f[.email] ?? ""
        contact.phone = f[.phone] ?? ""
        contact.mobile = f[.mobile] ?? ""
        contact.address1 = f[.address1] ?? ""
        contact.address2 = f[.address2] ?? ""
        contact.city = f[.city] ?? ""
        contact.state = f[.state] ?? ""
        contact.postalCode = f[.postalCode] ?? ""
        contact.country = f[.country] ?? ""
        contact.birthDate = f[.birthDate] ?? ""
        contact.gender = f[.gender] ?? ""
        contact.company = f[.company] ?? ""
        contact.notes = f[.notes] ?? ""
        contact.originCampaignID = record.originCampaignID.map(ResourceKind.campaign.format) ?? ""
        contact.subscriptionIDs = record.subscriptionIDs.map(ResourceKind.subscription.format)
        contact.createdByImportID = record.createdByImportID.map(ResourceKind.importJob.format) ?? ""
        contact.updatedByImportID = record.updatedByImportID.map(ResourceKind.importJob.format) ?? ""
        contact.createdAt = timestamp(record.createdAt)
        contact.updatedAt = timestamp(record.updatedAt)
        return contact
    }

    /// A campaign or subscription as its wire message.
    static func tag<Message: TagMessage>(_ tag: AudienceTag, kind: TagKind) -> Message {
        var out = Message()
        out.id = kind.resource.format(tag.id)
        out.name = tag.name
        out.code = tag.code ?? ""
        out.createdAt = timestamp(tag.createdAt)
        return out
    }

    static func template(_ spec: ImportTemplateSpec) -> ImportsV1.ImportTemplate {
        var out = ImportsV1.ImportTemplate()
        out.csv = spec.csv
        out.fields = spec.fields.map {
            var field = ImportsV1.FieldSpec()
            field.name = $0.name
            field.required = $0.required
            field.aliases = $0.aliases
            field.description = $0.description
            field.example = $0.example
            return field
        }
        return out
    }
}
