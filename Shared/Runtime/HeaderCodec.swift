import BillingKafka

/// Packs Kafka headers into one `bytea` for the outbox and dead-letter tables, and back.
///
/// Layout per header: name length (UInt16, big-endian), name (UTF-8), value length (Int32,
/// big-endian, -1 for no value), value bytes. Binary values survive, unlike a JSON form.
public enum HeaderCodec {
    public static func encode(_ headers: [KafkaHeader]) -> [UInt8] {
        var out: [UInt8] = []
        for header in headers {
            let name = Array(header.name.utf8.prefix(Int(UInt16.max)))
            out.append(UInt8(name.count >> 8))
            out.append(UInt8(name.count & 0xff))
            out.append(contentsOf: name)
            if let value = header.value {
                let length = UInt32(value.count)
                out.append(contentsOf: [
                    UInt8(length >> 24), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff),
                ])
                out.append(contentsOf: value)
            } else {
                out.append(contentsOf: [0xff, 0xff, 0xff, 0xff])
            }
        }
        return out
    }

    /// Decodes what `encode` wrote; `nil` when the bytes are not in that layout.
    public static func decode(_ bytes: [UInt8]) -> [KafkaHeader]? {
        var headers: [KafkaHeader] = []
        var index = 0
        func take(_ count: Int) -> ArraySlice<UInt8>? {
            guard count >= 0, index + count <= bytes.count else { return nil }
            defer { index += count }
            return bytes[index..<index + count]
        }
        while index < bytes.count {
            guard let nameLength = take(2) else { return nil }
            let nameCount = Int(nameLength[nameLength.startIndex]) << 8 | Int(nameLength[nameLength.startIndex + 1])
            guard let name = take(nameCount), let lengthBytes = take(4) else { return nil }
            let raw = lengthBytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            if raw == UInt32.max {
                headers.append(KafkaHeader(name: String(decoding: name, as: UTF8.self), value: nil))
            } else {
                guard let value = take(Int(raw)) else { return nil }
                headers.append(KafkaHeader(name: String(decoding: name, as: UTF8.self), value: Array(value)))
            }
        }
        return headers
    }
}
