import AgentCostWire

/// The framing shared by the write-ahead log and snapshot files: each record is its length (4 bytes, big-endian),
/// the CRC32 of its payload (4 bytes, big-endian) and the payload. A reader can therefore tell a complete record
/// from a torn or corrupted one, and knows where the intact part of a file ends.
enum RecordFraming {
    static let headerSize = 8
    /// The largest record accepted when reading; anything larger is corruption, not data.
    static let maximumRecordSize = 256 << 20

    static func append(_ payload: ArraySlice<UInt8>, to bytes: inout [UInt8]) {
        let length = UInt32(payload.count)
        let checksum = Zlib.crc32(payload)
        for value in [length, checksum] {
            bytes += [UInt8(value >> 24), UInt8((value >> 16) & 0xff), UInt8((value >> 8) & 0xff), UInt8(value & 0xff)]
        }
        bytes += payload
    }

    /// What reading a file's records found.
    struct ReadResult {
        /// The payloads of the intact records, in order.
        var records: [ArraySlice<UInt8>] = []
        /// Where the intact records end; equal to the file's size when nothing is wrong.
        var validLength = 0
        /// Why reading stopped before the end of the file, if it did.
        var problem: String?
    }

    /// Reads records from the start of `bytes` until the end or the first record that is cut short or fails its
    /// checksum.
    static func read(_ bytes: [UInt8]) -> ReadResult {
        var result = ReadResult()
        var offset = 0
        while offset < bytes.count {
            guard bytes.count - offset >= headerSize else {
                result.problem = "a record header cut short at byte \(offset)"
                break
            }
            let length = Int(bigEndian32(bytes, offset))
            let checksum = bigEndian32(bytes, offset + 4)
            guard length <= maximumRecordSize else {
                result.problem =
                    "a record length of \(length) bytes at byte \(offset), over the \(maximumRecordSize) limit"
                break
            }
            let start = offset + headerSize
            guard bytes.count - start >= length else {
                result.problem = "a record of \(length) bytes at byte \(offset) cut short after \(bytes.count - start)"
                break
            }
            let payload = bytes[start..<(start + length)]
            guard Zlib.crc32(payload) == checksum else {
                result.problem = "a record at byte \(offset) whose CRC32 does not match its \(length) bytes"
                break
            }
            result.records.append(payload)
            offset = start + length
            result.validLength = offset
        }
        return result
    }

    private static func bigEndian32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8
            | UInt32(bytes[offset + 3])
    }
}
