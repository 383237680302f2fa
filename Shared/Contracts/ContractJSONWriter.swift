import BillingSupport
import FoundationEssentials
import Synchronization

/// Writes contract bodies as JSON, byte for byte what `ContractJSON.encoder()` writes (snake-case
/// keys, sorted, slashes unescaped) at a fraction of its cost: workers encode thousands of event
/// bodies per batch. Contracts hold strings, integers, booleans, optionals, arrays, nested
/// structs and string-keyed dictionaries; a floating-point value is refused (money is never one).
public enum ContractJSONWriter {
    public static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let root = Node()
        try encode(value, into: root, path: [])
        var out: [UInt8] = []
        out.reserveCapacity(256)
        root.write(to: &out)
        return out
    }

    fileprivate static func encode<T: Encodable>(_ value: T, into node: Node, path: [any CodingKey]) throws {
        if T.self == [String: String].self, let dictionary = value as? [String: String] {
            // Dictionary keys are data, not property names: written as they are.
            node.kind = .object
            for (key, text) in dictionary {
                node.members.append((key, Node(.scalar(Node.quoted(text)))))
            }
        } else {
            try value.encode(to: Writer(node: node, codingPath: path))
        }
    }

    /// Property name → JSON key, converted once per name by Foundation's own snake-case rule.
    private static let keys = Mutex<[String: String]>([:])

    fileprivate static func jsonKey(_ name: String) -> String {
        // An ASCII name without a capital letter is its own snake_case (most keys: `account`, `state`).
        if !name.utf8.contains(where: { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) || $0 >= 0x80 }) {
            return name
        }
        if let known = keys.withLock({ $0[name] }) { return known }
        let converted = snakeCase(name)
        keys.withLock { $0[name] = converted }
        return converted
    }

    private struct Probe: Encodable {
        let name: String
        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            try container.encode(0, forKey: Key(stringValue: name))
        }
    }

    private static func snakeCase(_ name: String) -> String {
        // {"<converted>":0}
        guard let bytes = try? ContractJSON.encoder().encode(Probe(name: name)), bytes.count > 5 else { return name }
        return String(decoding: bytes.dropFirst(2).dropLast(4), as: UTF8.self)
    }
}

/// A JSON value being built: filled by the encoding containers, written once complete.
private final class Node {
    enum Kind {
        case empty
        case scalar([UInt8])
        case array
        case object
    }

    var kind: Kind
    var items: [Node] = []
    var members: [(key: String, node: Node)] = []

    init(_ kind: Kind = .empty) { self.kind = kind }

    static let null: [UInt8] = Array("null".utf8)

    /// An integer's decimal digits, written without going through `String`.
    static func digits<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(20)
        JSONBytes.appendDigits(value, to: &out)
        return out
    }

    static func quoted(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count + 2)
        JSONBytes.appendQuoted(text, to: &out)
        return out
    }

    func write(to out: inout [UInt8]) {
        switch kind {
        case .empty: out += Array("{}".utf8)
        case .scalar(let bytes): out += bytes
        case .array:
            out.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                item.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object:
            out.append(UInt8(ascii: "{"))
            members.sort { $0.key < $1.key }
            for (index, member) in members.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                out += Node.quoted(member.key)
                out.append(UInt8(ascii: ":"))
                member.node.write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }
}

