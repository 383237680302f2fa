/// A SQL statement with its parameters (`$1`, `$2`, ...), sent together but never combined into one text.
///
/// A statement marked `prepared` is parsed (and, once PostgreSQL finds a generic plan as good as
/// the custom ones, planned) once per connection and then executed by name: for the statements a
/// worker sends in every batch, whose text never changes and whose parameters are arrays.
public struct PGStatement: Sendable {
    public let sql: String
    public let parameters: [PGParameter]
    public let prepared: Bool

    public init(_ sql: String, _ parameters: [any PGParameterConvertible] = [], prepared: Bool = false) {
        self.sql = sql
        self.parameters = parameters.map(\.pgParameter)
        self.prepared = prepared
    }

    public init(sql: String, parameters: [PGParameter], prepared: Bool = false) {
        self.sql = sql
        self.parameters = parameters
        self.prepared = prepared
    }
}
