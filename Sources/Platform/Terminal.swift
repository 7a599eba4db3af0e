import CPlatform

#if canImport(Glibc)
import Glibc
#endif

/// What a command-line tool needs to know about its terminal.
public enum Terminal {
    public static let standardOutput: Int32 = 1
    public static let standardError: Int32 = 2
    public static let standardInput: Int32 = 0

    /// Whether `fd` is a terminal.
    public static func isTerminal(_ fd: Int32) -> Bool {
        isatty(fd) != 0
    }

    /// The terminal's width in columns; `COLUMNS`, else 80 when unknown.
    public static func columns(_ fd: Int32) -> Int {
        let columns = Int(cplatform_terminal_columns(fd))
        if columns > 0 { return columns }
        if let text = getenv("COLUMNS"), let value = Int(String(cString: text)), value > 0 { return value }
        return 80
    }

    /// Writes text to `fd` at once (no buffering: progress redraws in place).
    public static func write(_ fd: Int32, _ text: String) {
        var text = text
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if n <= 0 {
                    if errno == EINTR { continue }
                    return
                }
                offset += n
            }
        }
    }

    /// One line from standard input, nil at its end.
    public static func readLine() -> String? {
        Swift.readLine(strippingNewline: true)
    }
}
