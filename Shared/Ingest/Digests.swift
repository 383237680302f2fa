import Crypto

/// SHA-256 and HMAC-SHA256 from apple/swift-crypto (BoringSSL underneath on Linux): content ids of
/// files, hashed identities of long statement lines, and webhook signatures.
public enum Digests {
    /// SHA-256 of `bytes`.
    public static func sha256<Bytes: Sequence>(_ bytes: Bytes) -> [UInt8] where Bytes.Element == UInt8 {
        var hasher = Crypto.SHA256()
        hasher.update(data: Array(bytes))
        return Array(hasher.finalize())
    }

    /// SHA-256 of `bytes` when they are already contiguous: hashed in place, never copied.
    public static func sha256(contiguous bytes: [UInt8]) -> [UInt8] {
        Array(Crypto.SHA256.hash(data: bytes))
    }

    /// HMAC-SHA256 of `message` under `key`.
    public static func hmacSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        Array(HMAC<Crypto.SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
    }

    /// Whether `code` is the HMAC-SHA256 of `message` under `key`, compared in constant time
    /// (swift-crypto's comparison: no early exit on the first differing byte).
    public static func isHMACSHA256(_ code: [UInt8], of message: [UInt8], key: [UInt8]) -> Bool {
        HMAC<Crypto.SHA256>.isValidAuthenticationCode(code, authenticating: message, using: SymmetricKey(data: key))
    }
}
