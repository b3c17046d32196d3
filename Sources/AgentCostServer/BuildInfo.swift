/// The exporter's version, reported by `--version`, the start-up log line and (later) `agentcost_build_info`.
public enum BuildInfo {
    public static let version = "0.1.0"
}
