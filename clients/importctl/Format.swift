import Foundation
import Platform
import ProtoMessages
import RPCCore

/// How values read on a terminal.
enum Format {
    /// 1234567 -> "1,234,567".
    static func count(_ n: UInt64) -> String {
        let digits = String(n)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return out
    }

    static func count(_ n: Int) -> String { count(UInt64(max(0, n))) }

    /// 27_100_000 -> "27.1 MB".
    static func bytes(_ n: Double) -> String {
        let units = ["B", "KB", "MB", "GB", "TB"]
        var value = n
        var unit = 0
        while value >= 1000 && unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        return unit == 0 ? "\(Int(value)) B" : String(format: value >= 100 ? "%.0f %@" : "%.1f %@", value, units[unit])
    }

    /// Seconds -> "2h 05m", "4m 12s", "9s".
    static func duration(_ seconds: Double) -> String {
        let s = max(0, Int(seconds.rounded()))
        if s >= 3600 { return String(format: "%dh %02dm", s / 3600, (s % 3600) / 60) }
        if s >= 60 { return String(format: "%dm %02ds", s / 60, s % 60) }
        return "\(s)s"
    }

    static func date(_ stamp: GoogleProtobuf.Timestamp?) -> Date? {
        guard let stamp, stamp.seconds != 0 || stamp.nanos != 0 else { return nil }
        return Date(timeIntervalSince1970: Double(stamp.seconds) + Double(stamp.nanos) / 1e9)
    }

    /// "2026-01-05 10:15:00 UTC".
    static func time(_ stamp: GoogleProtobuf.Timestamp?) -> String {
        guard let stamp, date(stamp) != nil else { return "-" }
        return UTCTime.readable(seconds: stamp.seconds)
    }

    /// "10:15:00 UTC (in 4m 12s)".
    static func nextRun(_ stamp: GoogleProtobuf.Timestamp?) -> String {
        guard let stamp, let date = date(stamp) else { return "-" }
        let wait = date.timeIntervalSinceNow
        return UTCTime.timeOfDay(seconds: stamp.seconds) + (wait > 0.5 ? " (in \(duration(wait)))" : " (now)")
    }

    static func state(_ state: ImportsV1.ImportState) -> String {
        state.protoName.replacingOccurrences(of: "IMPORT_STATE_", with: "")
    }

    static func outcome(_ outcome: ImportsV1.RowOutcome) -> String {
        outcome.protoName.replacingOccurrences(of: "ROW_OUTCOME_", with: "")
    }

    static func percent(_ part: UInt64, of whole: UInt64) -> String {
        whole == 0 ? "100%" : "\(Int((Double(part) / Double(whole) * 100).rounded(.down)))%"
    }

    /// "[██████████░░░░░░░░░░]".
    static func bar(_ fraction: Double, width: Int) -> String {
        let filled = Int((min(max(fraction, 0), 1) * Double(width)).rounded(.down))
        return "[" + String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled) + "]"
    }

    /// Cuts `text` to `width` characters, with an ellipsis.
    static func fit(_ text: String, _ width: Int) -> String {
        let flat = text.replacingOccurrences(of: "\r\n", with: " ").replacingOccurrences(of: "\n", with: " ")
        guard flat.count > width else { return flat }
        return width <= 1 ? String(flat.prefix(width)) : String(flat.prefix(width - 1)) + "…"
    }
}

/// An aligned table, cut to the terminal's width (the widest columns give way).
struct Table {
    var header: [String]
    var rows: [[String]] = []
    /// Columns that align right (numbers).
    var rightAligned: Set<Int> = []

    func render(width: Int) -> String {
        let columns = header.count
        var widths = (0..<columns).map { c in max(header[c].count, rows.map { $0[c].count }.max() ?? 0) }
        let gap = 2
        while widths.reduce(0, +) + gap * (columns - 1) > width {
            guard let widest = widths.indices.max(by: { widths[$0] < widths[$1] }), widths[widest] > 6 else { break }
            widths[widest] -= 1
        }
        func line(_ cells: [String]) -> String {
            var out = ""
            for c in 0..<columns {
                let cell = Format.fit(cells[c], widths[c])
                let pad = String(repeating: " ", count: widths[c] - cell.count)
                out += rightAligned.contains(c) ? pad + cell : cell + (c == columns - 1 ? "" : pad)
                if c < columns - 1 { out += String(repeating: " ", count: gap) }
            }
            return out
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n") + "\n"
    }
}

/// Prints JSON lines or a table, as asked.
struct Output {
    let json: Bool

    /// The terminal's width; no limit when the output goes to a file or pipe.
    var width: Int { Terminal.isTerminal(Terminal.standardOutput) ? Terminal.columns(Terminal.standardOutput) : Int.max / 4 }

    func items(_ items: [any ProtoJSONRepresentable]) {
        for item in items {
            print(item.protoJSON.text)
        }
    }

    func table(_ table: Table) {
        print(table.render(width: width), terminator: "")
    }

    func line(_ text: String) {
        print(text)
    }

    /// Notes for people: stderr, so stdout stays clean for pipes.
    func note(_ text: String) {
        Terminal.write(Terminal.standardError, text + "\n")
    }
}

import Platform
