// Where the ingest server listens: a host name or IP address and a TCP port.

/// The address of an agentcost ingest server.
public struct ServerAddress: Hashable, Sendable, CustomStringConvertible {
    /// The port the exporter listens on for ingest unless configured otherwise.
    public static let defaultPort: UInt16 = 9471

    /// A host name, an IPv4 address, or an IPv6 address without brackets.
    public var host: String
    /// The TCP port.
    public var port: UInt16

    /// Creates an address.
    public init(host: String, port: UInt16 = ServerAddress.defaultPort) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port`, `[ipv6]:port`, or a bare `host` (which gets the default port).
    ///
    /// - Throws: `SpendClientError` with code `invalidAddress` naming the text when the host is empty or the port is
    ///   not a number from 1 to 65535.
    public init(parsing text: String) throws(SpendClientError) {
        var host = Substring(text)
        var portText: Substring?
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else {
                throw SpendClientError(
                    .invalidAddress, "address \"\(text)\" opens an IPv6 bracket but never closes it; write [::1]:9471")
            }
            let rest = host[host.index(after: close)...]
            host = host[host.index(after: host.startIndex)..<close]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else {
                    throw SpendClientError(
                        .invalidAddress, "address \"\(text)\" has \"\(rest)\" after the bracket; write [::1]:9471")
                }
                portText = rest.dropFirst()
            }
        } else if let colon = host.lastIndex(of: ":") {
            guard host.firstIndex(of: ":") == colon else {
                throw SpendClientError(
                    .invalidAddress,
                    "address \"\(text)\" looks like a bare IPv6 address; put it in brackets: [::1]:9471")
            }
            portText = host[host.index(after: colon)...]
            host = host[..<colon]
        }
        guard !host.isEmpty else {
            throw SpendClientError(
                .invalidAddress, "address \"\(text)\" has no host; write host:port, e.g. 127.0.0.1:9471")
        }
        var port = ServerAddress.defaultPort
        if let portText {
            guard let parsed = UInt16(portText), parsed > 0 else {
                throw SpendClientError(
                    .invalidAddress, "address \"\(text)\" has port \"\(portText)\"; use a number from 1 to 65535")
            }
            port = parsed
        }
        self.init(host: String(host), port: port)
    }

    /// `host:port`, with brackets around an IPv6 host.
    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
