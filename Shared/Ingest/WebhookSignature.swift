import BillingSupport

/// Stripe-style webhook signatures: `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…]`, where
/// each `v1` is HMAC-SHA256, keyed with an endpoint secret, over `<t>.` followed by the raw body.
///
/// Checked on the raw bytes before anything parses them. Any `v1` matching any configured secret
/// passes (several secrets while one is being rotated); comparisons take constant time; a
/// timestamp further than the tolerance from now, in either direction, is refused.
public struct WebhookSignatureVerifier: Sendable {
    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        case missing
        case malformed(String)
        case expired(timestamp: Int64, now: Int64, tolerance: Int64)
        case mismatch

        public var code: String {
            switch self {
            case .missing: return "signature_missing"
            case .malformed: return "signature_malformed"
            case .expired: return "signature_expired"
            case .mismatch: return "signature_mismatch"
            }
        }

        public var description: String {
            switch self {
            case .missing: return "the event has no Stripe-Signature header"
            case .malformed(let problem): return "the Stripe-Signature header is malformed: \(problem)"
            case .expired(let timestamp, let now, let tolerance):
                return "the signature's timestamp \(timestamp) is more than \(tolerance) s from now (\(now))"
            case .mismatch: return "no v1 signature matches the body under any configured secret"
            }
        }
    }

    public let secrets: [[UInt8]]
    public let toleranceSeconds: Int64

    public init(secrets: [String], toleranceSeconds: Int64 = 300) {
        self.secrets = secrets.map { Array($0.utf8) }
        self.toleranceSeconds = toleranceSeconds
    }

    /// The signature's timestamp when `header` signs `body`; otherwise why not.
    @discardableResult
    public func verify(header: String?, body: [UInt8], nowSeconds: Int64) throws(Failure) -> Int64 {
        guard let header, !header.isEmpty else { throw .missing }
        var timestamp: Int64?
        var signatures: [[UInt8]] = []
        for part in header.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1)
            guard pair.count == 2 else { throw .malformed("'\(part)' is not key=value") }
            let key = pair[0].trimmingSpaces()
            let value = pair[1].trimmingSpaces()
            switch key {
            case "t":
                guard timestamp == nil, let seconds = Int64(value), seconds > 0 else {
                    throw .malformed("t must appear once, as whole seconds")
                }
                timestamp = seconds
            case "v1":
                guard value.utf8.count == 64, let bytes = Hex.decode(value) else {
                    throw .malformed("a v1 signature is not 64 hex digits")
                }
                signatures.append(bytes)
            default:
                continue  // v0 and future schemes are not trusted
            }
        }
        guard let timestamp else { throw .malformed("no t= timestamp") }
        guard !signatures.isEmpty else { throw .malformed("no v1 signature") }
        guard abs(nowSeconds - timestamp) <= toleranceSeconds else {
            throw .expired(timestamp: timestamp, now: nowSeconds, tolerance: toleranceSeconds)
        }
        let signed = Array("\(timestamp).".utf8) + body
        var matched = false
        for secret in secrets {
            for signature in signatures where Digests.isHMACSHA256(signature, of: signed, key: secret) {
                matched = true
            }
        }
        guard matched else { throw .mismatch }
        return timestamp
    }

    /// The header a sender with `secret` would write for `body` at `timestamp` (tests, tools).
    public static func header(secret: String, body: [UInt8], timestamp: Int64) -> String {
        let mac = Digests.hmacSHA256(key: Array(secret.utf8), message: Array("\(timestamp).".utf8) + body)
        return "t=\(timestamp),v1=" + Hex.encode(mac)
    }
}
