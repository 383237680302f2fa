import BillingContracts
import BillingIngest
import BillingKafka
import BillingSupport
import BillingTestSupport
import Foundation
import Testing

extension Integration {
    /// Webhooks as a gateway delivers them: HTTP POSTs to gateway-relay, sent here with curl.
    @Suite("gateway-relay: webhooks into Kafka as they arrived")
    struct GatewayRelayTests {
        static let secret = "whsec_relay"

        /// POSTs `body` with curl; returns the HTTP status.
        static func post(_ port: Int, _ body: [UInt8], signature: String?, path: String = "/webhooks/stripe") throws
            -> Int
        {
            let file = NSTemporaryDirectory() + "relay-\(UUID().uuidString.prefix(8)).json"
            try Data(body).write(to: URL(fileURLWithPath: file))
            defer { try? FileManager.default.removeItem(atPath: file) }
            var arguments = [
                "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-H", "Content-Type: application/json",
                "--data-binary", "@\(file)", "http://127.0.0.1:\(port)\(path)",
            ]
            if let signature { arguments += ["-H", "Stripe-Signature: \(signature)"] }
            let result = try runProcess("/usr/bin/curl", arguments, environment: [:])
            guard let status = Int(result.output.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                throw HarnessError("curl: \(result.output)")
            }
            return status
        }

        static func startRelay(_ ledger: LedgerScenario, _ extra: [String: String] = [:]) throws -> (WorkerProcess, Int) {
            let relay = WorkerProcess(
                stack: ledger.stack, executable: "gateway-relay",
                environment: [
                    "KAFKA_BOOTSTRAP_SERVERS": ledger.stack.bootstrapServers, "BILLING_TOPIC_SUFFIX": ledger.suffix,
                    "GATEWAY_RELAY_PORT": "0", "GATEWAY_RELAY_BODY_BYTES_MAX": "65536",
                ].merging(extra) { _, new in new })
            try relay.start()
            return (relay, try relay.waitForOpsPort(logMessage: "listening"))
        }

        @Test("the Stripe fixtures posted by curl are relayed byte for byte, verified and booked; 413 over the limit")
        func fixtures() throws {
            let ledger = try LedgerScenario(ingest: true, ingestEnvironment: ["GATEWAY_WEBHOOK_SECRETS": Self.secret])
            let (relay, port) = try Self.startRelay(ledger)
            defer { _ = relay.terminate() }
            let names = try Fixtures.gatewayEvents()
            #expect(names.count >= 4)
            let now = Int64(Date().timeIntervalSince1970)
            for name in names {
                let body = try Fixtures.bytes(Fixtures.gateway(name))
                let status = try Self.post(
                    port, body,
                    signature: WebhookSignatureVerifier.header(secret: Self.secret, body: body, timestamp: now))
                #expect(status == 200, "\(name): \(status)")
            }
            try eventually(timeoutMs: 30_000, "every fixture read by payment-ingest") {
                try ledger.database.scalar("SELECT count(*) FROM ingest.gateway_events") == Int64(names.count)
            }
            #expect(try ledger.database.scalar("SELECT count(*) FROM ingest.dead_letters") == 0)
            // Byte for byte: the stored raw bodies are the files.
            for name in names {
                let body = try Fixtures.bytes(Fixtures.gateway(name))
                #expect(
                    try ledger.database.scalar("SELECT count(*) FROM ingest.gateway_events WHERE raw = $1", [body]) == 1,
                    "\(name) stored as sent")
            }
            let big = [UInt8](repeating: 0x20, count: 70_000)
            #expect(try Self.post(port, big, signature: "t=1,v1=00") == 413)
            // Unsigned: relayed all the same, and refused by payment-ingest with the reason.
            #expect(try Self.post(port, Array(#"{"id":"evt_unsigned"}"#.utf8), signature: nil) == 200)
            try eventually(timeoutMs: 30_000, "the unsigned event dead-lettered") {
                try ledger.database.scalar(
                    "SELECT count(*) FROM ingest.dead_letters WHERE reason_code = 'signature_missing'") == 1
            }
            try ledger.verify()
        }

