// The one file that calls zlib: deflate (zlib or gzip framing), inflate with a hard output limit, and CRC32.
import CZlib

/// Compression and checksums as used by the frame format.
public enum Zlib {
    /// The CRC32 (the zlib/PNG polynomial) of `bytes`, as carried in a frame header.
    public static func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        let value = bytes.withUnsafeBytes { raw -> UInt in
            guard let base = raw.baseAddress else { return CZlib.crc32_z(0, nil, 0) }
            return CZlib.crc32_z(0, base.assumingMemoryBound(to: Bytef.self), raw.count)
        }
        return UInt32(truncatingIfNeeded: value)
    }

    /// The CRC32 of all of `bytes`.
    public static func crc32(_ bytes: [UInt8]) -> UInt32 {
        crc32(bytes[...])
    }

    /// Compresses `bytes` into one complete zlib stream.
    ///
    /// - Parameters:
    ///   - bytes: the data to compress.
    ///   - level: 0 (store only) to 9 (smallest output); 6 is zlib's usual trade-off.
    /// - Returns: the zlib stream (header, deflate data, Adler-32 trailer).
    /// - Throws: `WireError` with code `encodingFailed` for a level outside 0...9, `internalFailure` if zlib fails.
    public static func deflate(_ bytes: ArraySlice<UInt8>, level: Int) throws(WireError) -> [UInt8] {
        try compress(bytes, level: level, gzip: false)
    }

    /// Compresses `bytes` into one gzip member (RFC 1952), as HTTP's `Content-Encoding: gzip` carries.
    ///
    /// - Parameters:
    ///   - bytes: the data to compress.
    ///   - level: 0 (store only) to 9 (smallest output); 6 is zlib's usual trade-off.
    /// - Returns: the gzip stream (header, deflate data, CRC32 and size trailer).
    /// - Throws: `WireError` with code `encodingFailed` for a level outside 0...9, `internalFailure` if zlib fails.
    public static func gzip(_ bytes: ArraySlice<UInt8>, level: Int) throws(WireError) -> [UInt8] {
        try compress(bytes, level: level, gzip: true)
    }

    /// Compresses all of `bytes` into one gzip member; see `gzip(_:level:)` for slices.
    public static func gzip(_ bytes: [UInt8], level: Int) throws(WireError) -> [UInt8] {
        try compress(bytes[...], level: level, gzip: true)
    }

    private static func compress(_ bytes: ArraySlice<UInt8>, level: Int, gzip: Bool) throws(WireError) -> [UInt8] {
        guard (0...9).contains(level) else {
            throw WireError(.encodingFailed, "compression level \(level) is outside 0...9; pass a level from 0 to 9")
        }
        guard bytes.count <= Int(UInt32.max) else {
            throw WireError(
                .encodingFailed,
                "\(bytes.count) bytes are more than one frame can carry; split them into smaller batches")
        }
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        defer { stream.deallocate() }
        let initialized =
            gzip ? czlib_deflate_init_gzip(stream, Int32(level)) : czlib_deflate_init(stream, Int32(level))
        guard initialized == Z_OK else {
            throw WireError(.internalFailure, "zlib deflateInit failed (out of memory?)")
        }
        defer { deflateEnd(stream) }

        // One call suffices: the output buffer is sized with deflateBound, the most deflate can ever produce.
        var output = [UInt8](repeating: 0, count: Int(deflateBound(stream, UInt(bytes.count))))
        let (status, produced) = bytes.withUnsafeBytes { input in
            output.withUnsafeMutableBytes { out -> (Int32, Int) in
                stream.pointee.next_in = UnsafeMutablePointer(
                    mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
                stream.pointee.avail_in = uInt(input.count)
                stream.pointee.next_out = out.baseAddress?.assumingMemoryBound(to: Bytef.self)
                stream.pointee.avail_out = uInt(out.count)
                let status = CZlib.deflate(stream, Z_FINISH)
                return (status, out.count - Int(stream.pointee.avail_out))
            }
        }
        guard status == Z_STREAM_END else {
            throw WireError(.internalFailure, "zlib deflate returned \(status) for \(bytes.count) bytes")
        }
        output.removeLast(output.count - produced)
        return output
    }

    /// Compresses all of `bytes`; see `deflate(_:level:)` for slices.
    public static func deflate(_ bytes: [UInt8], level: Int) throws(WireError) -> [UInt8] {
        try deflate(bytes[...], level: level)
    }
}

/// Inflates zlib streams, stopping at a hard limit, into a buffer kept across calls.
///
/// One inflater serves one connection or one worker: it reuses its `z_stream` and its output buffer, so that
/// inflating a frame allocates nothing once the buffer has grown to the usual inflated size. Not thread-safe.
public final class Inflater {
    private let stream: UnsafeMutablePointer<z_stream>
    private var buffer: [UInt8] = []
    private var isInitialized = false

    private let expectsGzip: Bool

    /// Creates an inflater; its buffer grows on demand.
    ///
    /// - Parameter gzip: read gzip streams (RFC 1952) instead of zlib streams.
    public init(gzip: Bool = false) {
        expectsGzip = gzip
        // zlib keeps a pointer back to the stream, so it must not move: it lives in its own allocation.
        stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
    }

