/// JSON string literals, written once for every JSON the product prints
/// (importctl's `--json`, logs, the web listener's errors).
public enum JSONText {
    /// Appends `s` as a JSON string literal. `forHTML`: also escapes `<`, `>`,
    /// `&` and the JavaScript line separators, so the text stays inert if a
    /// page ever puts it inside markup.
    public static func quote(_ s: String, into out: inout String, forHTML: Bool = false) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "<" where forHTML: out += "\\u003c"
            case ">" where forHTML: out += "\\u003e"
            case "&" where forHTML: out += "\\u0026"
            case "\u{2028}" where forHTML: out += "\\u2028"
            case "\u{2029}" where forHTML: out += "\\u2029"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
