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
        .executable(name: "agentcost-exporter", targets: ["agentcost-exporter"]),
    ],
    targets: [
        // The tracker: agents, cycles, budgets, goals, money. Pure: no Foundation, no I/O, time is passed in.
        .target(name: "AgentCostCore", swiftSettings: strictSwift6),

        // Structured logfmt logging shared by the server, the client and the tools.
        .target(name: "AgentCostLog", swiftSettings: strictSwift6),

        // C libraries from Debian, each wrapped by exactly one Swift file in AgentCostWire.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CProtobufC", pkgConfig: "libprotobuf-c", providers: [.apt(["libprotobuf-c-dev"])]),

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

        // The service: configuration, signals, and (later) the listeners that feed the tracker.
        .target(
            name: "AgentCostServer",
            dependencies: ["AgentCostCore", "AgentCostLog"],
            swiftSettings: strictSwift6
        ),

        .executableTarget(
            name: "agentcost-exporter",
            dependencies: ["AgentCostServer", "AgentCostLog"],
            swiftSettings: strictSwift6
        ),

        // `make bench`: measurements printed as ratios against a baseline taken in the same run.
        .executableTarget(
            name: "agentcost-bench",
            dependencies: ["AgentCostCore"],
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
        .testTarget(name: "AgentCostCoreTests", dependencies: ["AgentCostCore"], swiftSettings: strictSwift6),
        .testTarget(
            name: "AgentCostServerTests",
            dependencies: ["AgentCostServer", "AgentCostLog"],
            swiftSettings: strictSwift6
        ),
    ]
)
