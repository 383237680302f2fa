/// A SQL statement with its parameters (`$1`, `$2`, ...), sent together but never combined into one text.
public struct PGStatement: Sendable {
    public let sql: String
    public let parameters: [PGParameter]

    public init(_ sql: String, _ parameters: [any PGParameterConvertible] = []) {
        self.sql = sql
        self.parameters = parameters.map(\.pgParameter)
    }

    public init(sql: String, parameters: [PGParameter]) {
        self.sql = sql
        self.parameters = parameters
    }
}
