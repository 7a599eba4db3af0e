/// The "export a template" option: a header line of every field and one
/// example row, with each field's rules.
public struct ImportTemplateSpec: Sendable {
    public struct Field: Sendable {
        public var name: String
        public var required: Bool
        public var aliases: [String]
        public var description: String
        public var example: String
    }

    public var csv: [UInt8]
    public var fields: [Field]

    /// The template: the same for every call (the fields are fixed), made once.
    public static let standard = make()

    static func make() -> ImportTemplateSpec {
        let fields = ContactField.allCases
        let header = fields.map(\.name).joined(separator: ",")
        let example = fields.map { CSVWriter.escape($0.example) }.joined(separator: ",")
        let specs = fields.map { field in
            Field(name: field.name, required: field.isRequired, aliases: field.displayAliases,
                description: field.isRequired || !ContactField.contactPoints.contains(field) ? field.help
                    : field.help + " At least one of email, phone or mobile is required.",
                example: field.example)
        }
        return ImportTemplateSpec(csv: Array((header + "\r\n" + example + "\r\n").utf8), fields: specs)
    }
}

/// Writes RFC 4180 CSV.
public enum CSVWriter {
    /// A field, quoted when it holds a comma, quote, CR or LF (quotes doubled).
    public static func escape(_ value: String) -> String {
        guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" || $0 == ";" }) else { return value }
        return "\"" + value.replacingQuotes() + "\""
    }

    public static func line(_ fields: [String]) -> String {
        fields.map(escape).joined(separator: ",") + "\r\n"
    }

    /// Characters that make a spreadsheet read a cell as a formula (OWASP's
    /// CSV injection list): `=`, `+`, `-`, `@`, TAB, CR.
    public static func startsFormula(_ first: UInt8?) -> Bool {
        switch first {
        case UInt8(ascii: "="), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "@"), 0x09, 0x0D: return true
        default: return false
        }
    }

    /// A cell a spreadsheet will show as text, never run: a value that starts
    /// like a formula gets a leading `'` (removed again when the file is uploaded).
    public static func neutralized(_ value: String) -> String {
        startsFormula(value.utf8.first) ? "'" + value : value
    }
}

extension String {
    fileprivate func replacingQuotes() -> String {
        var out = ""
        out.reserveCapacity(utf8.count + 2)
        for character in self {
            if character == "\"" { out.append("\"\"") } else { out.append(character) }
        }
        return out
    }
}
