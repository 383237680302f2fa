import BillingSupport
import CoreMetrics
import Prometheus

/// One metric family a process exposes, declared once at start: its name, kind, help text and the
/// closed set of label sets its series carry.
public struct MetricFamily: Sendable {
    public enum Kind: String, Sendable {
        case counter, gauge, histogram
    }

    /// Which series the family has.
    public enum Series: @unchecked Sendable {
        /// These label sets, each a series from the start at zero (`[[]]`: one series without labels).
        case fixed([[(String, String)]])
        /// Series appear and disappear with what they describe (a partition while it is assigned),
        /// from a closed set known only then; until then the family shows its HELP and TYPE alone.
        case whileAssigned(labelNames: [String])
    }

    public let name: String
    public let kind: Kind
    public let help: String
    public let series: Series

    public init(_ kind: Kind, _ name: String, _ help: String, series: Series = .fixed([[]])) {
        self.name = name
        self.kind = kind
        self.help = help
        self.series = series
    }

    public static func counter(_ name: String, _ help: String, labels: [[(String, String)]] = [[]]) -> MetricFamily {
        MetricFamily(.counter, name, help, series: .fixed(labels))
    }

    public static func gauge(_ name: String, _ help: String, labels: [[(String, String)]] = [[]]) -> MetricFamily {
        MetricFamily(.gauge, name, help, series: .fixed(labels))
    }

    public static func histogram(_ name: String, _ help: String) -> MetricFamily {
        MetricFamily(.histogram, name, help)
    }

    /// `[[(name, v1)], [(name, v2)], …]`: one series per value of a closed set.
    public static func each(_ name: String, _ values: some Sequence<String>) -> [[(String, String)]] {
        values.map { [(name, $0)] }
    }
}

/// The process's metrics: a swift-prometheus registry behind the swift-metrics API.
///
/// Every family is declared before it is used (`declare`), with HELP and TYPE and, for fixed label
/// sets, every series at zero, so a scrape right after start lists them all and an alert on
/// `increase(…[5m])` sees the first increment. Code records through swift-metrics handles made by
/// `factory` (or `counter`/`gauge`/`timer` here); asking for a series that was not declared is a
/// programming error and stops the process, so labels can only come from the declared closed sets.
public final class Metrics: Sendable {
    /// Histogram bucket bounds in microseconds: fine below 100 ms, where the targets are.
    public static let latencyBucketsMicros: [Int64] = [
        500, 1_000, 2_000, 3_000, 5_000, 7_500, 10_000, 15_000, 20_000, 30_000, 40_000, 50_000, 60_000, 70_000,
        80_000, 90_000, 100_000, 125_000, 150_000, 200_000, 300_000, 500_000, 750_000, 1_000_000, 2_000_000,
        5_000_000, 10_000_000, 30_000_000,
    ]

    public let registry = PrometheusCollectorRegistry()
    public let factory: any MetricsFactory
    private let families: Locked<[String: MetricFamily]>
    /// Gauges computed at scrape time (lag, heap), and the series they set last time.
    private let collectors = Locked<[@Sendable () -> [CollectedValue]]>([])
    private let collected = Locked<[String: (family: String, gauge: Prometheus.Gauge)]>([:])

    /// A gauge's value computed at scrape time.
    public struct CollectedValue: Sendable {
        public let name: String
        public let labels: [(String, String)]
        public let value: Int64

        public init(_ name: String, _ labels: [(String, String)], _ value: Int64) {
            self.name = name
            self.labels = labels
            self.value = value
        }

        public init(_ name: String, _ value: Int64) { self.init(name, [], value) }
    }

    public init(_ declarations: [MetricFamily] = []) {
        let families = Locked<[String: MetricFamily]>([:])
        self.families = families
        factory = DeclaredFactory(registry: registry, families: families)
        declare(declarations)
    }

    /// Declares families (once each): every fixed series is registered at zero.
    public func declare(_ declarations: [MetricFamily]) {
        for family in declarations {
            let known = families.withLock { known -> Bool in
                if known[family.name] != nil { return true }
                known[family.name] = family
                return false
            }
            precondition(!known, "metric \(family.name) declared twice")
            switch family.series {
            case .fixed(let labelSets):
                for labels in labelSets { register(family, labels) }
            case .whileAssigned:
                break  // its series come with what they describe; `render` shows HELP and TYPE meanwhile
            }
        }
    }

