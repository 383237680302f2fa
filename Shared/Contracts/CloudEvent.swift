import BillingSupport
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A CloudEvents 1.0 event in the Kafka protocol binding's binary mode: attributes in `ce_*`
/// headers, the JSON body as the message value.
public struct CloudEvent: Sendable, Equatable {
    public static let specVersion = "1.0"
    public static let jsonContentType = "application/json"

    public var id: String
    public var type: String
    public var source: String
    /// RFC 3339 UTC time, e.g. `2026-05-20T10:00:00.123Z`.
    public var time: String
    public var subject: String?
    public var contentType: String
    public var data: [UInt8]

    public init(
        id: String, type: String, source: String, time: String, subject: String? = nil,
        contentType: String = CloudEvent.jsonContentType, data: [UInt8]
    ) {
        self.id = id
        self.type = type
        self.source = source
        self.time = time
        self.subject = subject
        self.contentType = contentType
        self.data = data
    }

    /// A fresh event id: a random (version 4) UUID in lower case, from the system's generator
    /// (`getrandom`), without opening a device per id as `UUID()` does here. The random bytes are
    /// drawn 4 KiB at a time: one draw per 256 ids instead of two system calls per id.
    public static func newID() -> String {
        var (high, low) = randomPool.withLock { $0.next128() }
        high = (high & ~0xF000) | 0x4000  // version 4
        low = (low & ~(0xC000 << 48)) | (0x8000 << 48)  // RFC 4122 variant
        var text: [UInt8] = []
        text.reserveCapacity(36)
        for (index, shift) in stride(from: 60, through: 0, by: -4).enumerated() {
            if index == 8 || index == 12 { text.append(UInt8(ascii: "-")) }
            Hex.appendDigit(high >> UInt64(shift), to: &text)
        }
        for (index, shift) in stride(from: 60, through: 0, by: -4).enumerated() {
            if index == 0 || index == 4 { text.append(UInt8(ascii: "-")) }
            Hex.appendDigit(low >> UInt64(shift), to: &text)
        }
        return String(decoding: text, as: UTF8.self)
    }

    private static let randomPool = Mutex(RandomPool())


    /// Header names and text values, in the binding's order.
    public var headerPairs: [(name: String, value: String)] {
        var pairs: [(String, String)] = [
            ("ce_specversion", Self.specVersion), ("ce_id", id), ("ce_type", type), ("ce_source", source),
            ("ce_time", time), ("content-type", contentType),
        ]
        if let subject { pairs.append(("ce_subject", subject)) }
        return pairs
    }

    /// Reads an event from message headers and value, saying precisely what is wrong when it cannot.
    public static func decode(header: (String) -> String?, value: [UInt8]) throws(EnvelopeError) -> CloudEvent {
        guard let spec = header("ce_specversion") else { throw .missingHeader("ce_specversion") }
        guard spec == specVersion else { throw .unsupportedSpecVersion(spec) }
        guard let id = header("ce_id"), !id.isEmpty else { throw .missingHeader("ce_id") }
        guard id.utf8.count <= 200 else { throw .invalidHeader("ce_id", "longer than 200 bytes") }
        guard let type = header("ce_type"), !type.isEmpty else { throw .missingHeader("ce_type") }
        guard let source = header("ce_source"), !source.isEmpty else { throw .missingHeader("ce_source") }
        let contentType = header("content-type") ?? header("ce_datacontenttype") ?? ""
        let mediaType =
            contentType.split(separator: ";").first.map {
                $0.trimmingCharacters(in: " ").lowercased()
            } ?? ""
        guard mediaType == jsonContentType else { throw .wrongContentType(contentType) }
        return CloudEvent(
            id: id, type: type, source: source, time: header("ce_time") ?? "", subject: header("ce_subject"),
            contentType: contentType, data: value)
    }
}

/// Why a message is not a valid event for its topic. Every case is permanent: the same bytes will
/// never become valid, so the message is dead-lettered with this reason.
public enum EnvelopeError: Error, Sendable, Equatable, CustomStringConvertible {
    case missingHeader(String)
    case invalidHeader(String, String)
    case unsupportedSpecVersion(String)
    case wrongContentType(String)
    case unknownType(String)
    case oversized(byteCount: Int, limit: Int)
    case invalidJSON(String)
    case invalidPayload(String)

    /// A short stable code for metrics, headers and queries.
    public var code: String {
        switch self {
        case .missingHeader: return "missing_header"
        case .invalidHeader: return "invalid_header"
        case .unsupportedSpecVersion: return "unsupported_specversion"
        case .wrongContentType: return "wrong_content_type"
        case .unknownType: return "unknown_type"
        case .oversized: return "oversized"
        case .invalidJSON: return "invalid_json"
        case .invalidPayload: return "invalid_payload"
        }
    }

    public var description: String {
        switch self {
        case .missingHeader(let name): return "header \(name) is missing"
        case .invalidHeader(let name, let problem): return "header \(name) is invalid: \(problem)"
        case .unsupportedSpecVersion(let version): return "CloudEvents spec version '\(version)' is not 1.0"
        case .wrongContentType(let type):
            return "content type '\(type.isEmpty ? "(none)" : type)' is not application/json"
        case .unknownType(let type): return "event type '\(type)' is not handled on this topic"
        case .oversized(let count, let limit): return "message is \(count) bytes, above the limit of \(limit)"
        case .invalidJSON(let problem): return "body is not valid JSON: \(problem)"
        case .invalidPayload(let problem): return "body does not match the event's schema: \(problem)"
        }
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: Character) -> String {
        var text = Substring(self)
        while text.first == set { text.removeFirst() }
        while text.last == set { text.removeLast() }
        return String(text)
    }
}

/// Random bytes from the system's generator, fetched in blocks and handed out 16 at a time.
private struct RandomPool {
    private var words: [UInt64] = []
    private var position = 0

    mutating func next128() -> (UInt64, UInt64) {
        if position + 2 > words.count { refill() }
        defer { position += 2 }
        return (words[position], words[position + 1])
    }

    private mutating func refill() {
        words = [UInt64](repeating: 0, count: 512)
        position = 0
        var filled = 0
        #if canImport(Glibc)
            // glibc's arc4random_buf reads the kernel's generator (getrandom) for the whole block.
            words.withUnsafeMutableBytes { buffer in
                arc4random_buf(buffer.baseAddress!, buffer.count)
                filled = buffer.count
            }
        #endif
        // Elsewhere, the standard generator, a word at a time.
        var generator = SystemRandomNumberGenerator()
        for index in (filled / 8)..<words.count { words[index] = generator.next() }
    }
}
