/// The server's messages name the API's fields (`column_map`,
/// `options.encoding`), which is right for code calling the API. A person at
/// the terminal types flags: this says the same with the flags of importctl,
/// keeping the rest of the message (and the gRPC code before it) as it is.
enum FlagWords {
    static func translate(_ message: String) -> String {
        var text = unknownColumns(message)
        for (api, flags) in phrases {
            text = text.replacingAll(api, with: flags)
        }
        return text
    }

    /// Fixed phrases of the server's messages, and what importctl says instead.
    static let phrases: [(String, String)] = [
        ("but options.encoding says utf-8; declare the file's encoding (windows-1252 or iso-8859-1) or leave options.encoding empty to detect it",
         "but --encoding says utf-8; pass --encoding windows-1252 (or iso-8859-1), or leave --encoding out to detect it"),
        ("set options.encoding", "pass --encoding"),
        ("options.sha256 says", "importctl computed"),
        ("options.file_name", "the file name"),
        ("options.validate_only", "--validate-only"),
        ("ignore_unknown_columns", "--ignore-unknown-columns"),
    ]

    /// `column "Loyalty Tier" maps to no contact field (did you mean X?); map it
    /// with column_map or set ignore_unknown_columns` -> `... map it with
    /// --map 'Loyalty Tier=X' or pass --ignore-unknown-columns`; and
    /// `column_map maps "A" to unknown field "b"` -> `--map 'A=b' names an unknown field "b"`.
    static func unknownColumns(_ message: String) -> String {
        let advice = "map it with column_map or set ignore_unknown_columns"
        var parts = message.split(separator: advice, omittingEmptySubsequences: false).map(String.init)
        for i in 0..<(parts.count - 1) {
            let before = parts[i]
            guard let columnStart = before.lastRange(of: "column \""),
                  let columnEnd = before[columnStart.upperBound...].firstRange(of: "\" maps to no contact field") else { continue }
            let column = String(before[columnStart.upperBound..<columnEnd.lowerBound])
            var field = "FIELD"
            if let hint = before[columnEnd.upperBound...].firstRange(of: "(did you mean "),
               let end = before[hint.upperBound...].firstIndex(of: "?") {
                field = String(before[hint.upperBound..<end])
            }
            parts[i] = before + "map it with --map '\(column)=\(field)' (or --map '\(column)=' to drop it) or pass --ignore-unknown-columns"
        }
        var text = parts.joined()
        text = text.replacingAll("column_map maps \"", with: "--map '\"")
        // `--map '"A" to unknown field "b"` -> `--map 'A=b' names an unknown field "b"`
        while let start = text.firstRange(of: "--map '\""), let close = text[start.upperBound...].firstRange(of: "\" to unknown field \""),
              let end = text[close.upperBound...].firstIndex(of: "\"") {
            let column = text[start.upperBound..<close.lowerBound]
            let field = text[close.upperBound..<end]
            text.replaceSubrange(start.lowerBound..<text.index(after: end), with: "--map '\(column)=\(field)' names an unknown field \"\(field)\"")
        }
        // BadRequest-style `options.column_map[A]: unknown field "b"`.
        while let start = text.firstRange(of: "options.column_map["), let end = text[start.upperBound...].firstRange(of: "]: ") {
            let column = text[start.upperBound..<end.lowerBound]
            text.replaceSubrange(start.lowerBound..<end.upperBound, with: "--map '\(column)=...': ")
        }
        return text
    }
}

extension String {
    func replacingAll(_ target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }

    func lastRange(of target: String) -> Range<String.Index>? {
        var found: Range<String.Index>?
        var rest = startIndex..<endIndex
        while let range = self[rest].firstRange(of: target) {
            found = range
            rest = range.upperBound..<endIndex
        }
        return found
    }
}
