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

    /// One labelled series of a family, resolved once (`series(_:_:)`): adding
    /// to it then takes no look-up of its name or labels, and no lock but its own.
    public final class Series: Sendable {
        /// Counters and gauges: the value. Histograms: a count per bucket (not
        /// cumulative: rendering adds them up), then +Inf's, the sum, the count.
        private let state: Mutex<(used: Bool, values: [Double])>
        fileprivate let buckets: [Double]

        fileprivate init(buckets: [Double], histogram: Bool) {
            self.buckets = buckets
            state = Mutex((false, Array(repeating: 0, count: histogram ? buckets.count + 3 : 1)))
        }

        /// Adds `amount` to a counter (or a gauge).
        public func add(_ amount: Double = 1) {
            state.withLock {
                $0.used = true
                $0.values[0] += amount
            }
        }

        /// Sets a gauge.
        public func set(_ value: Double) {
            state.withLock {
                $0.used = true
                $0.values[0] = value
            }
        }

        /// Records one observation in a histogram (a no-op on other kinds).
        public func observe(_ value: Double) {
            let bucket = buckets.firstIndex { value <= $0 } ?? buckets.count
            state.withLock {
                guard $0.values.count == buckets.count + 3 else { return }
                $0.used = true
                $0.values.withUnsafeMutableBufferPointer { counts in
                    counts[bucket] += 1
                    counts[buckets.count + 1] += value
                    counts[buckets.count + 2] += 1
                }
            }
        }

        /// Nil until something was recorded: a series resolved ahead of use
        /// does not show as zeros.
        fileprivate var values: [Double]? { state.withLock { $0.used ? $0.values : nil } }
    }

    private struct Family {
        var help: String
        var kind: Kind
        var labelNames: [String]
        var buckets: [Double] = []
        var series: [[String]: Series] = [:]
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

    /// The series of a declared metric with these label values (made on first
    /// use); nil for a name never declared. Callers on a hot path resolve
    /// their series once; each distinct label set is kept for good, so label
    /// values must come from a bounded set (never from a client's input).
    public func series(_ name: String, _ labels: [String] = []) -> Series? {
        families.withLock { families in
            guard let family = families[name] else { return nil }
            if let series = family.series[labels] { return series }
            let series = Series(buckets: family.buckets, histogram: family.kind == .histogram)
            families[name]?.series[labels] = series
            return series
        }
    }

    /// Adds `amount` to a counter (or a gauge).
    public func add(_ name: String, _ labels: [String] = [], _ amount: Double = 1) {
        series(name, labels)?.add(amount)
    }

    /// Sets a gauge.
    public func set(_ name: String, _ labels: [String] = [], _ value: Double) {
        series(name, labels)?.set(value)
    }

    /// Records one observation in a histogram.
    public func observe(_ name: String, _ labels: [String] = [], _ value: Double) {
        series(name, labels)?.observe(value)
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
            for (labelValues, series) in family.series.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) }) {
                guard let value = series.values else { continue }
                let labels = Array(zip(family.labelNames, labelValues))
                if family.kind == .histogram {
                    var cumulative = 0.0
                    for (i, bound) in family.buckets.enumerated() {
                        cumulative += value[i]
                        out += "\(name)_bucket\(Self.labelText(labels + [("le", Self.number(bound))])) \(Self.number(cumulative))\n"
                    }
                    let count = value[family.buckets.count + 2]
                    out += "\(name)_bucket\(Self.labelText(labels + [("le", "+Inf")])) \(Self.number(count))\n"
                    out += "\(name)_sum\(Self.labelText(labels)) \(Self.number(value[family.buckets.count + 1]))\n"
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
