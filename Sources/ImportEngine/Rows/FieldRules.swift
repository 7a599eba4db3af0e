/// The contract's value rules, on UTF-8 bytes (no String per value).
public enum FieldRules {
    /// Unicode scalars in valid UTF-8 `bytes`.
    public static func characterCount(_ bytes: ArraySlice<UInt8>) -> Int {
        var count = 0
        for byte in bytes where byte & 0xC0 != 0x80 { count += 1 }
        return count
    }

    /// Whether `bytes` is valid UTF-8 (overlongs, surrogates and values past
    /// U+10FFFF are not).
    public static func isValidUTF8(_ bytes: ArraySlice<UInt8>) -> Bool {
        UTF8Check.scan(bytes) == .valid
    }

    private static func isASCIILetterOrDigit(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
    }

    /// A practical RFC 5322 subset: `local@domain`, dot-atom local part (ASCII
    /// atext or non-ASCII), domain of two or more labels of letters, digits and
    /// inner hyphens (or non-ASCII), a top-level label of 2+ letters, no spaces.
    public static func isValidEmail(_ bytes: ArraySlice<UInt8>) -> Bool {
        guard let at = bytes.lastIndex(of: UInt8(ascii: "@")) else { return false }
        let local = bytes[bytes.startIndex..<at]
        let domain = bytes[(at + 1)...]
        guard !local.isEmpty, local.count <= 64, !domain.isEmpty, domain.count <= 253 else { return false }
        // Local part: dot-atom.
        var previousDot = true
        for b in local {
            if b == UInt8(ascii: ".") {
                if previousDot { return false }
                previousDot = true
                continue
            }
            previousDot = false
            if b >= 0x80 || isASCIILetterOrDigit(b) { continue }
            if !"!#$%&'*+-/=?^_`{|}~".utf8.contains(b) { return false }
        }
        if previousDot { return false }
        // Domain: labels.
        var labels = 0
        var labelLength = 0
        var labelStart = domain.startIndex
        var lastLabelAllLetters = true
        var i = domain.startIndex
        while i <= domain.endIndex {
            if i == domain.endIndex || domain[i] == UInt8(ascii: ".") {
                guard labelLength > 0, labelLength <= 63 else { return false }
                if domain[labelStart] == UInt8(ascii: "-") || domain[i - 1] == UInt8(ascii: "-") { return false }
                labels += 1
                if i == domain.endIndex { break }
                labelLength = 0
                labelStart = i + 1
                lastLabelAllLetters = true
                i += 1
                continue
            }
            let b = domain[i]
            if !(b >= 0x80 || isASCIILetterOrDigit(b) || b == UInt8(ascii: "-")) { return false }
            if b < 0x80 && !((b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)) { lastLabelAllLetters = false }
            labelLength += 1
            i += 1
        }
        return labels >= 2 && lastLabelAllLetters && labelLength >= 2
    }

    /// Digits with an optional leading `+`, spaces, dots, dashes and parentheses;
    /// 6 to 20 digits.
    public static func isValidPhone(_ bytes: ArraySlice<UInt8>) -> Bool {
        var digits = 0
        for (offset, b) in bytes.enumerated() {
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digits += 1
            case UInt8(ascii: "+"): if offset != 0 { return false }
            case UInt8(ascii: " "), UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "("), UInt8(ascii: ")"): break
            default: return false
            }
        }
        return (6...20).contains(digits)
    }

    /// ISO `YYYY-MM-DD` naming a real day (year 0001-9999, leap years counted).
    public static func isValidDate(_ bytes: ArraySlice<UInt8>) -> Bool {
        guard bytes.count == 10 else { return false }
        let b = Array(bytes)
        guard b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-") else { return false }
        func number(_ range: Range<Int>) -> Int? {
            var n = 0
            for i in range {
                guard b[i] >= 0x30 && b[i] <= 0x39 else { return nil }
                n = n * 10 + Int(b[i] - 0x30)
            }
            return n
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10) else { return false }
        guard year >= 1, (1...12).contains(month), day >= 1 else { return false }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        return day <= days
    }

    /// Appends the key of the email at `range` of `buffer` to the same buffer,
    /// reading by index (a slice of `buffer` held across the append would make
    /// every append copy the whole buffer).
    public static func appendEmailKey(of range: Range<Int>, in buffer: inout [UInt8]) {
        // ASCII (nearly every address): lower-cased in one pass into room
        // made at the end, through a pointer (not a checked append a byte).
        let start = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: range.count))
        let ascii = buffer.withUnsafeMutableBufferPointer { b in
            var high: UInt8 = 0
            var j = start
            for i in range {
                let c = b[i]
                high |= c
                b[j] = c &+ (c >= 0x41 && c <= 0x5A ? 32 : 0)
                j += 1
            }
            return high < 0x80
        }
        if !ascii {
            buffer.removeSubrange(start...)
            let lowered = String(decoding: buffer[range], as: UTF8.self).lowercased()
            buffer.append(contentsOf: lowered.utf8)
        }
    }

    /// The dedup key of a stored email (what `appendEmailKey` makes of it).
    public static func emailKey(_ email: String) -> String {
        var key: [UInt8] = []
        appendEmailKey(ArraySlice(email.utf8), to: &key)
        return String(decoding: key, as: UTF8.self)
    }

    /// The key emails are matched by: lower-cased (ASCII fast path).
    public static func appendEmailKey(_ bytes: ArraySlice<UInt8>, to out: inout [UInt8]) {
        if bytes.allSatisfy({ $0 < 0x80 }) {
            for b in bytes { out.append(b >= 0x41 && b <= 0x5A ? b + 32 : b) }
        } else {
            out.append(contentsOf: String(decoding: bytes, as: UTF8.self).lowercased().utf8)
        }
    }

    static func isWhitespace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D || b == 0x0B || b == 0x0C }
}
