import ArgumentParser
import Foundation

/// Where `importd serve` takes its settings from, weakest first: a config file
/// (`--config FILE` or `IMPORTD_CONFIG`: JSON, or flat TOML `key = value`),
/// then environment variables (`IMPORTD_LISTEN`, `IMPORTD_DATA_DIR`, ... one per
/// flag), then the flags themselves. They become arguments in that order, so
/// the last one given wins and every value is checked like a flag.
enum ConfigurationSources {
    /// Subcommands that take serve's settings.
    static let serving: Set<String> = ["serve"]

    /// The command line to parse: `arguments` (without the program name) with
    /// the file's and the environment's settings put before the flags.
    static func arguments(_ arguments: [String], environment: [String: String]) throws -> [String] {
        var rest = arguments
        var head: [String] = []
        if let first = rest.first, !first.hasPrefix("-") {
            guard serving.contains(first) || first == "config" else { return arguments }
            head.append(rest.removeFirst())
            if first == "config", let next = rest.first, next == "print" { head.append(rest.removeFirst()) }
        }
        var file = environment["IMPORTD_CONFIG"]
        if let index = rest.firstIndex(of: "--config") {
            guard index + 1 < rest.count else { throw ValidationError("--config needs a file") }
            file = rest[index + 1]
            rest.removeSubrange(index...(index + 1))
        } else if let index = rest.firstIndex(where: { $0.hasPrefix("--config=") }) {
            file = String(rest[index].dropFirst("--config=".count))
            rest.remove(at: index)
        }
        var settings: [String] = []
        if let file { settings += try fileArguments(file) }
        for (name, value) in environment.sorted(by: { $0.key < $1.key })
        where name.hasPrefix("IMPORTD_") && name != "IMPORTD_CONFIG" && name != "IMPORTD_FUZZ" {
            settings += ["--" + name.dropFirst("IMPORTD_".count).lowercased().replacingOccurrences(of: "_", with: "-"), value]
        }
        return head + settings + rest
    }

    /// A config file's settings as arguments.
    static func fileArguments(_ path: String) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read the config file \(path)") }
        let text = String(decoding: data, as: UTF8.self)
        var pairs: [(String, String)] = []
        if path.hasSuffix(".json") || text.trimmingCharacters(in: .whitespacesAndNewlines).hasPrefix("{") {
            guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw ValidationError("\(path) is not a JSON object of settings")
            }
            for (key, value) in object.sorted(by: { $0.key < $1.key }) {
                switch value {
                case let string as String: pairs.append((key, string))
                case let number as NSNumber: pairs.append((key, number.stringValue))
                default: throw ValidationError("\(path): \(key) must be a string or a number")
                }
            }
        } else {
            for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                guard !trimmed.isEmpty else { continue }
                let parts = trimmed.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2, !parts[0].isEmpty else {
                    throw ValidationError("\(path) line \(number + 1): expected key = value")
                }
                var value = parts[1]
                if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
                pairs.append((parts[0], value))
            }
        }
        return pairs.flatMap { key, value in ["--" + key.replacingOccurrences(of: "_", with: "-"), value] }
    }
}

/// `importd config print`: the settings serve would run with.
struct Config: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show importd's effective configuration.",
        subcommands: [Print.self])

    struct Print: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the settings `importd serve` would use: defaults, then the config file, the environment, the flags.",
            discussion: "Takes serve's flags (and --config), so it shows what a given command line would run with.")

        @Argument(parsing: .captureForPassthrough, help: "serve's flags")
        var flags: [String] = []

        func run() throws {
            let serve = try Serve.parse(flags)
            for (name, value) in serve.effectiveSettings {
                let masked = ["token", "secret", "password"].contains { name.contains($0) } ? "********" : value
                print("\(name) = \(masked)")
            }
        }
    }
}
