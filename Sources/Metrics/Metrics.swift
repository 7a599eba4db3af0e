import Synchronization

/// Metrics in Prometheus's text format (version 0.0.4): counters, gauges and
/// histograms with labels, and collectors that read values when scraped.
/// Thread-safe; names follow Prometheus's conventions (`_total`, `_seconds`,
/// base units), which the callers choose.
public final class MetricsRegistry: Sendable {
    public enum Kind: String, Sendable {
        case counter, gauge, histogram
    }

    /// One value read at scrape time.
    public struct Sample: Sendable {
        public var name: String
        public var help: String
        public var kind: Kind
        public var labels: [(String, String)]
        public var value: Double

        public init(_ name: String, help: String, kind: Kind = .gauge, labels: [(String, String)] = [], value: Double) {
            self.name = name
            self.help = help
            self.kind = kind
            self.labels = labels
            self.value = value
        }
    }

    private struct Family {
        var help: String
        var kind: Kind
        var labelNames: [String]
        var buckets: [Double] = []
        /// Label values -> value (counters, gauges) or bucket counts + sum + count (histograms).
        var values: [[String]: [Double]] = [:]
    }

    private let families = Mutex<[String: Family]>([:])
    private let collectors = Mutex<[@Sendable () async -> [Sample]]>([])

    public init() {}

    /// Declares a metric (once; later declarations of the same name are ignored).
    public func declare(_ name: String, help: String, kind: Kind, labels: [String] = [], buckets: [Double] = []) {
        families.withLock { families in
            if families[name] == nil {
                families[name] = Family(help: help, kind: kind, labelNames: labels, buckets: buckets.sorted())
            }
        }
    }

    /// Adds `amount` to a counter (or a gauge).
    public func add(_ name: String, _ labels: [String] = [], _ amount: Double = 1) {
        families.withLock { families in
            families[name]?.values[labels, default: [0]][0] += amount
        }
    }

    /// Sets a gauge.
    public func set(_ name: String, _ labels: [String] = [], _ value: Double) {
        families.withLock { $0[name]?.values[labels] = [value] }
    }

    /// Records one observation in a histogram.
    public func observe(_ name: String, _ labels: [String] = [], _ value: Double) {
        families.withLock { families in
            guard let buckets = families[name].flatMap({ $0.kind == .histogram ? $0.buckets : nil }) else { return }
            // Counted in place: no copy of the counts (or of the family) per call.
            families[name]?.values[labels, default: Array(repeating: 0, count: buckets.count + 2)].withUnsafeMutableBufferPointer { counts in
                for (i, bound) in buckets.enumerated() where value <= bound { counts[i] += 1 }
                counts[buckets.count] += value
                counts[buckets.count + 1] += 1
            }
        }
    }

    /// Values read when scraped (the number of imports by state, free disk, ...).
    public func addCollector(_ collector: @escaping @Sendable () async -> [Sample]) {
        collectors.withLock { $0.append(collector) }
    }

    /// The exposition text.
    public func render() async -> String {
        var out = ""
        let snapshot = families.withLock { $0 }
        for (name, family) in snapshot.sorted(by: { $0.key < $1.key }) {
            out += "# HELP \(name) \(Self.escapeHelp(family.help))\n# TYPE \(name) \(family.kind.rawValue)\n"
            for (labelValues, value) in family.values.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
                let labels = Array(zip(family.labelNames, labelValues))
                if family.kind == .histogram {
                    for (i, bound) in family.buckets.enumerated() {
                        out += "\(name)_bucket\(Self.labelText(labels + [("le", Self.number(bound))])) \(Self.number(value[i]))\n"
                    }
                    let count = value[family.buckets.count + 1]
                    out += "\(name)_bucket\(Self.labelText(labels + [("le", "+Inf")])) \(Self.number(count))\n"
                    out += "\(name)_sum\(Self.labelText(labels)) \(Self.number(value[family.buckets.count]))\n"
                    out += "\(name)_count\(Self.labelText(labels)) \(Self.number(count))\n"
                } else {
                    out += "\(name)\(Self.labelText(labels)) \(Self.number(value[0]))\n"
                }
            }
        }
        var samples: [Sample] = []
        for collector in collectors.withLock({ $0 }) { samples += await collector() }
        var described: Set<String> = []
        for sample in samples.sorted(by: { $0.name < $1.name }) {
            if described.insert(sample.name).inserted {
                out += "# HELP \(sample.name) \(Self.escapeHelp(sample.help))\n# TYPE \(sample.name) \(sample.kind.rawValue)\n"
            }
            out += "\(sample.name)\(Self.labelText(sample.labels)) \(Self.number(sample.value))\n"
        }
        return out
    }

    static func labelText(_ labels: [(String, String)]) -> String {
        guard !labels.isEmpty else { return "" }
        let pairs = labels.map { name, value in
            var escaped = ""
            for c in value {
                switch c {
                case "\\": escaped += "\\\\"
                case "\"": escaped += "\\\""
                case "\n": escaped += "\\n"
                default: escaped.append(c)
                }
            }
            return "\(name)=\"\(escaped)\""
        }
        return "{" + pairs.joined(separator: ",") + "}"
    }

    static func escapeHelp(_ text: String) -> String {
        var escaped = ""
        for c in text {
            switch c {
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            default: escaped.append(c)
            }
        }
        return escaped
    }

    static func number(_ value: Double) -> String {
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}
