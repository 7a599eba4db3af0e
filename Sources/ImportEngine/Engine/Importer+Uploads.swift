/// Uploads.
extension Importer {
    /// Checks an upload's options (campaign and subscriptions exist, encoding,
    /// digest, column map) and opens a session for its chunks.
    public func beginUpload(_ request: UploadRequest) async throws -> UploadSession {
        var violations: [FieldViolation] = []
        guard let encoding = TextEncoding(name: request.encoding) else {
            throw ImportError.invalidArgument(
                "encoding \"\(request.encoding)\" is not supported; use utf-8, windows-1252 or iso-8859-1",
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
            guard let id = ResourceKind.campaign.parse(request.originCampaignID), try await store.campaign(id: id) != nil else {
                throw ImportError.notFound("campaign \(request.originCampaignID) does not exist")
            }
            campaignID = id
        }
        var subscriptionIDs: [Int64] = []
        for text in request.subscriptionIDs {
            guard let id = ResourceKind.subscription.parse(text), try await store.subscription(id: id) != nil else {
                throw ImportError.notFound("subscription \(text) does not exist")
            }
            if !subscriptionIDs.contains(id) { subscriptionIDs.append(id) }
        }
        let validated = UploadSession.ValidatedUpload(
            request: request, originCampaignID: campaignID, subscriptionIDs: subscriptionIDs, encoding: encoding)
        return try UploadSession(engine: self, options: validated)
    }

    /// Called by a finished upload: the import exists from here on.
    func created(_ new: NewImport) async throws -> ImportJob {
        let job = try await store.createImport(new)
        announce(job)
        return job
    }
}
