import BillingSupport

/// What `.local/stack.env` exports, for programs that run against the local stack (tests,
/// benchmarks): the PostgreSQL owner URL and port, the brokers, dev-kafka's control port and
/// the directory of the built executables.
public struct LocalStackEnvironment: Sendable {
    public let ownerURL: String
    public let bootstrapServers: String
    public let controlPort: Int
    public let pgPort: Int
    public let binDirectory: String
    public let stackScript: String?

    public static func current() throws -> LocalStackEnvironment {
        let environment = ProcessEnvironment.current()
        func need(_ name: String) throws -> String {
            guard let value = environment.optional(name) else {
                throw ConfigurationError(
                    variable: name, problem: "is not set: source .local/stack.env (Deploy/local/stack up)")
            }
            return value
        }
        func port(_ name: String) throws -> Int {
            guard let value = Int(try need(name)), (1...65535).contains(value) else {
                throw ConfigurationError(variable: name, problem: "must be a port number")
            }
            return value
        }
        return LocalStackEnvironment(
            ownerURL: try need("DATABASE_URL"), bootstrapServers: try need("KAFKA_BOOTSTRAP_SERVERS"),
            controlPort: try port("DEV_KAFKA_CONTROL_PORT"), pgPort: try port("BILLING_PG_PORT"),
            binDirectory: try need("BILLING_BIN_DIR"), stackScript: environment.optional("BILLING_STACK"))
    }

    /// A connection URL for `role` on `database` of the local cluster.
    public func url(database: String, role: String) -> String {
        "postgresql://\(role)@127.0.0.1:\(pgPort)/\(database)"
    }

    /// Sends a command to dev-kafka's control port and returns its reply; throws unless it is `ok …`.
    @discardableResult
    public func devKafka(_ command: String) throws -> String {
        guard let reply = tcpExchange(port: controlPort, request: Array((command + "\n").utf8)) else {
            throw DevKafkaError(message: "dev-kafka did not answer on control port \(controlPort)")
        }
        let text = String(decoding: reply, as: UTF8.self)
        guard text.hasPrefix("ok") else { throw DevKafkaError(message: "dev-kafka refused '\(command)': \(text)") }
        return text
    }

    public struct DevKafkaError: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }
}
