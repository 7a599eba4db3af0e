import Foundation
import Logging
import Platform
import ProtoMessages

/// importd's log lines on stderr: one line per event, always (newlines in a
/// message are escaped), as text (`2026-11-29T20:15:02.123Z info importd: call
/// method=... status=OK`) or as JSON objects (`--log-format json`), with the
/// event's fields.
struct LineLogHandler: LogHandler {
    enum Format: String, CaseIterable {
        case text, json
    }

    let label: String
    let format: Format
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let (level, message) = (event.level, event.message)
        var fields = self.metadata
        if let metadata = event.metadata { fields.merge(metadata) { $1 } }
        if let error = event.error { fields["error"] = "\(error)" }
        let time = Self.timestamp()
        var text: String
        switch format {
        case .text:
            text = "\(time) \(level) \(label): \(Self.oneLine(message.description))"
            for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
                text += " \(key)=\(Self.oneLine(value.description))"
            }
        case .json:
            var pairs = [
                JSONValue.Pair("ts", .string(time)), JSONValue.Pair("level", .string(level.rawValue)),
                JSONValue.Pair("logger", .string(label)), JSONValue.Pair("msg", .string(message.description)),
            ]
            for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
                pairs.append(JSONValue.Pair(key, .string(value.description)))
            }
            text = JSONValue.object(pairs).text
        }
        text += "\n"
        // One write per line: lines from several threads never interleave.
        text.withUTF8 { _ = Foundation.write(2, $0.baseAddress, $0.count) }
    }

    /// UTC with milliseconds.
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let millis = now.tv_nsec / 1_000_000
        let base = UTCTime.iso8601(seconds: Int64(now.tv_sec)).dropLast()
        return base + "." + String(repeating: "0", count: millis < 10 ? 2 : millis < 100 ? 1 : 0) + String(millis) + "Z"
    }

    /// `text` with line breaks and other control characters escaped.
    static func oneLine(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.value < 0x20 }) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 { out += String(format: "\\u%04x", scalar.value) } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out
    }
}