        @Test("with the broker down the relay answers 503, so the gateway sends again; 200 once it is back")
        func brokerDown() throws {
            let ledger = try LedgerScenario()
            let (relay, port) = try Self.startRelay(ledger, ["GATEWAY_RELAY_DELIVERY_TIMEOUT_MS": "1500"])
            defer { _ = relay.terminate() }
            let body = Array(#"{"id":"evt_down","type":"customer.created","created":1,"data":{"object":{}}}"#.utf8)
            #expect(try Self.post(port, body, signature: "t=1,v1=00") == 200)
            try ledger.stack.devKafka("broker-down all")
            let whileDown: Int
            do {
                defer { _ = try? ledger.stack.devKafka("broker-up all") }
                whileDown = try Self.post(port, body, signature: "t=1,v1=00")
            }
            #expect(whileDown == 503)
            try eventually(timeoutMs: 60_000, "accepted again") {
                try Self.post(port, body, signature: "t=1,v1=00") == 200
            }
            #expect(relay.terminate() == 0)
        }

        @Test("dead letters redriven once the cause is fixed are read again and booked; a second redrive skips them")
        func redrive() throws {
            let ledger = try LedgerScenario(ingest: true)
            try ledger.openAccount("A-8502")
            try eventually(timeoutMs: 30_000, "the ingest's account copy") {
                try ledger.database.scalar("SELECT count(*) FROM ingest.accounts WHERE account_number = 'A-8502'") == 1
            }
            let body = Array(
                #"{"id":"evt_redrive","type":"payment_intent.succeeded","created":1780000000,"data":{"object":{"id":"pi_redrive","object":"payment_intent","amount":900,"amount_received":900,"currency":"eur","metadata":{"account":"A-8502"}}}}"#
                    .utf8)
            let now = Int64(Date().timeIntervalSince1970)
            let headers = [
                KafkaHeader(
                    name: "Stripe-Signature",
                    text: WebhookSignatureVerifier.header(secret: Self.secret, body: body, timestamp: now)),
                KafkaHeader(name: GatewayEventHeaders.receivedAtMs, text: String(now * 1_000)),
            ]
            try LedgerScenario.send(
                [KafkaOutgoingMessage(topic: Topics.gatewayEventsRaw.name + ledger.suffix, key: nil, value: body, headers: headers)],
                with: ledger.producer)
            try eventually(timeoutMs: 30_000, "dead-lettered: no secret configured") {
                try ledger.database.scalar(
                    "SELECT count(*) FROM ingest.dead_letters WHERE reason_code = 'gateway_not_configured'") == 1
            }
            // The cause fixed: payment-ingest restarted with the secret.
            _ = ledger.ingest?.terminate()
            let fixed = WorkerProcess(
                stack: ledger.stack, executable: "payment-ingest",
                environment: LedgerScenario.workerEnvironment(
                    ledger.stack, ledger.database, ledger.suffix, role: "billing_ingest", group: "ingest"
                ).merging(["GATEWAY_WEBHOOK_SECRETS": Self.secret]) { _, new in new })
            try fixed.start()
            defer { _ = fixed.terminate() }
            let sent = try ledger.ctl([
                "dead-letters", "redrive", "--service", "payment-ingest", "--reason-code", "gateway_not_configured",
            ])
            #expect(sent.status == 0 && sent.output.contains("sent    ingest-"), "\(sent.output)")
            try eventually(timeoutMs: 60_000, "the redriven payment posted") {
                try ledger.balance("A-8502").balanceMinor == -900
            }
            let again = try ledger.ctl([
                "dead-letters", "redrive", "--service", "payment-ingest", "--reason-code", "gateway_not_configured",
                "--json",
            ])
            #expect(again.status == 0 && again.output.contains("\"status\" : \"skipped\""), "\(again.output)")
            #expect(
                try ledger.database.scalar(
                    "SELECT count(*) FROM ingest.dead_letters WHERE redriven_by = 'tests' AND redriven_at IS NOT NULL") == 1)
            let usage = try ledger.ctl(["dead-letters", "redrive"])
            #expect(usage.status == 2, "\(usage.output)")
            try ledger.verify()
        }

        @Test("a webhook received in time and read an hour later is booked: freshness is judged at receipt")
        func readLate() throws {
            let ledger = try LedgerScenario(ingest: true, ingestEnvironment: ["GATEWAY_WEBHOOK_SECRETS": Self.secret])
            try ledger.openAccount("A-8501")
            try eventually(timeoutMs: 30_000, "the ingest's account copy") {
                try ledger.database.scalar("SELECT count(*) FROM ingest.accounts WHERE account_number = 'A-8501'") == 1
            }
            let body = Array(
                #"{"id":"evt_late","type":"payment_intent.succeeded","created":1780000000,"data":{"object":{"id":"pi_late","object":"payment_intent","amount":700,"amount_received":700,"currency":"eur","metadata":{"account":"A-8501"}}}}"#
                    .utf8)
            let signedAt = Int64(Date().timeIntervalSince1970) - 3_600
            let headers = [
                KafkaHeader(
                    name: "Stripe-Signature",
                    text: WebhookSignatureVerifier.header(secret: Self.secret, body: body, timestamp: signedAt)),
                KafkaHeader(name: GatewayEventHeaders.receivedAtMs, text: String((signedAt + 2) * 1_000)),
            ]
            try LedgerScenario.send(
                [KafkaOutgoingMessage(topic: Topics.gatewayEventsRaw.name + ledger.suffix, key: nil, value: body, headers: headers)],
                with: ledger.producer)
            // Before: judged against the time it was read (an hour after signing), it was refused as expired.
            try eventually(timeoutMs: 30_000, "the late-read payment posted") {
                try ledger.balance("A-8501").balanceMinor == -700
            }
            #expect(try ledger.database.scalar("SELECT count(*) FROM ingest.dead_letters") == 0)
            try ledger.verify()
        }
    }
}
