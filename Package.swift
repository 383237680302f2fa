// swift-tools-version:6.0
// The billing backend: five Kafka workers, an operator CLI and a development broker,
// sharing C bindings (librdkafka, libpq, jemalloc), a worker runtime and the schema.
//
// Builds on Linux only (Debian 12 with Swift 6.x is what CI and the stack use): the C layers call
// Glibc directly and jemalloc is the allocator, so the package claims no Apple platform.
import PackageDescription

let package = Package(
    name: "billing",
    products: [
        .executable(name: "payment-ingest", targets: ["payment-ingest"]),
        .executable(name: "allocator", targets: ["allocator"]),
        .executable(name: "invoicer", targets: ["invoicer"]),
        .executable(name: "bill-sender", targets: ["bill-sender"]),
        .executable(name: "suspense-resolver", targets: ["suspense-resolver"]),
        .executable(name: "billing-ctl", targets: ["billing-ctl"]),
        .executable(name: "dev-kafka", targets: ["dev-kafka"]),
        .executable(name: "gateway-relay", targets: ["gateway-relay"]),
        .executable(name: "billing-fuzz", targets: ["billing-fuzz"]),
        .executable(name: "runtime-probe", targets: ["runtime-probe"]),
        .executable(name: "runtime-bench", targets: ["runtime-bench"]),
        .executable(name: "allocator-bench", targets: ["allocator-bench"]),
        .executable(name: "invoicer-bench", targets: ["invoicer-bench"]),
        .executable(name: "ingest-bench", targets: ["ingest-bench"]),
        .executable(name: "money-bench", targets: ["money-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // C libraries, bound through pkg-config (Debian: librdkafka-dev, libpq-dev, libjemalloc-dev).
        .systemLibrary(
            name: "CRdKafka", path: "Shared/CRdKafka", pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]),
        .systemLibrary(
            name: "CLibPQ", path: "Shared/CLibPQ", pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]),
        // The processes' malloc on Linux (Debian: libjemalloc-dev): see Shared/Runtime/HeapAllocator.swift.
        .systemLibrary(
            name: "CJemalloc", path: "Shared/CJemalloc", pkgConfig: "jemalloc",
            providers: [.apt(["libjemalloc-dev"])]),

        // Small pieces every layer uses: backoff, clocks, environment configuration, the JSON log handler.
        .target(
            name: "BillingSupport", dependencies: [.product(name: "Logging", package: "swift-log")],
            path: "Shared/Support"),
        // Thin Swift layers that own the C handles and every blocking call.
        .target(name: "BillingKafka", dependencies: ["CRdKafka", "BillingSupport"], path: "Shared/Kafka"),
        .target(name: "BillingPostgres", dependencies: ["CLibPQ", "BillingSupport"], path: "Shared/Postgres"),

        // The pure domain: money, dates, credit rules, documents, ledger, allocation. No I/O.
        .target(name: "BillingDomain", path: "Shared/Domain"),
        // Topic contract and CloudEvents envelope.
        .target(name: "BillingContracts", dependencies: ["BillingSupport", "BillingDomain"], path: "Shared/Contracts"),
        // Versioned SQL migrations and the runner that applies them.
        .target(name: "BillingSchema", dependencies: ["BillingPostgres"], path: "Shared/Schema"),
        // The effectively-once worker runtime: consume → transaction → commit → store offsets; outbox relay.
        .target(
            name: "BillingRuntime",
            dependencies: [
                "BillingKafka", "BillingPostgres", "BillingContracts", "BillingSchema", "BillingSupport", "BillingDomain",
                .target(name: "CJemalloc", condition: .when(platforms: [.linux])),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Shared/Runtime"),

        // The services' decisions, as libraries of pure code over domain types (no I/O): what an
        // input does to the books. The executables around them keep the wiring and the storage.
        .target(
            name: "AllocatorCore", dependencies: ["BillingDomain", "BillingContracts"], path: "Shared/Cores/Allocator"),
        .target(
            name: "InvoicerCore", dependencies: ["BillingDomain", "BillingContracts"], path: "Shared/Cores/Invoicer"),
        .target(
            name: "PaymentIngestCore",
            dependencies: ["BillingDomain", "BillingContracts", "BillingIngest", "BillingSupport"],
            path: "Shared/Cores/PaymentIngest"),

        // The five workers.
        .executableTarget(
            name: "payment-ingest",
            dependencies: ["PaymentIngestCore", "BillingRuntime", "BillingIngest", "BillingDomain"],
            path: "Services/payment-ingest"),
        .executableTarget(
            name: "allocator", dependencies: ["AllocatorCore", "BillingRuntime", "BillingDomain"],
            path: "Services/allocator"),
        .executableTarget(
            name: "invoicer", dependencies: ["InvoicerCore", "BillingRuntime", "BillingDomain"],
            path: "Services/invoicer"),
        .executableTarget(name: "bill-sender", dependencies: ["BillingRuntime"], path: "Services/bill-sender"),
        .executableTarget(
            name: "suspense-resolver", dependencies: ["BillingRuntime"], path: "Services/suspense-resolver"),

        // Operator CLI and the development broker.
        .executableTarget(
            name: "billing-ctl",
            dependencies: [
                "BillingRuntime", "BillingSupport", "BillingContracts", "BillingKafka", "BillingPostgres",
                "BillingSchema", "BillingDomain",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Services/billing-ctl"),
        .executableTarget(
            name: "dev-kafka",
            dependencies: [
                "BillingKafka", "BillingContracts", "CRdKafka",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Services/dev-kafka"),

        // Payment gateways' webhook POSTs into Kafka, as they arrived (Hummingbird's HTTP server).
        .executableTarget(
            name: "gateway-relay",
            dependencies: [
                "BillingKafka", "BillingContracts", "BillingSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            path: "Services/gateway-relay"),

        // A worker with a trivial handler (one row per message) and the benchmark that drives it:
        // they exercise the runtime's full path in integration tests and benchmarks.
        .executableTarget(
            name: "runtime-probe", dependencies: ["BillingRuntime", "BillingSupport"], path: "Services/runtime-probe"),
        .target(
            name: "BillingIngest",
            dependencies: ["BillingDomain", "BillingSupport", .product(name: "Crypto", package: "swift-crypto")],
            path: "Shared/Ingest"),
        // Every input decoder as a fuzz target, and the libFuzzer entry (Deploy/local/fuzz) that drives them.
        .target(
            name: "BillingFuzz", dependencies: ["BillingIngest", "BillingDomain", "BillingContracts"],
            path: "Shared/Fuzz"),
        .executableTarget(name: "billing-fuzz", dependencies: ["BillingFuzz"], path: "Services/billing-fuzz"),
        .target(
            name: "BillingBench",
            dependencies: [
                "BillingKafka", "BillingPostgres", "BillingSupport", "BillingContracts", "BillingTestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Shared/Bench"),
        // What tests and benchmarks share and production code never links: child processes, the
        // local stack's environment, the fixtures in Tests/Fixtures.
        .target(name: "BillingTestSupport", dependencies: ["BillingSupport"], path: "Tests/Support"),
        .executableTarget(
            name: "runtime-bench",
            dependencies: [
                "BillingRuntime", "BillingBench", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Services/runtime-bench"),
        .executableTarget(
            name: "allocator-bench",
            dependencies: [
                "BillingRuntime", "BillingBench", "BillingContracts", "BillingTestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Services/allocator-bench"),
        .executableTarget(
            name: "invoicer-bench",
            dependencies: [
                "BillingRuntime", "BillingBench", "BillingContracts",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Services/invoicer-bench"),
        .executableTarget(
            name: "ingest-bench",
            dependencies: [
                "BillingRuntime", "BillingBench", "BillingContracts", "BillingIngest", "BillingTestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Services/ingest-bench"),
        .executableTarget(
            name: "money-bench",
            dependencies: [
                "BillingRuntime", "BillingBench", "BillingContracts", "BillingTestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Services/money-bench"),

        .testTarget(
            name: "IngestTests", dependencies: ["BillingIngest", "BillingDomain", "BillingFuzz", "BillingTestSupport"],
            path: "Tests/IngestTests"),
        // The services' cores, unit-tested without PostgreSQL or Kafka.
        .testTarget(
            name: "CoreTests",
            dependencies: [
                "AllocatorCore", "InvoicerCore", "PaymentIngestCore", "BillingContracts", "BillingDomain",
                "BillingIngest", "BillingTestSupport",
            ],
            path: "Tests/CoreTests"),
        .testTarget(
            name: "DomainTests",
            dependencies: ["BillingDomain", .product(name: "PropertyBased", package: "swift-property-based")],
            path: "Tests/DomainTests"),
        .testTarget(
            name: "RuntimeTests",
            dependencies: [
                "BillingRuntime", "BillingSupport", "BillingContracts", "BillingKafka", "BillingPostgres",
                "BillingSchema",
            ],
            path: "Tests/RuntimeTests"),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "BillingRuntime", "BillingSupport", "BillingContracts", "BillingKafka", "BillingPostgres",
                "BillingSchema", "BillingIngest", "BillingTestSupport",
            ],
            path: "Tests/IntegrationTests"),
    ],
    swiftLanguageModes: [.v6]
)