private struct Writer: Encoder {
    let node: Node
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if case .empty = node.kind { node.kind = .object }
        return KeyedEncodingContainer(KeyedWriter<Key>(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if case .empty = node.kind { node.kind = .array }
        return UnkeyedWriter(node: node, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleWriter(node: node, codingPath: codingPath)
    }
}

private func refuseFloat(_ path: [any CodingKey]) -> EncodingError {
    EncodingError.invalidValue(
        0, EncodingError.Context(codingPath: path, debugDescription: "floating-point values are not allowed"))
}

private struct KeyedWriter<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: Node
    let codingPath: [any CodingKey]

    private func add(_ key: Key, _ bytes: [UInt8]) {
        node.members.append((ContractJSONWriter.jsonKey(key.stringValue), Node(.scalar(bytes))))
    }

    private func child(_ key: Key, _ kind: Node.Kind = .empty) -> Node {
        let child = Node(kind)
        node.members.append((ContractJSONWriter.jsonKey(key.stringValue), child))
        return child
    }

    mutating func encodeNil(forKey key: Key) throws { add(key, Node.null) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { add(key, Array((value ? "true" : "false").utf8)) }
    mutating func encode(_ value: String, forKey key: Key) throws { add(key, Node.quoted(value)) }
    mutating func encode(_ value: Double, forKey key: Key) throws { throw refuseFloat(codingPath + [key]) }
    mutating func encode(_ value: Float, forKey key: Key) throws { throw refuseFloat(codingPath + [key]) }
    mutating func encode(_ value: Int, forKey key: Key) throws { add(key, Node.digits(value)) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { add(key, Node.digits(value)) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { add(key, Node.digits(value)) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { add(key, Node.digits(value)) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { add(key, Node.digits(value)) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { add(key, Node.digits(value)) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { add(key, Node.digits(value)) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { add(key, Node.digits(value)) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { add(key, Node.digits(value)) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { add(key, Node.digits(value)) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try ContractJSONWriter.encode(value, into: child(key), path: codingPath + [key])
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        KeyedEncodingContainer(KeyedWriter<NestedKey>(node: child(key, .object), codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        UnkeyedWriter(node: child(key, .array), codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder {
        Writer(node: child(Key(stringValue: "super")!), codingPath: codingPath)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        Writer(node: child(key), codingPath: codingPath + [key])
    }
}

/// The scalar half of unkeyed and single-value containers: each writes a value's bytes its own way.
private protocol ScalarSink {
    var floatPath: [any CodingKey] { get }
    func put(_ bytes: [UInt8])
}

extension ScalarSink {
    mutating func encodeNil() throws { put(Node.null) }
    mutating func encode(_ value: Bool) throws { put(Array((value ? "true" : "false").utf8)) }
    mutating func encode(_ value: String) throws { put(Node.quoted(value)) }
    mutating func encode(_ value: Double) throws { throw refuseFloat(floatPath) }
    mutating func encode(_ value: Float) throws { throw refuseFloat(floatPath) }
    mutating func encode(_ value: Int) throws { put(Node.digits(value)) }
    mutating func encode(_ value: Int8) throws { put(Node.digits(value)) }
    mutating func encode(_ value: Int16) throws { put(Node.digits(value)) }
    mutating func encode(_ value: Int32) throws { put(Node.digits(value)) }
    mutating func encode(_ value: Int64) throws { put(Node.digits(value)) }
    mutating func encode(_ value: UInt) throws { put(Node.digits(value)) }
    mutating func encode(_ value: UInt8) throws { put(Node.digits(value)) }
    mutating func encode(_ value: UInt16) throws { put(Node.digits(value)) }
    mutating func encode(_ value: UInt32) throws { put(Node.digits(value)) }
    mutating func encode(_ value: UInt64) throws { put(Node.digits(value)) }
}

private struct IndexKey: CodingKey {
    let intValue: Int?
    var stringValue: String { String(intValue ?? 0) }
    init(_ index: Int) { intValue = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.intValue = intValue }
}

private struct UnkeyedWriter: UnkeyedEncodingContainer, ScalarSink {
    let node: Node
    let codingPath: [any CodingKey]
    var count: Int { node.items.count }

    func put(_ bytes: [UInt8]) { node.items.append(Node(.scalar(bytes))) }

    var floatPath: [any CodingKey] { codingPath + [IndexKey(count)] }

    private func child(_ kind: Node.Kind = .empty) -> Node {
        let child = Node(kind)
        node.items.append(child)
        return child
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let path = codingPath + [IndexKey(count)]
        try ContractJSONWriter.encode(value, into: child(), path: path)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<
        NestedKey
    > {
        let path = codingPath + [IndexKey(count)]
        return KeyedEncodingContainer(KeyedWriter<NestedKey>(node: child(.object), codingPath: path))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let path = codingPath + [IndexKey(count)]
        return UnkeyedWriter(node: child(.array), codingPath: path)
    }

    mutating func superEncoder() -> any Encoder {
        let path = codingPath + [IndexKey(count)]
        return Writer(node: child(), codingPath: path)
    }
}

private struct SingleWriter: SingleValueEncodingContainer, ScalarSink {
    let node: Node
    let codingPath: [any CodingKey]

    func put(_ bytes: [UInt8]) { node.kind = .scalar(bytes) }

    var floatPath: [any CodingKey] { codingPath }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try ContractJSONWriter.encode(value, into: node, path: codingPath)
    }
}

/// A contract body that writes its own JSON: byte for byte what `ContractJSONWriter` writes for it
/// (keys snake-cased and sorted, absent optionals left out), without an `Encoder`'s per-value
/// dispatch. For the events written thousands of times a batch; each is tested against the
/// writer. `ContractJSON.encode` uses it when a body has it.
public protocol DirectJSONWritable: Encodable {
    func writeJSON(to out: inout [UInt8])
}
