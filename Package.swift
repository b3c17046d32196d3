// swift-tools-version:6.1
// The package's targets follow the data: bytes arrive (Wire), events are applied to the tracker (Core),
// state is kept (Store), metrics go out (Exposition); the server and the client sit at the edges.
import PackageDescription

let strictSwift6: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "agentcost-exporter",
    products: [
        .library(name: "AgentCostCore", targets: ["AgentCostCore"]),
        .library(name: "AgentCostWire", targets: ["AgentCostWire"]),
        .library(name: "AgentCostClient", targets: ["AgentCostClient"]),
        .executable(name: "agentcost-exporter", targets: ["agentcost-exporter"]),
        .executable(name: "agentcostctl", targets: ["agentcostctl"]),
    ],
    targets: [
        // The tracker: agents, cycles, budgets, goals, money. Pure: no Foundation, no I/O, time is passed in.
        .target(name: "AgentCostCore", swiftSettings: strictSwift6),

        // Structured logfmt logging shared by the server, the client and the tools.
        .target(name: "AgentCostLog", swiftSettings: strictSwift6),

        // C libraries from Debian, each wrapped by exactly one Swift file in AgentCostWire.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CProtobufC", pkgConfig: "libprotobuf-c", providers: [.apt(["libprotobuf-c-dev"])]),
        .systemLibrary(name: "CMicroHTTPD", pkgConfig: "libmicrohttpd", providers: [.apt(["libmicrohttpd-dev"])]),
        // libcurl (with typed `accurl_` setters for its variadic calls) and libcrypto, wrapped in AgentCostWebhooks.
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),

        // libmicrohttpd's variadic and va_list entry points, and its sockaddr handling, as plain C functions.
        .target(name: "CMicroHTTPDShim", dependencies: ["CMicroHTTPD"]),

        // The C code protoc-c generates from proto/agentcost/v1/ (checked in; `make check-proto` keeps it current).
        .target(name: "CAgentCostProto", dependencies: ["CProtobufC"]),

        // The bare C ingest loop (inflate + unpack + free) that `make bench` compares the Swift decoder against.
        .target(name: "CBaseline", dependencies: ["CZlib", "CProtobufC", "CAgentCostProto"]),

        // The wire: frames, compression, and the protobuf batch, ack and hello messages. No Foundation.
        .target(
            name: "AgentCostWire",
            dependencies: ["CZlib", "CProtobufC", "CAgentCostProto"],
            swiftSettings: strictSwift6
        ),

        // Prometheus text and OpenMetrics rendering of the tracker's state. Pure: renders into byte buffers.
        .target(name: "AgentCostExposition", dependencies: ["AgentCostCore"], swiftSettings: strictSwift6),

        // JSON for event lines, the operator API and agentcostctl: a parser that keeps numbers exact, a writer.
        .target(name: "AgentCostJSON", swiftSettings: strictSwift6),

        // Durable state: the write-ahead log, snapshots (protobuf-c, store.proto) and recovery.
        .target(
            name: "AgentCostStore",
            dependencies: [
                "AgentCostCore", "AgentCostWire", "AgentCostSystem", "AgentCostLog", "CProtobufC", "CAgentCostProto",
            ],
            swiftSettings: strictSwift6
        ),

        // Linux calls Swift's Glibc module lacks (epoll, eventfd, accept4), with plain types.
        .target(name: "CAgentCostSystem"),

        // Typed wrappers over sockets, epoll, threads and clocks, shared by the server, the client and the tools.
        .target(name: "AgentCostSystem", dependencies: ["CAgentCostSystem"], swiftSettings: strictSwift6),

        // HTTP on libmicrohttpd, with limits: the transport for /metrics and the operator API. Wrapped in one file.
        .target(
            name: "AgentCostHTTP",
            dependencies: ["CMicroHTTPD", "CMicroHTTPDShim", "AgentCostSystem", "AgentCostLog", "AgentCostWire"],
            swiftSettings: strictSwift6
        ),

        // Webhooks: tracker events rendered for orchestrators, generic receivers and Alertmanager-shaped tools, kept
        // in a durable outbox and delivered at least once over libcurl, in order per target.
        .target(
            name: "AgentCostWebhooks",
            dependencies: [
                "AgentCostCore", "AgentCostLog", "AgentCostWire", "AgentCostSystem", "AgentCostJSON",
                "AgentCostExposition", "AgentCostStore", "CCurl", "COpenSSL",
            ],
            swiftSettings: strictSwift6
        ),

        // The service: configuration, signals, the TCP ingest listener that feeds the tracker.
        .target(
            name: "AgentCostServer",
            dependencies: [
                "AgentCostCore", "AgentCostLog", "AgentCostWire", "AgentCostSystem", "AgentCostExposition",
                "AgentCostJSON", "AgentCostHTTP", "AgentCostStore", "AgentCostWebhooks",
            ],
            swiftSettings: strictSwift6
        ),

        // The Swift client: batches events, sends them over TCP, retries until every batch is acknowledged.
        .target(
            name: "AgentCostClient",
            dependencies: ["AgentCostWire", "AgentCostLog", "AgentCostSystem", "AgentCostJSON"],
            swiftSettings: strictSwift6
        ),

        .executableTarget(
            name: "agentcost-exporter",
            dependencies: ["AgentCostServer", "AgentCostLog", "AgentCostCore", "AgentCostSystem"],
            swiftSettings: strictSwift6
        ),

        // The operator's and load tester's tool: replay JSON lines, generate and blast pre-compressed frames.
        .executableTarget(
            name: "agentcostctl",
            dependencies: ["AgentCostClient", "AgentCostWire", "AgentCostLog", "AgentCostJSON", "AgentCostSystem"],
            swiftSettings: strictSwift6
        ),

        // `make bench`: measurements printed as ratios against a baseline taken in the same run.
        .executableTarget(
            name: "agentcost-bench",
            dependencies: [
                "AgentCostCore", "AgentCostServer", "AgentCostWire", "AgentCostLog", "AgentCostSystem", "CBaseline",
                "AgentCostExposition", "AgentCostStore", "AgentCostClient",
            ],
            path: "Benchmarks/agentcost-bench",
            swiftSettings: strictSwift6
        ),

        // `make fuzz`: a libFuzzer harness over the frame and batch decoders, built with -sanitize=fuzzer and
        // -D FUZZING. The plain build of the same file is a tool that writes the seed corpus and replays inputs.
        .executableTarget(
            name: "FrameDecoderFuzz",
            dependencies: ["AgentCostWire"],
            path: "Fuzz/FrameDecoderFuzz",
            swiftSettings: strictSwift6
        ),

        .testTarget(
            name: "AgentCostWireTests",
            dependencies: ["AgentCostWire", "CBaseline"],
            swiftSettings: strictSwift6
        ),
        .testTarget(
            name: "AgentCostClientTests",
            dependencies: ["AgentCostClient", "AgentCostWire", "agentcostctl"],
            swiftSettings: strictSwift6
        ),
        .testTarget(
            name: "AgentCostExpositionTests",
            dependencies: ["AgentCostExposition", "AgentCostCore"],
            swiftSettings: strictSwift6
        ),
        .testTarget(
            name: "AgentCostStoreTests",
            dependencies: ["AgentCostStore", "AgentCostCore", "AgentCostLog", "AgentCostSystem", "AgentCostWire"],
            swiftSettings: strictSwift6
        ),
        .testTarget(name: "AgentCostJSONTests", dependencies: ["AgentCostJSON"], swiftSettings: strictSwift6),
        .testTarget(
            name: "AgentCostHTTPTests",
            dependencies: ["AgentCostHTTP", "AgentCostLog", "AgentCostSystem", "AgentCostWire"],
            swiftSettings: strictSwift6
        ),
        .testTarget(
            name: "AgentCostWebhooksTests",
            dependencies: [
                "AgentCostWebhooks", "AgentCostHTTP", "AgentCostLog", "AgentCostSystem", "AgentCostCore",
                "AgentCostStore",
            ],
            swiftSettings: strictSwift6
        ),
        .testTarget(name: "AgentCostCoreTests", dependencies: ["AgentCostCore"], swiftSettings: strictSwift6),
        .testTarget(
            name: "AgentCostServerTests",
            dependencies: [
                "AgentCostServer", "AgentCostLog", "AgentCostWire", "AgentCostCore", "AgentCostSystem",
                "AgentCostClient",
                "AgentCostJSON", "AgentCostHTTP", "AgentCostWebhooks",
            ],
            swiftSettings: strictSwift6
        ),
    ]
)
