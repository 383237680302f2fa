import BillingSupport

/// Counters, gauges and histograms for one process, rendered in Prometheus text format.
///
/// Thread-safe. Durations are kept as integer microseconds and rendered as seconds.
public final class Metrics: @unchecked Sendable {
    /// Histogram bucket bounds in microseconds: fine below 100 ms, where the targets are.
    public static let latencyBucketsMicros: [Int64] = [
        500, 1_000, 2_000, 3_000, 5_000, 7_500, 10_000, 15_000, 20_000, 30_000, 40_000, 50_000, 60_000, 70_000,
        80_000, 90_000, 100_000, 125_000, 150_000, 200_000, 300_000, 500_000, 750_000, 1_000_000, 2_000_000,
        5_000_000, 10_000_000, 30_000_000,
    ]

    private struct Histogram {
        var counts: [Int64]
        var sumMicros: Int64 = 0
        var count: Int64 = 0
    }

    private struct State {
        var counters: [String: Int64] = [:]
        var gauges: [String: Int64] = [:]
        var histograms: [String: Histogram] = [:]
        var help: [String: (type: String, text: String)] = [:]
    }

    private let state = Locked(State())
    /// Gauges computed at scrape time (lag, outbox backlog).
    private let collectors = Locked<[@Sendable () -> [(series: String, value: Int64)]]>([])

    public init() {}

    public func describe(_ name: String, type: String, _ text: String) {
        state.withLock { $0.help[name] = (type, text) }
    }

    public func increment(_ name: String, labels: [(String, String)] = [], by amount: Int64 = 1) {
        let series = Self.series(name, labels)
        state.withLock { $0.counters[series, default: 0] += amount }
    }

    public func set(_ name: String, labels: [(String, String)] = [], _ value: Int64) {
        let series = Self.series(name, labels)
        state.withLock { $0.gauges[series] = value }
    }

    public func observe(_ name: String, micros: Int64) {
        observe(name, micros: CollectionOfOne(micros))
    }

    /// Records many observations under one lock (a batch's latencies).
    public func observe<S: Sequence>(_ name: String, micros values: S) where S.Element == Int64 {
        state.withLock { state in
            var histogram =
                state.histograms[name] ?? Histogram(counts: Array(repeating: 0, count: Self.latencyBucketsMicros.count))
            for micros in values {
                if let index = Self.latencyBucketsMicros.firstIndex(where: { micros <= $0 }) {
                    histogram.counts[index] += 1
                }
                histogram.sumMicros += max(0, micros)
                histogram.count += 1
            }
            state.histograms[name] = histogram
        }
    }

    public func addCollector(_ collector: @escaping @Sendable () -> [(series: String, value: Int64)]) {
        collectors.withLock { $0.append(collector) }
    }

    /// Prometheus text exposition format 0.0.4.
    public func render() -> String {
        let snapshot = state.current
        let collected = collectors.current.flatMap { $0() }
        var output = ""
        var described = Set<String>()
        func header(_ series: String) {
            let name = String(series.prefix { $0 != "{" })
            guard !described.contains(name), let help = snapshot.help[name] else { return }
            described.insert(name)
            output += "# HELP \(name) \(help.text)\n# TYPE \(name) \(help.type)\n"
        }
        for (series, value) in snapshot.counters.sorted(by: { $0.key < $1.key }) {
            header(series)
            output += "\(series) \(value)\n"
        }
        let gauges = snapshot.gauges.map { ($0.key, $0.value) } + collected.map { ($0.series, $0.value) }
        for (series, value) in gauges.sorted(by: { $0.0 < $1.0 }) {
            header(series)
            output += "\(series) \(value)\n"
        }
        for (name, histogram) in snapshot.histograms.sorted(by: { $0.key < $1.key }) {
            header(name)
            var cumulative: Int64 = 0
            for (index, bound) in Self.latencyBucketsMicros.enumerated() {
                cumulative += histogram.counts[index]
                output += "\(name)_bucket{le=\"\(Self.seconds(bound))\"} \(cumulative)\n"
            }
            output += "\(name)_bucket{le=\"+Inf\"} \(histogram.count)\n"
            output += "\(name)_sum \(Self.seconds(histogram.sumMicros))\n"
            output += "\(name)_count \(histogram.count)\n"
        }
        return output
    }

    /// `1500` µs → `0.0015`: exact decimal text, no floating point.
    public static func seconds(_ micros: Int64) -> String {
        let whole = micros / 1_000_000
        var fraction = String(micros % 1_000_000)
        fraction = String(repeating: "0", count: 6 - fraction.count) + fraction
        while fraction.last == "0" { fraction.removeLast() }
        return fraction.isEmpty ? String(whole) : "\(whole).\(fraction)"
    }

    public static func series(_ name: String, _ labels: [(String, String)]) -> String {
        guard !labels.isEmpty else { return name }
        let rendered = labels.map { key, value in
            let escaped = value.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"").replacing("\n", with: "\\n")
            return "\(key)=\"\(escaped)\""
        }
        return "\(name){\(rendered.joined(separator: ","))}"
    }
}
