import Platform

/// Uploads.
extension Importer {
    /// Checks an upload's options (campaign and subscriptions exist, encoding,
    /// digest, column map) and opens a session for its chunks.
    public func beginUpload(_ request: UploadRequest) async throws -> UploadSession {
        var violations: [FieldViolation] = []
        // Empty: detected while the file streams.
        let declared = request.encoding.isEmpty ? nil : TextEncoding(name: request.encoding)
        guard request.encoding.isEmpty || declared != nil else {
            throw ImportError.invalidArgument(
                "encoding \"\(request.encoding)\" is not supported; use utf-8, windows-1252 or iso-8859-1, or leave it empty to detect it",
                violations: [FieldViolation(field: "options.encoding", description: "unsupported encoding")])
        }
        let digest = request.sha256.lowercased()
        if !digest.isEmpty && (digest.count != 64 || !digest.allSatisfy(\.isHexDigit)) {
            violations.append(FieldViolation(field: "options.sha256", description: "must be 64 hexadecimal digits"))
        }
        for (column, field) in request.columnMap.sorted(by: { $0.key < $1.key }) where !field.isEmpty && ContactField(name: field) == nil {
            let hint = HeaderMapping.closestField(to: field).map { " (did you mean \($0.name)?)" } ?? ""
            violations.append(FieldViolation(field: "options.column_map[\(column)]", description: "unknown field \"\(field)\"\(hint)"))
        }
        if request.fileName.count > 255 {
            violations.append(FieldViolation(field: "options.file_name", description: "longer than 255 characters"))
        }
        if !violations.isEmpty {
            throw ImportError.invalidArgument(violations.map { "\($0.field): \($0.description)" }.joined(separator: "; "), violations: violations)
        }
        var campaignID: Int64?
        if !request.originCampaignID.isEmpty {
            campaignID = try await resolve(request.originCampaignID, .campaign)
        }
        var subscriptionIDs: [Int64] = []
        for text in request.subscriptionIDs {
            let id = try await resolve(text, .subscription)
            if !subscriptionIDs.contains(id) { subscriptionIDs.append(id) }
        }
        let validated = UploadSession.ValidatedUpload(
            request: request, originCampaignID: campaignID, subscriptionIDs: subscriptionIDs, encoding: declared)
        try spool.beginUpload()
        do {
            return try UploadSession(engine: self, options: validated)
        } catch let error as FileError where error.isDiskFull {
            spool.endUpload()
            throw ImportError.diskFull
        } catch {
            spool.endUpload()
            throw error
        }
    }

    /// A campaign or subscription named by its id (cmp_3) or its code (SUMMER26).
    private func resolve(_ text: String, _ kind: TagKind) async throws -> Int64 {
        if let id = kind.resource.parse(text), let tag = try await store.tag(kind, id: id) { return tag.id }
        if let tag = try await store.tag(kind, code: text) { return tag.id }
        throw ImportError.notFound("\(kind.noun) \(text) does not exist")
    }

    /// Called by a finished upload: the import exists from here on.
    func created(_ new: NewImport) async throws -> ImportJob {
        let job = try await store.createImport(new)
        announce(job)
        startDryRun(job)
        return job
    }
}