    deinit {
        if isInitialized {
            inflateEnd(stream)
        }
        stream.deallocate()
    }

    /// Inflates one complete zlib stream.
    ///
    /// The output is a slice of the inflater's reusable buffer: drop it before the next call, or that call will
    /// have to copy the buffer before reusing it.
    ///
    /// - Parameters:
    ///   - input: exactly one zlib stream, with nothing after it.
    ///   - limit: the most bytes the stream may inflate to. Inflating stops as soon as the output passes it, so a
    ///     zip bomb costs at most `limit` bytes of memory.
    /// - Returns: the inflated bytes.
    /// - Throws: `WireError` with code `inflatedTooLarge` past the limit; `corruptZlib` if `input` is not one
    ///   complete, valid zlib stream; `internalFailure` if zlib runs out of memory.
    public func inflate(_ input: ArraySlice<UInt8>, limit: Int) throws(WireError) -> ArraySlice<UInt8> {
        try prepareStream()

        // Start from a guess (compressed batches typically shrink 4 to 10 times) and double until done or over. The
        // buffer may hold one byte more than the limit, so that going over it shows; Int.max has no byte more.
        let maximumSize = limit == .max ? limit : max(0, limit) + 1
        let firstSize = min(maximumSize, max(64 * 1024, input.count * 8))
        if buffer.count < firstSize {
            buffer.append(contentsOf: repeatElement(0, count: firstSize - buffer.count))
        }

        var produced = 0
        var status: Int32 = Z_OK
        var inputLeft = 0
        while true {
            // Run inflate into the free part of the buffer.
            (status, produced, inputLeft) = runInflate(input, producedSoFar: produced)
            if produced > limit {
                throw WireError(
                    .inflatedTooLarge,
                    "payload of \(input.count) bytes inflates to more than the limit of \(limit) bytes; "
                        + "send smaller batches or raise the maximum inflated size")
            }
            switch status {
            case Z_STREAM_END:
                guard inputLeft == 0 else {
                    throw WireError(
                        .corruptZlib,
                        "\(inputLeft) bytes follow the end of the zlib stream; send exactly one zlib stream per frame")
                }
                return buffer[0..<produced]
            case Z_OK, Z_BUF_ERROR:
                if produced == buffer.count {
                    growBuffer(maximumSize: maximumSize)
                    continue
                }
                // Room left but no progress possible: the input ended before the stream did.
                guard status == Z_OK, inputLeft > 0 else {
                    throw WireError(
                        .corruptZlib,
                        "zlib stream of \(input.count) bytes ends before its final block; send the complete stream")
                }
            case Z_MEM_ERROR:
                throw WireError(.internalFailure, "zlib inflate ran out of memory")
            default:
                let reason = stream.pointee.msg.map { String(cString: $0) } ?? "status \(status)"
                throw WireError(
                    .corruptZlib,
                    "payload of \(input.count) bytes is not a valid zlib stream (\(reason)); compress it with zlib")
            }
        }
    }

    /// Inflates all of `input`; see `inflate(_:limit:)` for slices.
    public func inflate(_ input: [UInt8], limit: Int) throws(WireError) -> ArraySlice<UInt8> {
        try inflate(input[...], limit: limit)
    }

    private func prepareStream() throws(WireError) {
        if isInitialized {
            guard inflateReset(stream) == Z_OK else {
                throw WireError(.internalFailure, "zlib inflateReset failed")
            }
            return
        }
        guard (expectsGzip ? czlib_inflate_init_gzip(stream) : czlib_inflate_init(stream)) == Z_OK else {
            throw WireError(.internalFailure, "zlib inflateInit failed (out of memory?)")
        }
        isInitialized = true
    }

    private func growBuffer(maximumSize: Int) {
        let newSize = min(maximumSize, buffer.count * 2)
        if newSize > buffer.count {
            buffer.append(contentsOf: repeatElement(0, count: newSize - buffer.count))
        }
    }

    /// One call to `inflate` continuing where the last one stopped; returns (status, bytes produced, input left).
    private func runInflate(_ input: ArraySlice<UInt8>, producedSoFar: Int) -> (Int32, Int, Int) {
        let stream = self.stream
        return input.withUnsafeBytes { inBytes in
            buffer.withUnsafeMutableBytes { outBytes -> (Int32, Int, Int) in
                // Resume after the input consumed so far (zlib's own counter) and the output produced so far.
                let consumed = Int(stream.pointee.total_in)
                let inputLeft = inBytes.count - consumed
                stream.pointee.next_in = UnsafeMutablePointer(
                    mutating: inBytes.baseAddress?.advanced(by: consumed).assumingMemoryBound(to: Bytef.self))
                stream.pointee.avail_in = uInt(min(inputLeft, Int(UInt32.max)))
                let outLeft = outBytes.count - producedSoFar
                stream.pointee.next_out =
                    outBytes.baseAddress?.advanced(by: producedSoFar).assumingMemoryBound(to: Bytef.self)
                stream.pointee.avail_out = uInt(min(outLeft, Int(UInt32.max)))
                let status = CZlib.inflate(stream, Z_NO_FLUSH)
                return (status, Int(stream.pointee.total_out), inBytes.count - Int(stream.pointee.total_in))
            }
        }
    }
}
