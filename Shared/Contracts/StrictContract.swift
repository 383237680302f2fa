import FoundationEssentials

/// A command body whose unknown fields are refused, not ignored: a misspelt `due_date` must not
/// post an invoice with a computed due date the sender did not ask for.
///
/// A conforming type lists its fields through a `CaseIterable` `CodingKeys` enum (the one the
/// synthesized `Decodable` uses) and names the fields that hold other strict objects, alone or in
/// arrays, so that their keys are checked too.
public protocol StrictContract: Decodable {
    associatedtype CodingKeys: CodingKey & CaseIterable
    /// Fields (by their Swift name) holding a strict object or an array of them.
    static var nestedContracts: [String: any StrictContract.Type] { get }
}

extension StrictContract {
    public static var nestedContracts: [String: any StrictContract.Type] { [:] }

    static var fieldNames: Set<String> { Set(CodingKeys.allCases.map(\.stringValue)) }
}

extension ContractJSON {
    /// Decodes `T` from contract JSON after checking that every object in it has only known fields.
    /// Throws `DecodingError.dataCorrupted` naming the first unknown field (in snake_case).
    public static func decodeStrict<T: StrictContract>(_ type: T.Type, from data: Data) throws -> T {
        let decoder = decoder()
        _ = try decoder.decode(KnownFields<T>.self, from: data)
        return try decoder.decode(T.self, from: data)
    }

    /// Decodes an array of `T`, each element checked as `decodeStrict` checks one.
    public static func decodeStrictArray<T: StrictContract>(_ type: T.Type, from data: Data) throws -> [T] {
        let decoder = decoder()
        _ = try decoder.decode([KnownFields<T>].self, from: data)
        return try decoder.decode([T].self, from: data)
    }
}

/// Reads only the keys of a `T` object (and of its nested strict objects) and refuses unknown ones.
private struct KnownFields<T: StrictContract>: Decodable {
    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        // A value that is not an object is left to T's own decoding to describe.
        guard let container = try? decoder.container(keyedBy: AnyKey.self) else { return }
        let known = T.fieldNames
        for key in container.allKeys.sorted(by: { $0.stringValue < $1.stringValue }) {
            guard known.contains(key.stringValue) else {
                throw DecodingError.dataCorrupted(
                    DecodingError.Context(
                        codingPath: container.codingPath + [key],
                        debugDescription: "unknown field \(ContractJSON.snakeCase(key.stringValue))"))
            }
            if let nested = T.nestedContracts[key.stringValue] {
                try Self.check(nested, in: container, key: key)
            }
        }
    }

    private static func check<N: StrictContract>(
        _ nested: N.Type, in container: KeyedDecodingContainer<AnyKey>, key: AnyKey
    ) throws {
        if try container.decodeNil(forKey: key) { return }
        if var array = try? container.nestedUnkeyedContainer(forKey: key) {
            while !array.isAtEnd { _ = try array.decode(KnownFields<N>.self) }
        } else {
            _ = try container.decode(KnownFields<N>.self, forKey: key)
        }
    }
}

extension ContractJSON {
    /// `dueOn` → `due_on`: a Swift field name as the sender writes it.
    public static func snakeCase(_ name: String) -> String {
        var result = ""
        for character in name {
            if character.isUppercase {
                result += "_" + character.lowercased()
            } else {
                result.append(character)
            }
        }
        return result
    }
}
