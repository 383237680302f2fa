import CRdKafka

/// An error reported by librdkafka, with its stable code and name.
public struct KafkaError: Error, CustomStringConvertible, Sendable {
    public let code: Int32
    public let name: String
    public let message: String
    /// librdkafka raised a fatal error: the client instance must be recreated.
    public let isFatal: Bool

    public init(code: rd_kafka_resp_err_t, message: String? = nil, isFatal: Bool = false) {
        self.code = code.rawValue
        self.name = String(cString: rd_kafka_err2name(code))
        self.message = message ?? String(cString: rd_kafka_err2str(code))
        self.isFatal = isFatal
    }

    public init(configuration message: String) {
        self.code = RD_KAFKA_RESP_ERR__INVALID_ARG.rawValue
        self.name = "_INVALID_ARG"
        self.message = message
        self.isFatal = false
    }

    public var description: String { "Kafka \(name): \(message)" }

    public var responseError: rd_kafka_resp_err_t { rd_kafka_resp_err_t(rawValue: code) }
}
