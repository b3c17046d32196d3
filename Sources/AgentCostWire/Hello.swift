// The first frame of a connection (agentcost.v1.Hello).

/// Introduces a producer to the server and, when the server requires one, carries the authentication token.
public struct Hello: Hashable, Sendable {
    /// The shared secret configured on the server; empty when it needs none.
    public var token: String
    /// The producer that will send on the connection.
    public var producerID: String
    /// The client library's name and version, e.g. "agentcost-swift/0.1.0".
    public var clientVersion: String

    /// Creates a hello.
    public init(token: String, producerID: String, clientVersion: String) {
        self.token = token
        self.producerID = producerID
        self.clientVersion = clientVersion
    }

    /// Encodes the hello as an uncompressed frame of type `hello`.
    ///
    /// - Throws: `WireError` with code `encodingFailed` for a string containing a NUL byte.
    public func makeFrame() throws(WireError) -> Frame {
        try makeMessageFrame(type: .hello, payload: ProtobufC.pack(self), compressionLevel: nil)
    }

    /// Decodes a hello frame.
    ///
    /// - Throws: `WireError` with code `unexpectedFrameType`, `corruptZlib`, `inflatedTooLarge` or
    ///   `invalidProtobuf`.
    public init(decoding frame: Frame, limits: WireLimits = .default) throws(WireError) {
        let bytes = try messageBytes(of: frame, expecting: .hello, inflater: Inflater(), limits: limits)
        self = try ProtobufC.unpackHello(bytes, limits: limits)
    }
}
