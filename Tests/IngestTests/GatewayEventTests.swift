import BillingIngest
import Foundation
import Testing

@Suite("gateway events to movements")
struct GatewayEventTests {
    func event(_ file: String) throws -> GatewayEvent {
        try GatewayEvent.parse(
            [UInt8](
                try Data(contentsOf: URL(fileURLWithPath: WebhookSignatureTests.gateway).appendingPathComponent(file))))
    }

    @Test("a succeeded payment intent is a payment of the amount received, on the event's day")
    func paymentIntent() throws {
        let succeeded = try event("lago-stripe-payment_intent.succeeded.json")
        #expect(succeeded.id == "evt_3RTkpYQ8iJWBZFaM1G1JtOIT")
        let movements = try GatewayEventMapper.movements(succeeded, accountKeys: ["lago_customer_id"])
        guard case .payment(let id, let amount, let currency, let day, let clues) = movements.first else {
            Issue.record("not a payment: \(movements)")
            return
        }
        #expect(id == "GW-pi_3RTkpYQ8iJWBZFaM1LBHNo0J" && amount == 4_620 && currency == "EUR" && day == "2025-05-28")
        #expect(
            clues.statedAccount == "1342ce9f-c8cb-4b16-b9d4-7add8ec0cf5d",
            "the configured metadata key names the account")
    }

    @Test("a dispute with funds withdrawn is a chargeback of the payment, with its fee; an inquiry moves nothing")
    func disputes() throws {
        let withdrawn = try GatewayEventMapper.movements(
            try event("lago-stripe-2020-charge.dispute.created.json"), accountKeys: [])
        #expect(
            withdrawn == [
                .reversal(
                    reversalID: "GW-DW-dp_1OzgpEH4tiDZlIUaZ8iWQMsb", paymentID: "GW-pi_3OzgpDH4tiDZlIUa0Ezzggtg",
                    amountMinor: 4_516, currency: "USD", on: "2024-03-29", reason: "chargeback: fraudulent"),
                .fee(amountMinor: 2_000, currency: "USD"),
            ])
        let inquiry = try GatewayEventMapper.movements(
            try event("lago-stripe-2025-charge.dispute.created.json"), accountKeys: [])
        guard case .nothing(let why) = inquiry.first, inquiry.count == 1 else {
            Issue.record("an inquiry must move nothing: \(inquiry)")
            return
        }
        #expect(why.contains("no money"))
    }

    @Test("a refund through the gateway reverses the charge's payment; the old array form is read")
    func refund() throws {
        let refunded = try event("stripe-mock-data-2015-charge.refunded.json")
        #expect(refunded.type == "charge.refunded")
        #expect(
            try GatewayEventMapper.movements(refunded, accountKeys: []) == [
                .reversal(
                    reversalID: "GW-re_00000000000000", paymentID: "GW-ch_00000000000000", amountMinor: 212,
                    currency: "USD", on: "2015-10-05", reason: "refund")
            ])
    }

    @Test("malformed events, unknown currencies and non-positive amounts are refused")
    func refusals() {
        #expect(throws: StatementFileError.self) { try GatewayEvent.parse(Array("{\"id\": 1}".utf8)) }
        let body =
            #"{"id":"evt_1","type":"payment_intent.succeeded","created":1700000000,"data":{"object":{"id":"pi_1","object":"payment_intent","amount_received":0,"currency":"xxx"}}}"#
        #expect(throws: StatementFileError.self) {
            try GatewayEventMapper.movements(try GatewayEvent.parse(Array(body.utf8)), accountKeys: [])
        }
    }
}
