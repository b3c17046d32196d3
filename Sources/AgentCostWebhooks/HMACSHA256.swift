// HMAC-SHA256 (RFC 2104 over FIPS 180-4 SHA-256) through OpenSSL's libcrypto: the only file that touches it.

import COpenSSL

/// Keyed message authentication with SHA-256, as the generic webhook's signature header uses it.
public enum HMACSHA256 {
    /// The length of a tag in bytes.
    public static let byteCount = 32

    /// The HMAC-SHA256 tag of `message` under `key`.
    ///
    /// - Parameters:
    ///   - key: the shared secret, any length (keys longer than 64 bytes are hashed first, as RFC 2104 says).
    ///   - message: the bytes to authenticate.
    /// - Returns: the 32-byte tag.
    public static func sign(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var tag = [UInt8](repeating: 0, count: byteCount)
        var length: UInt32 = 0
        key.withUnsafeBytes { keyBytes in
            message.withUnsafeBufferPointer { messageBytes in
                tag.withUnsafeMutableBufferPointer { tagBytes in
                    // HMAC with an empty key or message still wants valid pointers.
                    let zero: [UInt8] = [0]
                    zero.withUnsafeBufferPointer { fallback in
                        _ = COpenSSL.HMAC(
                            EVP_sha256(),
                            keyBytes.baseAddress ?? UnsafeRawPointer(fallback.baseAddress!),
                            Int32(keyBytes.count),
                            messageBytes.baseAddress ?? fallback.baseAddress!,
                            messageBytes.count,
                            tagBytes.baseAddress,
                            &length
                        )
                    }
                }
            }
        }
        return tag
    }

    /// The tag of a UTF-8 message, as lowercase hexadecimal (64 characters).
    public static func hexSignature(key: [UInt8], message: [UInt8]) -> String {
        hex(sign(key: key, message: message))
    }

    /// Lowercase hexadecimal of `bytes`.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// Compares two tags in time independent of where they differ, for receivers verifying a signature.
    public static func constantTimeEquals(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for (left, right) in zip(lhs, rhs) {
            difference |= left ^ right
        }
        return difference == 0
    }
}