    /// Makes the series through the factory, which registers it at zero.
    private func register(_ family: MetricFamily, _ labels: [(String, String)]) {
        switch family.kind {
        case .counter: _ = factory.makeCounter(label: family.name, dimensions: labels)
        case .gauge: _ = factory.makeMeter(label: family.name, dimensions: labels)
        case .histogram: _ = factory.makeTimer(label: family.name, dimensions: labels)
        }
    }

    public func counter(_ name: String, _ labels: [(String, String)] = []) -> CoreMetrics.Counter {
        CoreMetrics.Counter(label: name, dimensions: labels, factory: factory)
    }

    public func gauge(_ name: String, _ labels: [(String, String)] = []) -> CoreMetrics.Gauge {
        CoreMetrics.Gauge(label: name, dimensions: labels, factory: factory)
    }

    public func timer(_ name: String, _ labels: [(String, String)] = []) -> CoreMetrics.Timer {
        CoreMetrics.Timer(label: name, dimensions: labels, factory: factory)
    }

    /// Adds gauges computed at each scrape; a series a collector stops reporting is removed.
    public func addCollector(_ collector: @escaping @Sendable () -> [CollectedValue]) {
        collectors.withLock { $0.append(collector) }
    }

    /// Prometheus text exposition format 0.0.4.
    public func render() -> String {
        let present = refreshCollected()
        var text = registry.emitToString()
        // The registry keeps no empty family: one whose series all come later still says what it is.
        for family in families.current.values.sorted(by: { $0.name < $1.name }) {
            guard case .whileAssigned = family.series, !present.contains(family.name) else { continue }
            text += "# HELP \(family.name) \(family.help)\n# TYPE \(family.name) \(family.kind.rawValue)\n"
        }
        return text
    }

    /// Sets the collected gauges; removes the series of `whileAssigned` families no longer reported.
    /// Returns the names of the families that have a collected series now.
    private func refreshCollected() -> Set<String> {
        let values = collectors.current.flatMap { $0() }
        let declared = families.current
        return collected.withLock { gauges in
            var seen = Set<String>()
            var present = Set<String>()
            for value in values {
                guard let family = declared[value.name], family.kind == .gauge else {
                    preconditionFailure("collected metric \(value.name) was not declared as a gauge")
                }
                let key = Self.seriesKey(value.name, value.labels)
                seen.insert(key)
                present.insert(value.name)
                let gauge =
                    gauges[key]?.gauge
                    ?? registry.makeGauge(name: value.name, labels: value.labels, help: family.help)
                gauges[key] = (value.name, gauge)
                gauge.set(value.value)
            }
            for (key, entry) in gauges where !seen.contains(key) {
                if case .whileAssigned = declared[entry.family]?.series { registry.unregisterGauge(entry.gauge) }
                gauges[key] = nil
            }
            return present
        }
    }

    static func seriesKey(_ name: String, _ labels: [(String, String)]) -> String {
        ([name] + labels.map { "\($0.0)=\($0.1)" }).joined(separator: "\u{1F}")
    }
}

/// swift-metrics' factory over the registry: hands out the declared series (with their help text),
/// and refuses any other.
struct DeclaredFactory: MetricsFactory {
    let registry: PrometheusCollectorRegistry
    let families: Locked<[String: MetricFamily]>

    private func family(_ name: String, _ kind: MetricFamily.Kind, _ labels: [(String, String)]) -> MetricFamily {
        guard let family = families.current[name], family.kind == kind else {
            preconditionFailure("metric \(name) was not declared as a \(kind.rawValue)")
        }
        if case .fixed(let labelSets) = family.series {
            let key = Metrics.seriesKey(name, labels)
            precondition(
                labelSets.contains { Metrics.seriesKey(name, $0) == key },
                "metric \(name) has no declared series \(labels)")
        }
        return family
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        registry.makeCounter(name: label, labels: dimensions, help: family(label, .counter, dimensions).help)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        registry.makeCounter(name: label, labels: dimensions, help: family(label, .counter, dimensions).help)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        precondition(!aggregate, "metric \(label): histograms are timers here")
        return registry.makeGauge(name: label, labels: dimensions, help: family(label, .gauge, dimensions).help)
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        registry.makeGauge(name: label, labels: dimensions, help: family(label, .gauge, dimensions).help)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        registry.makeDurationHistogram(
            name: label, labels: dimensions, buckets: Metrics.latencyBucketsMicros.map { .microseconds($0) },
            help: family(label, .histogram, dimensions).help)
    }

    // Declared series live as long as the process: nothing is destroyed.
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyMeter(_ handler: any MeterHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}
}
