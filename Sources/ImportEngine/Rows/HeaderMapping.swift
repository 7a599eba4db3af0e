/// How the columns of a file map to contact fields, decided from its header row
/// before anything is written.
public struct HeaderMapping: Sendable, Hashable {
    /// The header row as it is in the file.
    public let header: [String]
    /// For each column, the field it fills, or nil when ignored.
    public let columns: [ContactField?]

    /// The column that fills `field`, if any.
    public func column(for field: ContactField) -> Int? {
        columns.firstIndex(of: field)
    }

    /// The header of the column that fills `field`, or the field's name.
    public func columnName(for field: ContactField) -> String {
        column(for: field).map { header[$0] } ?? field.name
    }

    /// The last column of ExportImportErrors' CSV; ignored when it is the last
    /// column of an upload, so a fixed error file can be uploaded as it is.
    public static let exportedErrorColumn = "error"

    /// Maps a header row. `columnMap` (header -> field name, "" to ignore) wins
    /// over aliases; unknown columns are an error unless `ignoreUnknownColumns`.
    public static func resolve(header: [String], columnMap: [String: String], ignoreUnknownColumns: Bool) throws(HeaderProblems) -> HeaderMapping {
        var problems: [HeaderProblem] = []
        var normalizedMap: [String: String] = [:]
        for (key, value) in columnMap {
            if !value.isEmpty && ContactField(name: value) == nil {
                problems.append(.unknownMapTarget(column: key, field: value, suggestion: closestField(to: value)))
            }
            normalizedMap[normalizedHeader(key)] = value
        }
        var columns: [ContactField?] = []
        var seen: [ContactField: Int] = [:]
        for (index, name) in header.enumerated() {
            let trimmed = name.trimmingWhitespace
            let explicit = columnMap[name] ?? columnMap[trimmed] ?? normalizedMap[normalizedHeader(name)]
            var field: ContactField?
            if explicit == nil && index == header.count - 1 && index > 0 && trimmed == Self.exportedErrorColumn {
                // The `error` column of an error export, uploaded again after a fix.
                columns.append(nil)
                continue
            }
            if let explicit {
                field = explicit.isEmpty ? nil : ContactField(name: explicit)
            } else {
                field = ContactField.match(normalizedHeader(name))
                if field == nil && !ignoreUnknownColumns {
                    problems.append(.unknownColumn(column: trimmed.isEmpty ? "(column \(index + 1), no name)" : trimmed,
                        suggestion: trimmed.isEmpty ? nil : closestField(to: trimmed)))
                }
            }
            if let mapped = field {
                if let earlier = seen[mapped] {
                    problems.append(.duplicateField(field: mapped, columns: [header[earlier], trimmed]))
                    field = nil
                } else {
                    seen[mapped] = index
                }
            }
            columns.append(field)
        }
        let missing = ContactField.allCases.filter { $0.isRequired && seen[$0] == nil }
        for field in missing {
            problems.append(.missingRequired(field: field))
        }
        if !ContactField.contactPoints.contains(where: { seen[$0] != nil }) {
            problems.append(.missingContactPoint)
        }
        if !problems.isEmpty { throw HeaderProblems(problems: problems) }
        return HeaderMapping(header: header, columns: columns)
    }

    /// The known field whose name or alias is closest to `text` (edit distance),
    /// when it is close enough to be a plausible typo.
    public static func closestField(to text: String) -> ContactField? {
        // No field or alias is longer than 20 letters: a long name is no typo of
        // one, and its edit distances would cost time for nothing.
        guard text.utf8.count <= 40 else { return nil }
        let target = normalizedHeader(text)
        guard !target.isEmpty else { return nil }
        var best: (ContactField, Int)?
        for field in ContactField.allCases {
            for candidate in [normalizedHeader(field.name)] + field.aliases {
                let distance = editDistance(target, candidate)
                if best == nil || distance < best!.1 { best = (field, distance) }
            }
        }
        guard let (field, distance) = best else { return nil }
        // A typo, not a lookalike: one edit, or one per four letters.
        return distance <= max(1, target.count / 4) ? field : nil
    }
}

extension ContactField {
    /// The field a normalised header means, by name or alias.
    static func match(_ normalized: String) -> ContactField? {
        ContactField.allCases.first { normalizedHeader($0.name) == normalized || $0.aliases.contains(normalized) }
    }
}

/// One reason a header row is refused.
public enum HeaderProblem: Sendable, Hashable {
    case unknownColumn(column: String, suggestion: ContactField?)
    case missingRequired(field: ContactField)
    case missingContactPoint
    case duplicateField(field: ContactField, columns: [String])
    case unknownMapTarget(column: String, field: String, suggestion: ContactField?)

    /// The column (or field) the problem is about, for BadRequest field violations.
    public var subject: String {
        switch self {
        case .unknownColumn(let column, _): return column
        case .missingRequired(let field): return field.name
        case .missingContactPoint: return "email"
        case .duplicateField(let field, _): return field.name
        case .unknownMapTarget(let column, _, _): return "column_map[\(column)]"
        }
    }

    public var message: String {
        switch self {
        case .unknownColumn(let column, let suggestion):
            let hint = suggestion.map { " (did you mean \($0.name)?)" } ?? ""
            return "column \"\(column)\" maps to no contact field\(hint); map it with column_map or set ignore_unknown_columns"
        case .missingRequired(let field):
            return "required column \(field.name) is missing"
        case .missingContactPoint:
            return "the file needs at least one of the columns email, phone or mobile"
        case .duplicateField(let field, let columns):
            return "columns \(columns.map { "\"\($0)\"" }.joined(separator: " and ")) both map to \(field.name)"
        case .unknownMapTarget(let column, let field, let suggestion):
            let hint = suggestion.map { " (did you mean \($0.name)?)" } ?? ""
            return "column_map maps \"\(column)\" to unknown field \"\(field)\"\(hint)"
        }
    }
}

/// Every problem of a header row, reported together.
public struct HeaderProblems: Error, Sendable, Hashable, CustomStringConvertible {
    public let problems: [HeaderProblem]

    public var description: String {
        let shown = problems.prefix(Self.maxListed).map(\.message).joined(separator: "; ")
        let more = problems.count - Self.maxListed
        return "the header row was refused: " + shown + (more > 0 ? "; and \(more) more problem\(more == 1 ? "" : "s")" : "")
    }

    /// Problems named in the message at most; all of them are counted.
    public static let maxListed = 20

    public var count: Int { problems.count
    }
}

/// Edit distance counting insertions, deletions, substitutions and swaps of two
/// neighbouring letters ("emial" -> "email" is one edit).
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a.unicodeScalars)
    let b = Array(b.unicodeScalars)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var d = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
    for i in 0...a.count { d[i][0] = i }
    for j in 0...b.count { d[0][j] = j }
    for i in 1...a.count {
        for j in 1...b.count {
            let cost = a[i - 1] == b[j - 1] ? 0 : 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
            }
        }
    }
    return d[a.count][b.count]
}
