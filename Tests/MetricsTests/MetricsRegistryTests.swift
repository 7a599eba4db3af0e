import Metrics
import Testing

@Suite struct MetricsRegistryTests {
    @Test func histogramsCountEachObservationInEveryBucketItFits() async {
        let registry = MetricsRegistry()
        registry.declare("d_seconds", help: "Durations.", kind: .histogram, labels: ["method"], buckets: [1, 0.1])
        for value in [0.05, 0.5, 2] { registry.observe("d_seconds", ["/a"], value) }
        registry.observe("d_seconds", ["/b"], 0.01)
        registry.observe("missing", ["/a"], 1)  // undeclared: ignored
        let text = await registry.render()
        #expect(text.contains("d_seconds_bucket{method=\"/a\",le=\"0.1\"} 1\n"))
        #expect(text.contains("d_seconds_bucket{method=\"/a\",le=\"1\"} 2\n"))
        #expect(text.contains("d_seconds_bucket{method=\"/a\",le=\"+Inf\"} 3\n"))
        #expect(text.contains("d_seconds_sum{method=\"/a\"} 2.55\n"))
        #expect(text.contains("d_seconds_count{method=\"/a\"} 3\n"))
        #expect(text.contains("d_seconds_count{method=\"/b\"} 1\n"))
        #expect(!text.contains("missing"))
    }

    @Test func countersAddUp() async {
        let registry = MetricsRegistry()
        registry.declare("c_total", help: "Calls.", kind: .counter, labels: ["code"])
        registry.add("c_total", ["OK"])
        registry.add("c_total", ["OK"], 2)
        #expect(await registry.render().contains("c_total{code=\"OK\"} 3\n"))
    }
}

@Suite struct MetricsSeriesTests {
    @Test func aSeriesResolvedAheadShowsOnlyOnceUsed() async {
        let registry = MetricsRegistry()
        registry.declare("c_total", help: "Calls.", kind: .counter, labels: ["code"])
        registry.declare("d_seconds", help: "Durations.", kind: .histogram, labels: [], buckets: [0.5])
        let ok = registry.series("c_total", ["OK"])
        let failed = registry.series("c_total", ["FAILED"])
        let durations = registry.series("d_seconds")
        #expect(registry.series("undeclared") == nil)
        #expect(failed != nil && durations != nil)
        ok?.add()
        ok?.add(2)
        durations?.observe(1)  // above every bound: +Inf only
        let text = await registry.render()
        #expect(text.contains("c_total{code=\"OK\"} 3\n"))
        #expect(!text.contains("FAILED"))
        #expect(text.contains("d_seconds_bucket{le=\"0.5\"} 0\n"))
        #expect(text.contains("d_seconds_bucket{le=\"+Inf\"} 1\n"))
        #expect(text.contains("d_seconds_count 1\n"))
    }
}
