/// The limits that protect a receiver from oversized or malicious input.
public struct WireLimits: Hashable, Sendable {
    /// The largest payload a frame may carry, in bytes, as sent (compressed or not). Checked from the header,
    /// before the payload is buffered. At most `UInt32.max`, the largest length a header can express.
    public var maxFrameSize: Int
    /// The largest size a compressed payload may inflate to, in bytes. Inflating stops at this limit, so a zip
    /// bomb costs at most this much memory.
    public var maxInflatedSize: Int
    /// The most memory the unpacked form of one message may take, in bytes. Unpacking needs a few times the
    /// inflated size for ordinary batches, but up to some 30 times for degenerate ones (many empty events), so this
    /// bounds what one frame can cost whatever the inflated limit.
    public var maxDecodedSize: Int

    /// 4 MiB per frame as sent, 64 MiB inflated, 256 MiB unpacked: room for batches of tens of thousands of events.
    public static let `default` = WireLimits(maxFrameSize: 4 << 20, maxInflatedSize: 64 << 20)

    /// Creates limits; values are clamped to at least 0 and `maxFrameSize` to at most `UInt32.max`.
    public init(maxFrameSize: Int, maxInflatedSize: Int, maxDecodedSize: Int = 256 << 20) {
        self.maxFrameSize = min(max(0, maxFrameSize), Int(UInt32.max))
        self.maxInflatedSize = max(0, maxInflatedSize)
        self.maxDecodedSize = max(0, maxDecodedSize)
    }
}
