import BillingContracts
import BillingKafka

extension KafkaOutgoingMessage {
    /// `event` as a Kafka record in the CloudEvents binary mode: its body as the value, its
    /// attributes as `ce_*` headers; keyed by `key` (or placed on `partition` when given).
    public init(topic: String, key: String?, event: CloudEvent, partition: Int32? = nil) {
        self.init(
            topic: topic, key: key.map { Array($0.utf8) }, value: event.data,
            headers: event.headerPairs.map { KafkaHeader(name: $0.name, text: $0.value) }, partition: partition)
    }
}
